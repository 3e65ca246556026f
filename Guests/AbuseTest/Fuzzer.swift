import SwiftletABI
import SwiftletUser
import UserPlatform

/// The seeded fuzzer: raw system calls with mixed argument distributions, and calls aimed at what it
/// holds — IPC with its partner carrying capability, map and grant items, mapPages into tasks it created,
/// unmap with and without `unmapOwn`, readMapping, threads it creates and starts — each judged by the
/// model (`FuzzWorld`). Console: `fuzz: ...` lines with the figures, `fuzz: UNEXPECTED ...` per mismatch.
enum Fuzz {
    /// The regression seed; a fresh one comes in the task's image parameters (see `TaskParameters`).
    static let seed: UInt64 = 0x5EED_0F_AB05_E001
    static let calls = 100_000
    /// Frames of the fuzzer's own factory (slot 3 while it runs).
    static let factoryFrames: UInt64 = 48
    /// Every this many calls the fuzzer gets fresh copies of its targets in slots 1-9 and 23-26.
    static let refreshInterval = 500
    static let echoesAfter: UInt64 = 1_000
    static let burst = 8
    static let pause: UInt64 = 1_000
    static let priority: UInt8 = 90
    /// Unexpected results printed in full (all are counted).
    static let printLimit: UInt64 = 20
    /// Development only: leave out the cases that hit holes known and being fixed (a send flexpage ending
    /// at or past 2^64 panics the kernel). Must stay false: the fuzzer is there to hit them.
    static let avoidKnownHoles = false
    /// Diagnostics: from this call on, every page the model is sure of is read back after each call, so the
    /// first call after which the kernel and the model disagree is the one reported (a mismatch seen later
    /// may stem from a call long before). Int.max: off (it costs hundreds of calls per call).
    static let auditFrom = Int.max
    /// Diagnostics: every call after which this model page changed (mapped, rights, parent) is logged with
    /// the page's lineage; -1: off.
    static let tracePage = -1
}

/// What the fuzzer keeps beside the model: its UTCB, its started threads, the figures.
struct FuzzContext {
    let utcb: UTCB
    var unexpected: UInt64 = 0
    var extra = InlineArray<4, Mismatch>(repeating: Mismatch(what: "", expected: 0, got: 0))
    var extraCount = 0
    /// The thread (model index) the generator is giving the worker entry; -1 otherwise. Its stack, and
    /// the endpoint it is to serve.
    var plannedWorker = -1
    var plannedStack = 0
    var plannedServes = FuzzWorld.workerEndpoint
    var destroys = DestroyFigures()

    init(utcb: UTCB) {
        self.utcb = utcb
    }

    mutating func mismatch(_ found: Mismatch) {
        if extraCount < 4 { extra[extraCount] = found }
        extraCount += 1
    }

    func messageRegister(_ c: RawCall, _ index: Int) -> UInt64 {
        switch index {
        case 0: return c.rdx
        case 1: return c.r10
        case 2: return c.r8
        case 3: return c.r9
        default: return index < 64 ? utcb[register: index] : 0
        }
    }

    /// Transfers the model could not predict in full, after which it read every page back.
    var resyncs: UInt64 = 0
    /// Started workers at the fuzzer's priority: after a settle each waits on the workers endpoint.
    var workerCount = 0

    /// The rights `task` (selector) holds at `address`, from the kernel.
    func readRights(_ task: UInt64, _ address: UInt64) -> UInt64 {
        let registers = perform(RawCall(number: Syscall.taskControl.rawValue, rdi: task, rsi: TaskOperation.readMapping.rawValue, rdx: address))
        return registers.rax == 0 ? registers.rdx : 0
    }

    /// Lets every started worker run until it waits again (they run at the fuzzer's priority).
    mutating func settle(_ world: inout FuzzWorld) {
        workerCount = 0
        for index in 0..<world.threadCount where world.threads[index].runs && world.threads[index].state != ThreadStateCode.stopped.rawValue
            && world.threads[index].state != ThreadStateCode.inactive.rawValue {
            if world.threads[index].priority == Fuzz.priority {
                world.threads[index].state = ThreadStateCode.receiving.rawValue
                workerCount += 1
            }
        }
        var rounds = 0
        while rounds < 64 && !allSettled(world) {
            SystemCall.yield()
            rounds += 1
        }
    }

