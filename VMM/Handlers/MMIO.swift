import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// A nested page fault. Inside guest RAM (all of it is mapped before the guest starts): the page was
    /// taken away, map it again. Elsewhere: MMIO. Up to 15 bytes of the instruction are fetched through
    /// the guest's page tables (stopping where its mapping ends) and decoded (`MMIOInstruction`); the
    /// access goes to the board's device at that address (the IOAPIC; the virtio disk, whose queue notify
    /// is served here; the xAPIC page if the guest left x2APIC mode), and one nothing backs reads all ones. What the decoder does not know: #UD.
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
        let (instruction, firstBytes) = memory.mmioInstruction(at: guest.rip, cr3: guest.cr3)
        guard let instruction else {
            log("vmm: \(name): MMIO at \(hex: address) by an instruction the VMM does not decode (RIP \(hex: guest.rip), first bytes \(hex: firstBytes.byteSwapped, digits: 16))")
            return unhandled()
        }
        let now = timestamp()
        if instruction.isWrite && board.isDisk(address) {
            writeDisk(address, size: instruction.size, value: instruction.value(from: guest))
            instruction.step(over: guest)
        } else if instruction.isWrite {
            board.writeMemory(address, size: instruction.size, value: instruction.value(from: guest), now: now)
            instruction.step(over: guest)
        } else {
            instruction.complete(read: board.readMemory(address, size: instruction.size, now: now), into: guest)
        }
        guest.setInterruptibility(0, activity: 0)
        return .resume(Self.stepped.union(.generalRegisters))
    }
}
