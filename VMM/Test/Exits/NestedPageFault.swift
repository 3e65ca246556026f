import SwiftletABI
import SwiftletUser
import VMMCore

extension VirtualMachine {
    /// A nested page fault. Inside guest RAM: a page not mapped (yet, or any more), mapped now. Elsewhere,
    /// nothing backs the address: MMIO. The instruction is fetched through the guest's page tables and
    /// emulated if it is one of the MOV forms `MMIOInstruction` decodes; the access goes to the device at
    /// that address. Anything else: #UD.
    mutating func nestedPageFault() -> Action {
        // Guest RAM that is not mapped (taken away, or not given yet): map the page and retry.
        if memory.contains(guest.guestPhysical, 1) {
            let page = guest.guestPhysical & ~UInt64(0xFFF)
            if page == Devices.unmappedPage && devices.pageUnmapped { devices.unmappedPageFaulted = true }
            guard SystemCall.task(machine, .mapPages, (memory.base + page, page, 1, 3)) == .ok else {
                log("vmm: \(name): could not map guest page \(hex: page) back; VM stopped")
                return .stop(failures: 1)
            }
            return .resume([])
        }
        let (instruction, _) = memory.mmioInstruction(at: guest.rip, cr3: guest.cr3)
        guard let instruction else {
            devices.unbackedAccesses += 1
            inject(exception: 6)
            return .resume([.event])
        }
        let address = guest.guestPhysical
        if instruction.isWrite {
            devices.writeMemory(address, value: instruction.value(from: guest))
            instruction.step(over: guest)
        } else {
            instruction.complete(read: devices.readMemory(address), into: guest)
        }
        return .resume([.generalRegisters, .ripAndLength])
    }
}
