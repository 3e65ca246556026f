import SwiftletABI

/// The MOV-family instructions Linux uses on device registers, decoded far enough to emulate them at a
/// nested page fault: direction, size, the register or immediate, and the length. The address is not
/// computed from ModRM/SIB: the fault already gives the guest-physical address, so displacements and SIB
/// bytes are only skipped. Forms: MOV r/m,r (88, 89), MOV r,r/m (8A, 8B), MOV r/m,imm (C6 /0, C7 /0),
/// MOVZX r,r/m8/16 (0F B6, 0F B7), with 66, REX and segment prefixes; every ModRM memory form (SIB,
/// disp8/disp32, RIP-relative). Anything else (string moves, LOCK/REP, 67, register operands) is nil.
///
/// A bridge until the full decoder (MMIOInstruction's new API) lands; every byte comes from the guest and
/// is bounds-checked against `count`.
public struct MMIOAccess: Equatable {
    public enum Operand: Equatable {
        /// General register 0-15; `highByte`: AH, CH, DH or BH (an 8-bit operand without REX, 4-7).
        case register(Int, highByte: Bool)
        case immediate(UInt64)
    }

    public var isWrite: Bool
    /// Bytes accessed in memory: 1, 2, 4 or 8.
    public var size: Int
    public var operand: Operand
    /// A read's destination size (MOVZX widens; MOV's equals `size`).
    public var destinationSize: Int
    public var length: Int

    public init(isWrite: Bool, size: Int, operand: Operand, destinationSize: Int, length: Int) {
        (self.isWrite, self.size, self.operand, self.destinationSize, self.length) = (isWrite, size, operand, destinationSize, length)
    }

    public init?(decoding bytes: UnsafePointer<UInt8>, count: Int) {
        let limit = min(count, 15)
        var at = 0
        func next() -> UInt8? {
            guard at < limit else { return nil }
            defer { at += 1 }
            return bytes[at]
        }
        var operandSize16 = false, rex: UInt8 = 0
        var byte: UInt8 = 0
        prefixes: while true {
            guard let prefix = next() else { return nil }
            switch prefix {
            case 0x66: operandSize16 = true
            case 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65: break
            default:
                byte = prefix
                break prefixes
            }
        }
        if byte & 0xF0 == 0x40 {
            rex = byte
            guard let opcode = next() else { return nil }
            byte = opcode
        }
        let wide = rex & 8 != 0
        let fullSize = wide ? 8 : operandSize16 ? 2 : 4
        var isWrite = false, size = fullSize, destination = fullSize, immediateBytes = 0
        switch byte {
        case 0x88: (isWrite, size, destination) = (true, 1, 1)
        case 0x89: isWrite = true
        case 0x8A: (size, destination) = (1, 1)
        case 0x8B: break
        case 0xC6: (isWrite, size, destination, immediateBytes) = (true, 1, 1, 1)
        case 0xC7: (isWrite, immediateBytes) = (true, operandSize16 && !wide ? 2 : 4)
        case 0x0F:
            guard let second = next(), second == 0xB6 || second == 0xB7 else { return nil }
            size = second == 0xB6 ? 1 : 2
        default: return nil
        }
        guard let modrm = next() else { return nil }
        let mod = modrm >> 6, rm = modrm & 7, reg = Int((modrm >> 3) & 7)
        guard mod != 3 else { return nil }                               // a register operand: not memory
        if immediateBytes > 0 && reg != 0 { return nil }                 // C6/C7 /0 only
        // The memory operand's SIB byte and displacement: skipped.
        var displacement = mod == 1 ? 1 : mod == 2 ? 4 : 0
        if rm == 4 {
            guard let sib = next() else { return nil }
            if mod == 0 && sib & 7 == 5 { displacement = 4 }
        } else if mod == 0 && rm == 5 {
            displacement = 4                                             // RIP-relative
        }
        guard at + displacement + immediateBytes <= limit else { return nil }
        at += displacement
        if immediateBytes > 0 {
            var immediate: UInt64 = 0
            for index in 0..<immediateBytes { immediate |= UInt64(bytes[at + index]) << (8 * UInt64(index)) }
            // C7 with REX.W: imm32 sign-extended to 64 bits.
            if size == 8 && immediate & 0x8000_0000 != 0 { immediate |= 0xFFFF_FFFF_0000_0000 }
            at += immediateBytes
            operand = .immediate(immediate)
        } else {
            let register = reg + (rex & 4 != 0 ? 8 : 0)
            let high = (size == 1 && destination == 1) && rex == 0 && reg >= 4
            operand = .register(high ? reg - 4 : register, highByte: high)
        }
        self.isWrite = isWrite
        self.size = size
        destinationSize = destination
        length = at
    }

    static func mask(_ size: Int) -> UInt64 {
        size >= 8 ? UInt64.max : (1 << UInt64(size * 8)) - 1
    }

    /// The value a write stores (`size` bytes).
    public func value(in guest: ExitMessage) -> UInt64 {
        switch operand {
        case .immediate(let value): return value & Self.mask(size)
        case .register(let index, let high):
            return (high ? guest.register(index) >> 8 : guest.register(index)) & Self.mask(size)
        }
    }

    /// Completes a read of `value` (`size` bytes) into the destination register as the CPU would: 8- and
    /// 16-bit destinations keep the register's other bits, a 32-bit one clears the upper half.
    public func complete(_ guest: ExitMessage, read value: UInt64) {
        guard case .register(let index, let high) = operand else { return }
        let loaded = value & Self.mask(size)
        let old = guest.register(index)
        switch (destinationSize, high) {
        case (1, true): guest.setRegister(index, old & ~0xFF00 | loaded << 8)
        case (1, false), (2, _): guest.setRegister(index, old & ~Self.mask(destinationSize) | loaded)
        default: guest.setRegister(index, loaded)
        }
    }
}
