import SwiftletABI
import SwiftletUser
import VMMCore

extension LinuxMachine {
    /// A nested page fault. Inside guest RAM (all of it is mapped before the guest starts): the page was
    /// taken away, map it again. Elsewhere: MMIO. The instruction is fetched through the guest's page
    /// tables (up to 15 bytes, stopping where the guest's mapping ends) and decoded (`MMIOAccess`); the
    /// access goes to the board's device at that address (the IOAPIC), and one nothing backs reads all
    /// ones. What the decoder does not know: #UD.
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
        var fetched = 0
        let access: MMIOAccess? = withUnsafeMutableBytes(of: &bytes) { raw in
            let buffer = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            while fetched < 15, memory.fetchInstruction(1, at: guest.rip &+ UInt64(fetched), cr3: guest.cr3, into: buffer + fetched) {
                fetched += 1
            }
            return MMIOAccess(decoding: buffer, count: fetched)
        }
        guard let access else {
            log("vmm: \(name): MMIO at \(hex: address) by an instruction the VMM does not decode (RIP \(hex: guest.rip), first bytes \(hex: bytes.0.byteSwapped, digits: 16))")
            return unhandled()
        }
        let now = timestamp()
        if access.isWrite {
            board.writeMemory(address, size: access.size, value: access.value(in: guest), now: now)
        } else {
            access.complete(guest, read: board.readMemory(address, size: access.size, now: now))
        }
        guest.rip &+= UInt64(access.length)
        guest.setInterruptibility(0, activity: 0)
        return .resume(Self.stepped.union(.generalRegisters))
    }
}
