import SwiftletABI
import SwiftletUser
import UserPlatform

/// Mixed argument distributions: raw calls (any slot, boundary values, addresses in this task's space,
/// tag- and item-shaped words, random 64-bit values) and calls aimed at what the fuzzer holds, with
/// hostile values in them (flexpages ending at or past 2^64, huge orders, counts near 2^64, port ranges
/// past 65535, windows over the UTCB).
struct Generator {
    var random: XorShift64Star

    static let boundaries: InlineArray<24, UInt64> = [
        0, 1, 2, 3, 0xFF, 0x100, 0x101, 0xFFF, 0x1000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x0000_7FFF_FFFF_F000, 0x0000_8000_0000_0000, 0xFFFF_8000_0000_0000, 0xFFFF_FFFF_8000_0000,
        1 << 40, (1 << 40) + 1, 1 << 48, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, UInt64.max - 1, UInt64.max,
    ]

    mutating func boundary() -> UInt64 {
        Generator.boundaries[Int(random.next(below: UInt64(Generator.boundaries.count)))]
    }

    mutating func below(_ bound: UInt64) -> UInt64 { random.next(below: bound) }
    mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool { random.chance(numerator, in: denominator) }

    mutating func selector() -> UInt64 {
        switch below(16) {
        case 0..<6: return below(10)
        case 6..<9: return below(32)
        case 9..<11: return below(256)
        case 11..<13: return boundary()
        default: return random.next()
        }
    }

    mutating func operation() -> UInt64 {
        switch below(16) {
        case 0..<8: return below(8)
        case 8..<11: return MessageTag(label: below(4), words: Int(below(70)), items: Int(below(4))).raw
        case 11..<13: return boundary()
        default: return random.next()
        }
    }

    mutating func address() -> UInt64 {
        let base: UInt64
        switch below(8) {
        case 0: base = 0x40_0000
        case 1: base = TaskLayout.utcb
        case 2: base = TaskLayout.stackTop - TaskLayout.stackPages * 4096
        case 3: base = user_thread_pages()
        case 4: base = FuzzLayout.playground
        case 5: base = FuzzLayout.childRegion
        case 6: base = 0x1000_0000
        default: base = 0x0000_7FFF_FFFF_0000
        }
        return base + below(8) * 4096 + (chance(1, in: 4) ? below(4096) : 0)
    }

    mutating func word() -> UInt64 {
        switch below(16) {
        case 0..<2: return below(32)
        case 2..<4: return below(300)
        case 4..<7: return address()
        case 7..<10: return boundary()
        case 10..<12: return below(4) | below(0x100) << 8
        default: return random.next()
        }
    }

    /// IPC never blocks the fuzzer: timeout zero, or one the kernel must reject.
    mutating func timeout(for number: UInt64) -> UInt64 {
        guard number >= Syscall.call.rawValue && number <= Syscall.wait.rawValue else { return word() }
        if chance(3, in: 4) { return 0 }
        return badTimeout + below(UInt64.max - 1 - badTimeout)
    }

    mutating func raw() -> RawCall {
        var c = RawCall()
        c.number = chance(1, in: 64) ? boundary() : below(Syscall.count + 1)
        c.rdi = selector()
        c.rsi = operation()
        c.rdx = word()
        c.r10 = word()
        c.r8 = word()
        c.r9 = word()
        c.r12 = timeout(for: c.number)
        return c
    }

    // MARK: Aimed values

    /// A playground page's address (sometimes one of the unmapped pages above the heap).
    mutating func playgroundPage() -> UInt64 {
        FuzzLayout.playground + below(UInt64(FuzzLayout.playgroundPages)) * 4096
    }

    /// A page the fuzzer may pass on: mostly the playground, sometimes the reserve, the text page, the UTCB.
    mutating func sourcePage() -> UInt64 {
        switch below(8) {
        case 0: return FuzzLayout.reserve + below(UInt64(FuzzLayout.reservePages)) * 4096
        case 1: return chance(1, in: 2) ? FuzzLayout.textPage : FuzzLayout.mainUTCB
        default: return playgroundPage()
        }
    }

