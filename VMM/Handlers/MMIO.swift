import SwiftletABI
import SwiftletUser
import VMMCore

extension LinuxMachine {
    /// A nested page fault. Inside guest RAM (all of it is mapped before the guest starts): the page was
    /// taken away, map it again. Elsewhere: MMIO. Up to 15 bytes of the instruction are fetched through
    /// the guest's page tables (stopping where its mapping ends) and decoded (`MMIOInstruction`); the
    /// access goes to the board's device at that address (the IOAPIC; the xAPIC page if the guest left
    /// x2APIC mode), and one nothing backs reads all ones. What the decoder does not know: #UD.
    mutating func nestedPageFault() -> Action {
        let address = guest.guestPhysical
        if memory.contains(address, 1) {
            let page = address & ~UInt64(0xFFF)
            guard SystemCall.task(machine, .mapPages, (memory.base + page, page, 1, 3)) == .ok else {
                log("vmm: \(name): could not map guest page \(hex: page) again; VM stopped")
                return .stop(failures: 1)
            }
            return .resume([])
        }
        var bytes: (UInt64, UInt64) = (0, 0)                 // 16 bytes: room for the longest instruction
        let instruction = withUnsafeMutableBytes(of: &bytes) { raw -> MMIOInstruction? in
            let buffer = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let fetched = GuestPageWalk.fetchAvailable(15, at: guest.rip, cr3: guest.cr3, into: buffer,
                                                       load: { memory.load64($0) }, loadByte: { memory.load8($0) })
            return MMIOInstruction(decoding: buffer, count: fetched)
        }
        guard let instruction else {
            log("vmm: \(name): MMIO at \(hex: address) by an instruction the VMM does not decode (RIP \(hex: guest.rip), first bytes \(hex: bytes.0.byteSwapped, digits: 16))")
            return unhandled()
        }
        let now = timestamp()
        if instruction.isWrite {
            board.writeMemory(address, size: instruction.size, value: instruction.value(from: guest), now: now)
            instruction.step(over: guest)
        } else {
            instruction.complete(read: board.readMemory(address, size: instruction.size, now: now), into: guest)
        }
        guest.setInterruptibility(0, activity: 0)
        return .resume(Self.stepped.union(.generalRegisters))
    }
}