    func allSettled(_ world: FuzzWorld) -> Bool {
        for index in 0..<world.threadCount where world.threads[index].runs && world.threads[index].state == ThreadStateCode.receiving.rawValue {
            let slot = FuzzContext.workerSlots[index]
            guard slot != 0 else { continue }
            let registers = perform(RawCall(number: Syscall.threadControl.rawValue, rdi: slot, rsi: ThreadOperation.readState.rawValue))
            if registers.rdx != ThreadStateCode.receiving.rawValue { return false }
        }
        return true
    }

    /// Protected slots (outside the fuzzer's reach after `sanitize`) naming the workers, by model index; 0: none.
    nonisolated(unsafe) static var workerSlots = InlineArray<48, UInt64>(repeating: 0)

    /// The selector through which the kernel can be asked about model page `index`, and its address.
    func probe(_ world: FuzzWorld, _ index: Int) -> (selector: UInt64, address: UInt64)? {
        if index < PageIndex.ownCount { return (Slot.task, PageIndex.ownAddress(index)) }
        let region = (index - PageIndex.ownCount) / FuzzLayout.childPages
        let page = (index - PageIndex.ownCount) % FuzzLayout.childPages
        guard region < world.regionsUsed else { return nil }
        return (Slot.childCopies + UInt64(region), FuzzLayout.childRegion + UInt64(page) * 4096)
    }

    /// Takes the kernel's word for page `index`: a page that differs from the model floats from then on.
    /// Reports the difference unless the page already floated or `silent`.
    mutating func compare(_ world: inout FuzzWorld, _ index: Int, silent: Bool) {
        guard let (selector, address) = probe(world, index) else { return }
        let got = readRights(selector, address)
        let expected = world.pages[index].mapped ? UInt64(world.pages[index].rights) : 0
        guard got != expected else { return }
        if !silent && !world.isFloating(index) {
            mismatch(Mismatch(what: "page rights", expected: expected, got: got, at: address))
            if unexpected < Fuzz.printLimit {
                log("fuzz:   model page \(index) (at \(hex: address)): pinned \(world.pages[index].pinned ? 1 : 0), \(world.lineage(index))")
            }
        }
        world.takeKernelWord(index, rights: got)
    }

    /// Every page the model is sure of (not floating), compared with the kernel; a difference is reported.
    /// And the model's own rule: a mapped page derives from a mapped one (the kernel revokes children with
    /// their parent, and a grant takes them along), so a link to an unmapped page is stale.
    mutating func audit(_ world: inout FuzzWorld) {
        let end = PageIndex.ownCount + world.regionsUsed * FuzzLayout.childPages
        for index in 0..<end where !world.isFloating(index) { compare(&world, index, silent: false) }
        for index in 0..<PageIndex.count where world.pages[index].mapped && world.pages[index].parent >= 0
            && !world.pages[Int(world.pages[index].parent)].mapped {
            mismatch(Mismatch(what: "model: a mapped page whose parent page is unmapped (page | parent << 32)", expected: 0,
                              got: UInt64(index) | UInt64(world.pages[index].parent) << 32))
        }
    }

    /// After a call the model could not predict every effect of: every page it follows, from the kernel.
    mutating func resync(_ world: inout FuzzWorld) {
        let end = PageIndex.ownCount + world.regionsUsed * FuzzLayout.childPages
        for index in 0..<end { compare(&world, index, silent: true) }
    }

    /// The pages of a receive window, checked against the model (a transfer into it has just happened).
    mutating func checkWindow(_ world: inout FuzzWorld, _ window: Flexpage) {
        guard window.isValid else { return }
        var page: UInt64 = 0
        while page < window.pages && page < 64 {
            if let index = PageIndex.own(window.base &+ page * 4096) { compare(&world, index, silent: false) }
            page += 1
        }
    }

    /// Floating pages of the child regions: a revocation may have taken them (and refunded their nodes).
    mutating func refloatChildren(_ world: inout FuzzWorld) {
        let end = PageIndex.ownCount + world.regionsUsed * FuzzLayout.childPages
        for index in PageIndex.ownCount..<end where world.pages[index].floating { compare(&world, index, silent: true) }
    }

    /// A thread's UTCB on a floating page may have gone with a revocation the model could not see, and its
    /// thread stopped with it: asked after every call, so the next call on the thread is judged right.
    mutating func checkFloatingPins(_ world: inout FuzzWorld) {
        for thread in 0..<world.threadCount {
            let page = Int(world.threads[thread].utcbPage)
            if page >= 0 && world.isFloating(page) { compare(&world, page, silent: true) }
        }
    }

