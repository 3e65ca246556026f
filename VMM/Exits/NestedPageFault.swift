import SwiftletABI
import SwiftletUser

extension VirtualMachine {
    /// A guest-physical address with no RAM behind it: MMIO. The instruction is fetched through the
    /// guest's page tables and emulated if it is a MOV between a register and memory addressed by a
    /// register (`MMIOInstruction`); the access goes to the device at that address. Anything else: #UD.
    mutating func nestedPageFault() -> Action {
        guard let physical = memory.translate(state.rip, cr3: state.cr3), memory.contains(physical, 16),
              let instruction = MMIOInstruction(decoding: UnsafeRawPointer(memory.pointer(physical))) else {
            devices.unbackedAccesses += 1
            inject(exception: 6)
            return .resume([.event])
        }
        let address = state.guestPhysical
        let sizeMask: UInt64 = instruction.size == 8 ? UInt64.max : 0xFFFF_FFFF
        if instruction.isWrite {
            devices.writeMemory(address, value: state.register(instruction.register) & sizeMask)
        } else {
            state.setRegister(instruction.register, devices.readMemory(address) & sizeMask)
        }
        state.rip &+= UInt64(instruction.length)
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

extension GuestState {
    /// General register `index` in the encoding's order (0 RAX ... 15 R15).
    func register(_ index: Int) -> UInt64 {
        switch index {
        case 0: return rax
        case 1: return rcx
        case 2: return rdx
        case 3: return rbx
        case 4: return rsp
        case 5: return rbp
        case 6: return rsi
        case 7: return rdi
        case 8: return r8
        case 9: return r9
        case 10: return r10
        case 11: return r11
        case 12: return r12
        case 13: return r13
        case 14: return r14
        default: return r15
        }
    }

    mutating func setRegister(_ index: Int, _ value: UInt64) {
        switch index {
        case 0: rax = value
        case 1: rcx = value
        case 2: rdx = value
        case 3: rbx = value
        case 4: rsp = value
        case 5: rbp = value
        case 6: rsi = value
        case 7: rdi = value
        case 8: r8 = value
        case 9: r9 = value
        case 10: r10 = value
        case 11: r11 = value
        case 12: r12 = value
        case 13: r13 = value
        case 14: r14 = value
        default: r15 = value
        }
    }
}
