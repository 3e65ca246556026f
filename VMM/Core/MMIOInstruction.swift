import SwiftletABI

/// The MMIO instructions the VMM emulates: MOV r/m, r (0x89) and MOV r, r/m (0x8B), 32 or 64 bits (REX.W),
/// the memory operand a register without displacement (ModRM mod 00, not RSP/RBP/R12/R13).
public struct MMIOInstruction: Equatable {
    public var isWrite: Bool
    /// The register operand, 0 RAX ... 15 R15.
    public var register: Int
    /// Operand size in bytes: 4 or 8.
    public var size: Int
    public var length: Int

    public init(isWrite: Bool, register: Int, size: Int, length: Int) {
        (self.isWrite, self.register, self.size, self.length) = (isWrite, register, size, length)
    }

    /// Decodes the instruction at `bytes` (at least three readable bytes); nil if it is not one of these.
    public init?(decoding bytes: UnsafeRawPointer) {
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