    /// Floating pages may have gone with a revocation the model could not see: ask again.
    mutating func refloat(_ world: inout FuzzWorld) {
        guard world.anyFloating else { return }
        for index in 0..<PageIndex.count where world.pages[index].floating { compare(&world, index, silent: true) }
    }
}

extension Generator {
    /// A call aimed at what the fuzzer holds (the model says which objects and pages there are).
    mutating func aimed(_ world: FuzzWorld, _ context: inout FuzzContext) -> RawCall {
        var c = RawCall()
        switch below(20) {
        case 0..<6: partnerMessage(&c, context)
        case 6..<9:
            // mapPages: from a page the fuzzer may pass on, into a child task's region or its own playground.
            c.number = Syscall.taskControl.rawValue
            c.rsi = TaskOperation.mapPages.rawValue
            c.rdi = chance(1, in: 4) ? 1 : chance(2, in: 3) ? FuzzLayout.child : 27 + below(5)
            // Often a task of the fuzzer's whose region the model follows: destroying it revokes these.
            if chance(1, in: 3), let task = regionTask(world) { c.rdi = task }
            c.rdx = sourcePage()
            // A task whose region the model follows only ever gets pages there (elsewhere it would need page
            // tables and nodes the model cannot count, and its factory's quota would no longer be known).
            var modeled = c.rdi == FuzzLayout.child
            if case .success(let found) = world.lookup(c.rdi, .task, .control), found.object != SlotModel.unknown,
               world.tasks[Int(found.object)].region >= 0 { modeled = true }
            let own = c.rdi == 1 || (!modeled && chance(1, in: 4))
            c.r8 = chance(1, in: 8) && !modeled ? boundary() : 1 + below(4)
            // All of it inside the region, for the same reason.
            let room = UInt64(FuzzLayout.childPages) - (modeled ? c.r8 - 1 : 0)
            c.r10 = own ? playgroundPage() : FuzzLayout.childRegion + below(room) * 4096
            c.r9 = chance(1, in: 16) ? below(8) : below(3)
            if chance(1, in: 8) { c.rdx = boundary() & ~0xFFF }
        case 9..<11:
            c.number = Syscall.unmap.rawValue
            c.rdi = flexpage(rights: chance(3, in: 4) ? 7 : below(8), hostile: chance(1, in: 4))
            c.rsi = chance(1, in: 2) ? Syscall.unmapOwn : (chance(1, in: 16) ? boundary() : 0)
        case 11..<13:
            c.number = Syscall.taskControl.rawValue
            c.rsi = TaskOperation.readMapping.rawValue
            c.rdi = chance(1, in: 3) ? 1 : chance(2, in: 3) ? FuzzLayout.child : 27 + below(5)
            c.rdx = chance(1, in: 2) ? playgroundPage() : FuzzLayout.childRegion + below(UInt64(FuzzLayout.childPages)) * 4096
            if chance(1, in: 16) { c.rdx = boundary() }
        case 13..<15:
            // create: tasks and threads land in slots 27-40, where the aimed calls look for them.
            c.number = Syscall.create.rawValue
            // Sometimes from a factory made here, so destroying that one takes objects with it.
            c.rdi = chance(1, in: 8) ? 16 + below(8) : 3
            if chance(1, in: 4), let factory = held(world, .factory, .control) { c.rdi = factory }
            c.rdx = 27 + below(14)
            switch below(8) {
            case 0: c.rsi = UInt64(ObjectType.task.rawValue)
            case 1: c.rsi = UInt64(ObjectType.endpoint.rawValue)
            case 2: c.rsi = UInt64(ObjectType.factory.rawValue); c.r10 = chance(1, in: 8) ? boundary() : below(6)
            case 3: c.rsi = UInt64(ObjectType.virtualMachine.rawValue)
            case 4: c.rsi = UInt64(ObjectType.virtualCPU.rawValue); c.r10 = 27 + below(14); c.r8 = below(100)
            default:
                c.rsi = UInt64(ObjectType.thread.rawValue)
                c.r10 = chance(1, in: 2) ? 1 : 27 + below(14)
                c.r8 = chance(3, in: 4) ? UInt64(Fuzz.priority) : below(120)
                c.r9 = chance(1, in: 2) ? playgroundPage() : FuzzLayout.childRegion + below(UInt64(FuzzLayout.childPages)) * 4096
                // Now and then in a child task whose region has a writable page for the UTCB: destroying
                // the task takes the thread with it.
                if chance(1, in: 4), let task = held(world, .task, .control), let utcb = freeUTCB(world, task) {
                    c.r10 = task
                    c.r9 = utcb
                } else if chance(1, in: 2), c.r10 == 1, let utcb = freeUTCB(world, 1) {
                    c.r9 = utcb
                }
            }
            if c.rdi == 3 && c.rsi == UInt64(ObjectType.factory.rawValue) && c.r10 > 8 { c.r10 = below(8) }
        case 15..<17:
            threadOperation(&c, world, &context)
        case 17:
            c.number = Syscall.portControl.rawValue
            c.rdi = chance(1, in: 2) ? 1 : 27 + below(5)
            c.rsi = 1 + below(3)
            c.rdx = chance(1, in: 2) ? below(0x10000) : boundary()
            c.r10 = chance(1, in: 2) ? 1 + below(16) : (chance(1, in: 2) ? 0x10000 &- c.rdx &+ below(3) : boundary())
        case 18:
            c.number = chance(1, in: 2) ? Syscall.memoryControl.rawValue : Syscall.interruptControl.rawValue
            c.rdi = selector()
            c.rsi = below(5)
            c.rdx = chance(1, in: 2) ? 0x10_0000 : boundary()
            c.r10 = chance(1, in: 2) ? 1 + below(4) : boundary()
        default:
            c.number = Syscall.capabilityControl.rawValue
            c.rsi = 1 + below(3)
            c.rdi = below(41)
            // Destroy, mostly of what the creates above put in slots 27-40 (so their quota comes back).
            // With none there, a slot there is emptied for the next create.
            if chance(1, in: 2) {
                c.rsi = CapabilityOperation.destroy.rawValue
                if chance(7, in: 8) {
                    if let target = destroyTarget(world) { c.rdi = target } else {
                        c.rsi = CapabilityOperation.delete.rawValue
                        c.rdi = 27 + below(14)
                    }
                }
            }
            c.rdx = 1 + below(40)
            c.r10 = chance(3, in: 4) ? below(16) : boundary()
            c.r8 = chance(1, in: 2) ? 0 : below(1 << 20)
        }
        return c
    }