    /// A flexpage inside the playground (order 12-15, aligned), or a hostile one.
    mutating func flexpage(rights: UInt64, hostile: Bool) -> UInt64 {
        if hostile {
            if Fuzz.avoidKnownHoles { return FuzzLayout.playground | 12 << 4 | rights }
            switch below(8) {
            case 0: return 0xFFFF_FFFF_FFFF_F000 | 12 << 4 | rights                     // ends at 2^64
            case 1: return 0xFFFF_FFFF_FFFF_0000 | 16 << 4 | rights
            case 2: return UInt64(below(64)) << 4 | rights                              // any order at 0
            case 3: return (random.next() & ~0xFFF) | below(64) << 4 | rights          // anything
            case 4: return userSpaceEnd - 4096 | 12 << 4 | rights                       // the top page
            case 5: return FuzzLayout.mainUTCB | 12 << 4 | rights                       // the UTCB
            case 6: return (1 << 47) | 47 << 4 | rights                                 // order 47 at 2^47
            default: return playgroundPage() | (13 + below(3)) << 4 | rights            // maybe unaligned
            }
        }
        let order = 12 + below(4)
        let size: UInt64 = 1 << order
        let base = FuzzLayout.playground + (below(UInt64(FuzzLayout.playgroundMapped) * 4096 / size)) * size
        return base | order << 4 | rights
    }

    /// Item rights: read and maybe more (an item without read is raw calls' business).
    mutating func pageRights() -> UInt64 {
        1 | below(8) & 6
    }
}

/// Keeps the fuzzer from blocking itself, printing, powering off, destroying what it runs on (its code,
/// stacks, UTCBs: `unmapOwn` only inside the playground) or touching the protected
/// slots; a running thread of its own keeps the fuzzer's priority so its state stays predictable.
func sanitize(_ c: inout RawCall, _ world: FuzzWorld, plannedWorker: Bool = false) {
    if Slot.protected.contains(c.rdi) { c.rdi -= 128 }
    switch c.number {
    case Syscall.debugWrite.rawValue:
        if c.rsi & ~Syscall.debugWriteContinues <= UInt64(Syscall.debugWriteChunk) { c.rsi = Syscall.debugWriteContinues }
    case Syscall.threadControl.rawValue:
        // Only the worker entry the generator prepared a start record for (`threadOperation`).
        if c.rsi == ThreadOperation.setEntry.rawValue && c.rdx < userSpaceEnd && !plannedWorker { c.rdx = 0 }
        // An exception handler or pager is named by selector too (a priority there stays out of range).
        if Slot.protected.contains(c.rdx) { c.rdx -= 128 }
        if case .success(let found) = world.lookup(c.rdi, .thread, .control), found.object != SlotModel.unknown {
            let thread = world.threads[Int(found.object)]
            if c.rsi == ThreadOperation.setPriority.rawValue && thread.runs && c.rdx <= 255 { c.rdx = UInt64(Fuzz.priority) }
            if c.rsi == ThreadOperation.start.rawValue && thread.vcpu { c.rsi = ThreadOperation.readState.rawValue }
            // A worker reads its UTCB (the start record on its first entry, its messages after): without one
            // it would fault (seed 0x38ef790189ccc892: a worker stopped by a revoked UTCB, started again).
            if c.rsi == ThreadOperation.start.rawValue && thread.runs && thread.utcbPage < 0 {
                c.rsi = ThreadOperation.readState.rawValue
            }
        } else if c.rsi == ThreadOperation.start.rawValue {
            c.rsi = ThreadOperation.readState.rawValue
        }
    case Syscall.taskControl.rawValue, Syscall.portControl.rawValue:
        if Slot.protected.contains(c.rdx) { c.rdx -= 128 }
        if Slot.protected.contains(c.r10) { c.r10 -= 128 }
    case Syscall.create.rawValue, Syscall.capabilityControl.rawValue:
        // Destroy with the right only what the fuzzer made and the model follows: the rest is the world
        // the fuzzing runs on (its task, threads, partner, the endpoints and factories of slots 1-26).
        if c.number == Syscall.capabilityControl.rawValue && c.rsi == CapabilityOperation.destroy.rawValue,
           case .success(let found) = world.slot(c.rdi), Rights(rawValue: found.rights).contains(.destroy), !world.destroyable(found) {
            c.rsi = CapabilityOperation.identify.rawValue
        }
        // Deleting the last capability of what the fuzzer made would keep its quota for good: destroy it.
        if c.number == Syscall.capabilityControl.rawValue && c.rsi == CapabilityOperation.delete.rawValue,
           case .success(let found) = world.slot(c.rdi), Rights(rawValue: found.rights).contains(.destroy),
           world.destroyable(found), world.onlyCapability(found) {
            c.rsi = CapabilityOperation.destroy.rawValue
        }
        // Destination slots too: the fuzzer keeps copies of its children and workers in protected slots.
        if Slot.protected.contains(c.rdx) { c.rdx -= 128 }
        // And a thread's task or a vCPU's VM (R10 of create; a count elsewhere, where any value will do).
        if c.number == Syscall.create.rawValue && Slot.protected.contains(c.r10) { c.r10 -= 128 }
    case Syscall.unmap.rawValue:
        let page = Flexpage(raw: c.rdi)
        let inPlayground = page.isValid && page.base >= FuzzLayout.playground
            && page.base < FuzzLayout.playground + UInt64(FuzzLayout.playgroundPages) * 4096
            && page.size <= FuzzLayout.playground + UInt64(FuzzLayout.playgroundPages) * 4096 - page.base
        // Not the main thread's UTCB either: revoking it stops that thread (which collects the results).
        if !inPlayground && page.isValid && page.base < userSpaceEnd { c.rsi &= ~Syscall.unmapOwn }
    case Syscall.call.rawValue, Syscall.send.rawValue, Syscall.replyWait.rawValue, Syscall.reply.rawValue:
        if Fuzz.avoidKnownHoles { avoidTopFlexpages(&c) }
        keepGrantsInPlayground(&c)
        keepCapabilityItemsUnprotected(&c)
    case Syscall.machineControl.rawValue:
        if c.rsi == MachineOperation.powerOff.rawValue { c.rsi = 0 }
    default:
        break
    }
}

