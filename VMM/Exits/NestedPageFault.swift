import SwiftletABI
import SwiftletUser

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

/// The MMIO instructions the VMM emulates: MOV r/m, r (0x89) and MOV r, r/m (0x8B), 32 or 64 bits (REX.W),
/// the memory operand a register without displacement (ModRM mod 00, not RSP/RBP/R12/R13).
struct MMIOInstruction {
    var isWrite: Bool
    var register: Int
    var size: Int
    var length: Int

    init?(decoding bytes: UnsafeRawPointer) {
        var at = 0
        var rex: UInt8 = 0
        let first = bytes.load(fromByteOffset: 0, as: UInt8.self)
        if first & 0xF0 == 0x40 {
            rex = first
            at = 1
        }
        let opcode = bytes.load(fromByteOffset: at, as: UInt8.self)
        let modrm = bytes.load(fromByteOffset: at + 1, as: UInt8.self)
        guard opcode == 0x89 || opcode == 0x8B, modrm >> 6 == 0, modrm & 7 != 4, modrm & 7 != 5 else { return nil }
        isWrite = opcode == 0x89
        register = Int((modrm >> 3) & 7) + (rex & 4 != 0 ? 8 : 0)
        size = rex & 8 != 0 ? 8 : 4
        length = at + 2
    }
}