    /// A slot of 27-40 naming something the fuzzer may destroy, if one does; half the time an endpoint a
    /// worker waits on, if there is one.
    mutating func destroyTarget(_ world: FuzzWorld) -> UInt64? {
        let served = pick { slot in
            if case .success(let found) = world.lookup(slot, .endpoint), found.object != SlotModel.unknown {
                return world.destroyable(found) && world.waitingWorkers(on: found.object) > 0
            }
            return false
        }
        if let served, chance(1, in: 2) { return served }
        return pick { slot in
            if case .success(let found) = world.slot(slot) { return world.destroyable(found) }
            return false
        }
    }

    /// A slot of 27-40 holding a followed object of `type` with `rights`, if one does.
    mutating func held(_ world: FuzzWorld, _ type: ObjectType, _ rights: Rights) -> UInt64? {
        pick { slot in
            if case .success(let found) = world.lookup(slot, type, rights) { return found.object != SlotModel.unknown }
            return false
        }
    }

    /// A slot of 27-40 with a task the fuzzer made whose region the model follows, if one has.
    mutating func regionTask(_ world: FuzzWorld) -> UInt64? {
        pick { slot in
            if case .success(let found) = world.lookup(slot, .task, .control), found.object != SlotModel.unknown {
                return world.tasks[Int(found.object)].fuzzMade && world.tasks[Int(found.object)].region >= 0
            }
            return false
        }
    }

    /// A slot of 27-40 with receive rights to an endpoint the fuzzer made (not the partner's or another
    /// that the fuzzing runs on), if one has.
    mutating func madeEndpoint(_ world: FuzzWorld) -> UInt64? {
        pick { slot in
            if case .success(let found) = world.lookup(slot, .endpoint, .receive), found.object != SlotModel.unknown {
                return world.endpoints[Int(found.object)].fuzzMade
            }
            return false
        }
    }

