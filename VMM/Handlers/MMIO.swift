import SwiftletABI
import SwiftletUser
import VMMCore

extension LinuxMachine {
    /// A nested page fault. Inside guest RAM (all of it is mapped before the guest starts): the page was
    /// taken away, map it again. Elsewhere: MMIO. The instruction is fetched through the guest's page
    /// tables and decoded (`MMIOInstruction`); the access goes to the board's device at that address
    /// (IOAPIC, xAPIC), and one nothing backs reads all ones. What the decoder does not know: #UD.
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
        // The decoder reads at most three bytes; each is fetched through the guest's own page tables.
        var bytes: (UInt8, UInt8, UInt8) = (0, 0, 0)
        let fetched = withUnsafeMutableBytes(of: &bytes) { raw in
            memory.fetchInstruction(3, at: guest.rip, cr3: guest.cr3, into: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard fetched, let instruction = withUnsafeBytes(of: bytes, { MMIOInstruction(decoding: $0.baseAddress!) }) else {
            log("vmm: \(name): MMIO at \(hex: address) by an instruction the VMM does not decode (RIP \(hex: guest.rip), bytes \(hex: bytes.0) \(hex: bytes.1) \(hex: bytes.2))")
            return unhandled()
        }
        let sizeMask: UInt64 = instruction.size == 8 ? UInt64.max : 0xFFFF_FFFF
        let now = timestamp()
        if instruction.isWrite {
            board.writeMemory(address, size: instruction.size, value: guest.register(instruction.register) & sizeMask, now: now)
        } else {
            guest.setRegister(instruction.register, board.readMemory(address, size: instruction.size, now: now) & sizeMask)
        }
        guest.rip &+= UInt64(instruction.length)
        guest.setInterruptibility(0, activity: 0)
        return .resume(Self.stepped.union(.generalRegisters))
    }
}
