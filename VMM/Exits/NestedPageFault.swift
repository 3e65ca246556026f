import SwiftletABI
import SwiftletUser
import VMMCore

extension VirtualMachine {
    /// A guest-physical address with no RAM behind it: MMIO. The instruction is fetched through the
    /// guest's page tables and emulated if it is a MOV between a register and memory addressed by a
    /// register (`MMIOInstruction`); the access goes to the device at that address. Anything else: #UD.
    mutating func nestedPageFault() -> Action {
        guard let physical = memory.translate(guest.rip, cr3: guest.cr3), memory.contains(physical, 16),
              let instruction = MMIOInstruction(decoding: UnsafeRawPointer(memory.pointer(physical))) else {
            devices.unbackedAccesses += 1
            inject(exception: 6)
            return .resume([.event])
        }
        let address = guest.guestPhysical
        let sizeMask: UInt64 = instruction.size == 8 ? UInt64.max : 0xFFFF_FFFF
        if instruction.isWrite {
            devices.writeMemory(address, value: guest.register(instruction.register) & sizeMask)
        } else {
            guest.setRegister(instruction.register, devices.readMemory(address) & sizeMask)
        }
        guest.rip &+= UInt64(instruction.length)
        return .resume([.generalRegisters, .ripAndLength])
    }
}