    /// A writable, unpinned page for a new thread's UTCB in the task in slot `task` (the playground of its
    /// own, the region of a child), if it has one.
    mutating func freeUTCB(_ world: FuzzWorld, _ task: UInt64) -> UInt64? {
        guard case .success(let found) = world.slot(task), found.object != SlotModel.unknown else { return nil }
        let own = world.tasks[Int(found.object)].own
        let region = Int(world.tasks[Int(found.object)].region)
        guard own || region >= 0 else { return nil }
        let count = own ? FuzzLayout.playgroundMapped : FuzzLayout.childPages
        let first = own ? PageIndex.playground : PageIndex.ownCount + region * FuzzLayout.childPages
        let base = own ? FuzzLayout.playground : FuzzLayout.childRegion
        let start = Int(below(UInt64(count)))
        for step in 0..<count {
            let page = (start + step) % count
            let model = world.pages[first + page]
            if model.mapped && model.rights & 2 != 0 && !model.pinned && !model.floating { return base + UInt64(page) * 4096 }
        }
        return nil
    }

    /// One of the slots 27-40 that `fits`, at random.
    mutating func pick(_ fits: (UInt64) -> Bool) -> UInt64? {
        var candidates = InlineArray<14, UInt64>(repeating: 0)
        var count = 0
        for slot in 27...40 as ClosedRange<UInt64> where fits(slot) {
            candidates[count] = slot
            count += 1
        }
        return count > 0 ? candidates[Int(below(UInt64(count)))] : nil
    }

    /// A send or call to the partner with typed items; the partner's window and slot, the fuzzer's own,
    /// and the partner's scripted reply are set here too.
    mutating func partnerMessage(_ c: inout RawCall, _ context: FuzzContext) {
        c.number = chance(1, in: 2) ? Syscall.call.rawValue : Syscall.send.rawValue
        c.rdi = FuzzLayout.partnerAll + below(3)
        // Now and then a boundary timeout: one the kernel must reject, or else at most a millisecond, so a
        // partner the model wrongly thinks is waiting costs a timeout result instead of hanging the run.
        if chance(1, in: 32) {
            let bound = boundary()
            c.r12 = Timeout(raw: bound).isValid ? 1 + bound % 1000 : bound
        } else {
            c.r12 = 0
        }
        let words = Int(below(5)), items = Int(below(4))
        c.rsi = MessageTag(label: below(1 << 20), words: words, items: items).raw
        if chance(1, in: 32) { c.rsi = MessageTag(label: 1, words: 60, items: 3).raw }
        var registers = InlineArray<16, UInt64>(repeating: 0)
        for index in 0..<16 { registers[index] = random.next() }
        for item in 0..<items { itemWords(&registers, words + 2 * item) }
        c.rdx = registers[0]
        c.r10 = registers[1]
        c.r8 = registers[2]
        c.r9 = registers[3]
        for index in 4..<16 { context.utcb[register: index] = registers[index] }
        Partner.utcb.receiveWindow = window()
        Partner.utcb.receiveSlot = chance(1, in: 4) ? boundary() : 1 + below(40)
        context.utcb.receiveWindow = window()
        context.utcb.receiveSlot = 1 + below(40)
        // The reply: up to 4 words and 2 items (map or grant into the fuzzer's window, or ones that must fail).
        let replyWords = Int(below(3)), replyItems = Int(below(3))
        partnerScript.replyTag = MessageTag(label: below(1 << 16), words: replyWords, items: replyItems).raw
        for index in 0..<16 { partnerScript.reply[index] = random.next() }
        var reply = partnerScript.reply
        for item in 0..<replyItems {
            let index = replyWords + 2 * item
            itemWords(&reply, index)
            // The partner's grants too give only playground pages away.
            if reply[index] & 0xFF == TypedItem.grantKind,
               !grantStaysInPlayground(kind: reply[index], value: reply[index + 1], window: context.utcb.receiveWindow) {
                reply[index] &= ~0xFF
            }
            if Fuzz.avoidKnownHoles {
                let page = Flexpage(raw: reply[index + 1])
                if page.order < 64, page.base >= userSpaceEnd || page.size > userSpaceEnd - page.base { reply[index + 1] = 0 }
            }
        }
        partnerScript.reply = reply
    }

    /// A receive window: a playground flexpage, the UTCB page, none, or an invalid one.
    mutating func window() -> Flexpage {
        switch below(8) {
        case 0: return Flexpage(raw: 0)
        case 1: return Flexpage(raw: FuzzLayout.mainUTCB | 12 << 4)
        case 2:
            // A map item into a hostile window would replace whatever lies there: never the fuzzer's code,
            // data, stacks or model (seed 0x537560c7644b6fa4: a reply mapped a playground page over the text).
            let window = Flexpage(raw: flexpage(rights: 0, hostile: true) & ~0x7)
            return FuzzLayout.reachesWhatItRunsOn(window) ? Flexpage(raw: 0) : window
        default: return Flexpage(raw: flexpage(rights: 0, hostile: false))
        }
    }