/// Development only (`Fuzz.avoidKnownHoles`): map and grant items whose send flexpage ends past user space
/// become items of nothing, so a run gets past the known panic to what lies behind it.
func avoidTopFlexpages(_ c: inout RawCall) {
    let tag = MessageTag(raw: c.rsi)
    guard tag.isValid else { return }
    for item in 0..<tag.items {
        let index = tag.words + 2 * item + 1
        let page = Flexpage(raw: messageWord(c, index))
        if page.order < 64, page.base >= userSpaceEnd || page.size > userSpaceEnd - page.base { setMessageWord(&c, index, 0) }
    }
}

/// A grant moves the sender's pages: the partner's window may only take pages of the playground (a grant
/// of the fuzzer's code or stack would end the fuzzing, not test the kernel). Other grant items become
/// items of kind 0, which the kernel refuses.
func keepGrantsInPlayground(_ c: inout RawCall) {
    let tag = MessageTag(raw: c.rsi)
    guard tag.isValid else { return }
    for item in 0..<tag.items {
        let index = tag.words + 2 * item
        let kind = messageWord(c, index)
        guard kind & 0xFF == TypedItem.grantKind, !grantStaysInPlayground(kind: kind, value: messageWord(c, index + 1),
                                                                            window: Partner.utcb.receiveWindow) else { continue }
        setMessageWord(&c, index, kind & ~0xFF)
    }
}

/// Capability items never pass on what the protected slots hold (the model does not follow them, and a
/// copy in reach would let the fuzzer stop the threads it runs on).
func keepCapabilityItemsUnprotected(_ c: inout RawCall) {
    let tag = MessageTag(raw: c.rsi)
    guard tag.isValid else { return }
    for item in 0..<tag.items {
        let index = tag.words + 2 * item
        let selector = messageWord(c, index + 1)
        if messageWord(c, index) & 0xFF == TypedItem.capabilityKind && Slot.protected.contains(selector) {
            setMessageWord(&c, index + 1, selector - 128)
        }
    }
}

func grantStaysInPlayground(kind: UInt64, value: UInt64, window: Flexpage) -> Bool {
    guard let placement = MemoryPlacement(send: Flexpage(raw: value), window: window, hotSpot: kind) else { return true }
    let start = FuzzLayout.playground, end = FuzzLayout.playground + UInt64(FuzzLayout.playgroundPages) * 4096
    return placement.source >= start && placement.source < end && placement.pages <= (end - placement.source) / 4096
}

func messageWord(_ c: RawCall, _ index: Int) -> UInt64 {
    switch index {
    case 0: return c.rdx
    case 1: return c.r10
    case 2: return c.r8
    case 3: return c.r9
    default: return index < 64 ? fuzzerUTCB[register: index] : 0
    }
}

func setMessageWord(_ c: inout RawCall, _ index: Int, _ value: UInt64) {
    switch index {
    case 0: c.rdx = value
    case 1: c.r10 = value
    case 2: c.r8 = value
    case 3: c.r9 = value
    default: if index < 64 { fuzzerUTCB[register: index] = value }
    }
}
