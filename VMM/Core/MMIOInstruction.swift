import SwiftletABI

/// The MMIO instructions the VMM emulates, decoded from the bytes at the guest's RIP (64-bit mode): the MOV
/// family Linux uses on the local APIC and the IOAPIC (readl/writel and friends compile to these).
///   88/89 MOV r/m, r      8A/8B MOV r, r/m      C6 /0 ib, C7 /0 iw/id  MOV r/m, imm
///   0F B6/B7 MOVZX r, r/m8/16                  A0-A3 MOV AL/rAX to and from moffs
/// with the legacy prefixes 66 (operand size), 67 (address size), F2/F3 (ignored on MOV) and segment
/// overrides, REX (W, R, X, B), ModRM with every memory form, SIB, disp8/disp32 and RIP-relative. The exit
/// gives the guest-physical address, so only the length, the access and the register operand or the
/// immediate are needed. Anything else (a register operand, LOCK, other opcodes, bytes past `count`,
/// more than 15 bytes) is refused: nil.
public struct MMIOInstruction: Equatable {
    public enum Operand: Equatable {
        /// General register 0 RAX ... 15 R15, in the encoding's order.
        case register(Int)
        /// AH, CH, DH, BH: bits 8-15 of register 0-3 (a byte operand 4-7 without REX).
        case highByte(Int)
        /// The immediate of C6/C7, sign-extended to the access size.
        case immediate(UInt64)
    }

    public var isWrite: Bool
    /// The access size in bytes: 1, 2, 4 or 8.
    public var size: Int
    /// What a write stores or a read loads into.
    public var operand: Operand
    /// For a read: the size of the register write (MOVZX: 2, 4 or 8, the value zero-extended to it;
    /// otherwise `size`). A 4-byte register write zero-extends to 64 bits, 1- and 2-byte writes merge.
    public var destinationSize: Int
    /// The instruction's length in bytes.
    public var length: Int

    public init(isWrite: Bool, size: Int, operand: Operand, destinationSize: Int? = nil, length: Int) {
        (self.isWrite, self.size, self.operand, self.length) = (isWrite, size, operand, length)
        self.destinationSize = destinationSize ?? size
    }

    /// Decodes the first instruction of the `count` bytes at `bytes` (at most 15 are looked at).
    public init?(decoding bytes: UnsafePointer<UInt8>, count: Int) {
        var decoder = Decoder(bytes: bytes, count: min(max(count, 0), 15))
        guard let instruction = decoder.instruction() else { return nil }
        self = instruction
    }

    /// The value a write stores: the register's low `size` bytes (AH-BH: bits 8-15) or the immediate.
    public func value(from message: ExitMessage) -> UInt64 {
        switch operand {
        case .register(let index): return message.register(index) & Self.mask(size)
        case .highByte(let index): return (message.register(index) >> 8) & 0xFF
        case .immediate(let value): return value & Self.mask(size)
        }
    }

    /// Completes a read: `value` (what the device returned, cut to the access size) goes into the register
    /// operand as the CPU writes it, and RIP moves past the instruction.
    public func complete(read value: UInt64, into message: ExitMessage) {
        let loaded = value & Self.mask(size)
        switch operand {
        case .register(let index):
            let old = message.register(index)
            switch destinationSize {
            case 8, 4: message.setRegister(index, loaded)        // a 32-bit write zero-extends
            default:
                let keep = ~Self.mask(destinationSize)
                message.setRegister(index, (old & keep) | loaded)
            }
        case .highByte(let index):
            message.setRegister(index, (message.register(index) & ~UInt64(0xFF00)) | loaded << 8)
        case .immediate:
            break
        }
        step(over: message)
    }

    /// Moves RIP past the instruction (a write is complete once its value went to the device).
    public func step(over message: ExitMessage) {
        message.rip &+= UInt64(length)
    }

    static func mask(_ size: Int) -> UInt64 {
        size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) &- 1
    }
}

/// One pass over the bytes; every read is checked against `count`.
private struct Decoder {
    let bytes: UnsafePointer<UInt8>
    let count: Int
    var at = 0