    mutating func itemWords(_ registers: inout InlineArray<16, UInt64>, _ index: Int) {
        guard index + 1 < 16 else { return }
        switch below(8) {
        case 0, 1:
            registers[index] = TypedItem.capabilityKind | below(16) << 8
            registers[index + 1] = chance(1, in: 8) ? boundary() : below(41)
        case 2, 3, 4:
            let hostile = chance(1, in: 4)
            registers[index] = TypedItem.mapKind | (chance(1, in: 2) ? playgroundPage() : random.next()) & ~0xFFF
            registers[index + 1] = flexpage(rights: pageRights(), hostile: hostile)
        case 5:
            registers[index] = TypedItem.grantKind | (random.next() & ~0xFFF)
            registers[index + 1] = flexpage(rights: 7, hostile: chance(1, in: 4))
        case 6:
            let first = chance(1, in: 2) ? 0xFFF0 + below(16) : below(0x10000)
            registers[index] = TypedItem.portsKind
            registers[index + 1] = first | (chance(1, in: 2) ? 0x1_FFFF : 1 + below(64)) << 16
        default:
            registers[index] = below(256)
            registers[index + 1] = random.next()
        }
    }

    /// Operations on threads the fuzzer created; a thread in its own task may get the worker entry and run.
    mutating func threadOperation(_ c: inout RawCall, _ world: FuzzWorld, _ context: inout FuzzContext) {
        c.number = Syscall.threadControl.rawValue
        c.rdi = 27 + below(14)
        if chance(1, in: 2), let thread = held(world, .thread, .control) { c.rdi = thread }
        c.rsi = 1 + below(8)
        c.rdx = chance(1, in: 4) ? boundary() : below(128)
        guard case .success(let found) = world.lookup(c.rdi, .thread, .control), found.object != SlotModel.unknown else { return }
        let index = Int(found.object)
        let thread = world.threads[index]
        // Workers more often: the worker entry for a thread that could take it, a start for one that has it.
        if chance(1, in: 3) && world.tasks[Int(thread.task)].own && thread.utcbPage >= 0 && !thread.vcpu {
            c.rsi = thread.runs ? ThreadOperation.start.rawValue : ThreadOperation.setEntry.rawValue
        }
        // A stopped worker keeps its stack (and its protected copy); a new one takes a free stack.
        let stack = thread.stack >= 0 ? Int(thread.stack) : (~world.stacksInUse).trailingZeroBitCount
        let idle = thread.state == ThreadStateCode.inactive.rawValue || thread.state == ThreadStateCode.stopped.rawValue
        if c.rsi == ThreadOperation.setEntry.rawValue && world.tasks[Int(thread.task)].own && thread.priority == Fuzz.priority
            && !thread.vcpu && thread.utcbPage >= 0 && idle && stack < FuzzLayout.maximumRunningThreads {
            let utcb = PageIndex.ownAddress(Int(thread.utcbPage))
            // The record goes into the thread's UTCB page: only while the kernel says it is mapped writable,
            // and only into a page of the playground or reserve itself. A page whose mapping came from
            // anywhere else may alias what the fuzzer runs on (seed 0xbaa816290cfe2210: an item from a
            // flexpage at 0 of order 47 put the model's first page in the playground, and a record there
            // turned slot 167 of the model into garbage).
            guard world.derivesFromPassablePage(Int(thread.utcbPage)), context.readRights(Slot.task, utcb) & 2 != 0 else { return }
            // Half of them serve an endpoint the fuzzer made (which it may destroy under them), through a
            // protected copy; the others the workers endpoint.
            var served = Partner.workerSlot
            context.plannedServes = FuzzWorld.workerEndpoint
            if chance(1, in: 2), let candidate = madeEndpoint(world), case .success(let found) = world.slot(candidate) {
                served = Slot.servedEndpoints + UInt64(stack)
                _ = SystemCall.capability(served, .delete)
                guard SystemCall.capability(candidate, .copy, (served, allRights, 0, 0)).succeeded else { return }
                context.plannedServes = found.object
            }
            ThreadSpawner.prepare(utcb: utcb, workerMain, argument: served, slot: 0)
            UTCB(address: utcb).receiveSlot = 0
            UTCB(address: utcb).receiveWindow = Flexpage(raw: 0)
            c.rdx = user_thread_trampoline()
            c.r10 = FuzzLayout.createdStacks + UInt64(stack + 1) * 3 * 4096
            c.r8 = 0
            context.plannedWorker = index
            context.plannedStack = stack
        }
    }
}

/// Figures: calls, per-syscall counts, distinct (syscall, result) outcomes, unexpected results.
struct FuzzFigures {
    var perNumber = InlineArray<18, UInt64>(repeating: 0)        // syscall numbers 0-16; [17]: others
    var outcomes = InlineArray<18, UInt32>(repeating: 0)         // bit r: result r seen
    var histogram = InlineArray<21, UInt64>(repeating: 0)        // error codes 0-19; [20]: unknown values
    var exact: UInt64 = 0
    var aimed: UInt64 = 0

    mutating func count(_ number: UInt64, _ result: UInt64) {
        let index = Int(min(number, 17))
        perNumber[index] += 1
        outcomes[index] |= 1 << UInt32(min(result, 20))
        histogram[Int(min(result, 20))] += 1
    }

    var distinctOutcomes: Int {
        var total = 0
        for index in 0..<18 { total += outcomes[index].nonzeroBitCount }
        return total
    }
    var reached: Int {
        var total = 0
        for index in 1..<17 where perNumber[index] > 0 { total += 1 }
        return total
    }
}

func fuzzer(seed: UInt64, utcbAddress: UInt64) {
    _ = SystemCall.wait(Slot.go)
    var context = FuzzContext(utcb: UTCB(address: utcbAddress))
    fuzzerUTCB = context.utcb
    var world = FuzzWorld()
    // Does the CPU offer VMX or SVM? (A VM from the task's factory; it stays unused in a protected slot.)
    let virtualization = SystemCall.create(Slot.factory, .virtualMachine, into: 235) == .ok
    let child = SystemCall.create(Slot.factory, .factory, into: FuzzLayout.childFactory, (FuzzLayout.childFrames, 0, 0)) == .ok
        && SystemCall.create(FuzzLayout.childFactory, .task, into: Slot.childCopies) == .ok
    if !child {
        context.unexpected += 1
        log("fuzz: UNEXPECTED the mapping child could not be created")
    }
    world.start(virtualization: virtualization)
    // The mapping child's factory, as the model starts it (its quota is never identified later: protected).
    let childQuota = SystemCall.capability(FuzzLayout.childFactory, .identify)
    let childModel = world.factories[Int(world.tasks[Int(world.childTask)].factory)]
    if childQuota.words.3 != childModel.framesLeft {
        context.unexpected += 1
        log("fuzz: UNEXPECTED the mapping child's factory has \(childQuota.words.3) frames left, the model says \(childModel.framesLeft)")
    }
    // The image's pages (text r-x, rodata r--, data rw-) as the loader mapped them.
    for page in 0..<FuzzLayout.imagePages {
        let rights = context.readRights(Slot.task, FuzzLayout.textPage + UInt64(page) * 4096)
        world.pages[PageIndex.text + page] = PageModel(mapped: rights != 0, rights: UInt8(truncatingIfNeeded: rights))
    }
    var generator = Generator(random: XorShift64Star(seed: seed))
    var figures = FuzzFigures()
    log("fuzz: start, seed \(hex: seed), \(Fuzz.calls) calls over syscall numbers 0-16 (and some others)")
    let start = timestamp()
    for index in 0..<Fuzz.calls {
        if index % Fuzz.refreshInterval == 0 {
            if refreshTargets() { world.refresh() } else {
                context.unexpected += 1
                log("fuzz: UNEXPECTED the fuzzer's targets could not be refreshed at call \(index)")
            }
        }
        context.plannedWorker = -1
        context.extraCount = 0
        // Floating pages are judged by nobody; now and then the kernel says which are gone again.
        if index % 256 == 0 { context.refloat(&world) }
        var c: RawCall
        if generator.chance(2, in: 5) {
            c = generator.raw()
        } else {
            c = generator.aimed(world, &context)
            figures.aimed += 1
        }
        sanitize(&c, world, plannedWorker: context.plannedWorker >= 0)
        let traced = Fuzz.tracePage >= 0 ? world.pages[Fuzz.tracePage] : PageModel()
        let (result, allowed) = world.run(c, &context)
        if Fuzz.tracePage >= 0 {
            let now = world.pages[Fuzz.tracePage]
            if now.mapped != traced.mapped || now.rights != traced.rights || now.parent != traced.parent || now.floating != traced.floating {
                log("fuzz: trace call \(index): syscall \(c.number) rdi \(hex: c.rdi) rsi \(hex: c.rsi) rdx \(hex: c.rdx) r10 \(hex: c.r10) r8 \(hex: c.r8) r9 \(hex: c.r9) -> \(result)")
                if c.number == Syscall.call.rawValue || c.number == Syscall.send.rawValue { lastMessage.print() }
                log("fuzz:   page \(Fuzz.tracePage) mapped \(now.mapped ? 1 : 0) rights \(now.rights) floating \(now.floating ? 1 : 0), \(world.lineage(Fuzz.tracePage))")
            }
        }
        if index >= Fuzz.auditFrom { context.audit(&world) }
        context.checkFloatingPins(&world)
        if context.plannedWorker >= 0 && result == 0 && world.threads[context.plannedWorker].runs
            && world.threads[context.plannedWorker].stack < 0 {
            let stack = context.plannedStack
            FuzzContext.workerSlots[context.plannedWorker] = Slot.workerCopies + UInt64(stack)
            _ = SystemCall.capability(c.rdi, .copy, (Slot.workerCopies + UInt64(stack), allRights, 0, 0))
            world.threads[context.plannedWorker].stack = Int8(stack)
            world.stacksInUse |= 1 << UInt8(stack)
        }
        figures.count(c.number, result)
        if allowed.isExact { figures.exact += 1 }
        if !allowed.contains(result) || context.extraCount > 0 {
            context.unexpected += 1
            if context.unexpected <= Fuzz.printLimit {
                let got = SyscallError(rawValue: result)?.name ?? "unknown code"
                log("fuzz: UNEXPECTED call \(index): syscall \(c.number) rdi \(hex: c.rdi) rsi \(hex: c.rsi) rdx \(hex: c.rdx) r10 \(hex: c.r10) r8 \(hex: c.r8) r9 \(hex: c.r9) r12 \(hex: c.r12)")
                if !allowed.contains(result) {
                    log("fuzz:   expected \(allowed.first.name)\(allowed.isExact ? "" : " or another of mask \(hex: UInt64(allowed.mask))"), got \(got) (\(result))")
                }
                if c.number == Syscall.call.rawValue || c.number == Syscall.send.rawValue { lastMessage.print() }
                for extra in 0..<min(context.extraCount, 4) {
                    let found = context.extra[extra]
                    log("fuzz:   \(found.what): expected \(hex: found.expected), got \(hex: found.got) (at \(hex: found.at))")
                }
            }
        }
    }
    let elapsed = TSCClock(kHz: tscKHzForFuzzer).elapsed(since: start)
    log("fuzz: \(Fuzz.calls) calls, seed \(hex: seed), kernel alive; \(elapsed / 1000) ms, \(context.unexpected) unexpected results")
    log("fuzz: figures: \(figures.reached) of 16 syscalls reached, \(figures.distinctOutcomes) distinct (syscall, result) outcomes, \(figures.exact) calls judged by one exact answer, \(figures.aimed) aimed calls, \(context.resyncs) page resyncs")
    for code in 0..<20 where figures.histogram[code] > 0 {
        log("fuzz:   \(SyscallError(rawValue: UInt64(code))!.name) (\(code)): \(figures.histogram[code])")
    }
    log("fuzz:   unknown codes: \(figures.histogram[20])")
    let destroys = context.destroys
    log("fuzz: destroys: \(destroys.endpoints) endpoints, \(destroys.threads) threads, \(destroys.tasks) tasks, \(destroys.factories) factories (\(destroys.withThem) objects with the tasks and factories), \(destroys.aborted) blocked workers aborted, \(destroys.blockedWorkers) blocked workers destroyed, \(destroys.mappings) mappings revoked with their tasks")
    var line: LogLine = "fuzz: per syscall"
    for number in 0..<17 {
        line.append(" ")
        line.appendDecimal(UInt64(number))
        line.append(":")
        line.appendDecimal(figures.perNumber[number])
    }
    line.append(" other:")
    line.appendDecimal(figures.perNumber[17])
    log(line)
    _ = SystemCall.send(Slot.stopEcho, MessageTag(label: Label.stop))
    _ = SystemCall.send(Slot.results, MessageTag(label: Label.fuzzDone, words: 4),
                        (context.unexpected, UInt64(Fuzz.calls), elapsed, UInt64(figures.reached)))
}

nonisolated(unsafe) var tscKHzForFuzzer: UInt64 = 1
nonisolated(unsafe) var fuzzerUTCB = UTCB(address: 0x1000)