    mutating func next() -> UInt8? {
        guard at < count else { return nil }
        defer { at += 1 }
        return bytes[at]
    }

    mutating func skip(_ n: Int) -> Bool {
        guard n <= count - at else { return false }
        at += n
        return true
    }

    /// The little-endian immediate of `n` bytes, sign-extended to 64 bits.
    mutating func immediate(_ n: Int) -> UInt64? {
        guard n <= count - at else { return nil }
        var value: UInt64 = 0
        for index in 0..<n { value |= UInt64(bytes[at + index]) << (8 * UInt64(index)) }
        at += n
        let shift = UInt64(64 - 8 * n)
        return UInt64(bitPattern: Int64(bitPattern: value << shift) >> Int64(shift))
    }

    mutating func instruction() -> MMIOInstruction? {
        var operandSize16 = false, addressSize32 = false
        var rex: UInt8 = 0, opcode: UInt8 = 0
        scan: while true {
            guard let byte = next() else { return nil }
            switch byte {
            // A REX prefix counts only right before the opcode: any prefix after it voids it.
            case 0x66: (operandSize16, rex) = (true, 0)
            case 0x67: (addressSize32, rex) = (true, 0)
            case 0xF2, 0xF3, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65: rex = 0   // REP (ignored on MOV), segments
            case 0x40...0x4F: rex = byte
            default:
                opcode = byte
                break scan
            }
        }
        let wide = rex & 8 != 0
        let fullSize = wide ? 8 : operandSize16 ? 2 : 4
        func register(_ index: Int, byteSized: Bool) -> MMIOInstruction.Operand {
            byteSized && rex == 0 && (4...7).contains(index) ? .highByte(index - 4) : .register(index)
        }

        switch opcode {
        case 0xA0...0xA3:
            // moffs: an 8-byte address (4 with 67), no ModRM.
            guard skip(addressSize32 ? 4 : 8) else { return nil }
            let byteSized = opcode & 1 == 0
            return MMIOInstruction(isWrite: opcode >= 0xA2, size: byteSized ? 1 : fullSize, operand: .register(0), length: at)
        case 0x88, 0x89, 0x8A, 0x8B, 0xC6, 0xC7:
            guard let reg = memoryOperand() else { return nil }
            let byteSized = opcode & 1 == 0
            let size = byteSized ? 1 : fullSize
            let index = reg + (rex & 4 != 0 ? 8 : 0)
            switch opcode {
            case 0x88, 0x89: return MMIOInstruction(isWrite: true, size: size, operand: register(index, byteSized: byteSized), length: at)
            case 0x8A, 0x8B: return MMIOInstruction(isWrite: false, size: size, operand: register(index, byteSized: byteSized), length: at)
            default:
                guard reg == 0, let value = immediate(min(size, 4)) else { return nil }      // C6/C7 /0 only
                return MMIOInstruction(isWrite: true, size: size, operand: .immediate(value & MMIOInstruction.mask(size)), length: at)
            }
        case 0x0F:
            guard let second = next(), second == 0xB6 || second == 0xB7, let reg = memoryOperand() else { return nil }
            let index = reg + (rex & 4 != 0 ? 8 : 0)
            return MMIOInstruction(isWrite: false, size: second == 0xB6 ? 1 : 2, operand: .register(index),
                                   destinationSize: fullSize, length: at)
        default:
            return nil
        }
    }

    /// ModRM (with SIB and displacement) naming memory; its reg field, or nil for a register operand or
    /// too few bytes.
    mutating func memoryOperand() -> Int? {
        guard let modrm = next() else { return nil }
        let mod = modrm >> 6, rm = modrm & 7
        guard mod != 3 else { return nil }
        var displacement = mod == 1 ? 1 : mod == 2 ? 4 : 0
        if rm == 4 {
            guard let sib = next() else { return nil }
            if mod == 0 && sib & 7 == 5 { displacement = 4 }      // no base: disp32
        } else if mod == 0 && rm == 5 {
            displacement = 4                                      // RIP-relative
        }
        guard skip(displacement) else { return nil }
        return Int((modrm >> 3) & 7)
    }
}
