/// The boot's verdict token: what makes the kernel's verdict lines (`kernel: powering off: ...`,
/// `KERNEL PANIC ...`, `kernel: halted`) believable to the run harness. Tags once kept tasks from
/// starting an untagged line, but the console's raw stream (a guest's shell) writes any bytes it likes,
/// so a guest could print such a line. The build puts a fresh random token on the kernel's command line
/// (`verdict=` and 16 hexadecimal digits); the kernel ends each verdict line with ` (verdict TOKEN)`,
/// and the harness believes only lines that end so. No task or guest can read the kernel's command line
/// or the console's output, so none can learn the token.
public enum VerdictToken {
    /// The command-line option's name.
    public static let option: StaticString = "verdict"
    public static let digits = 16
    /// What goes before the token on a verdict line; `)` follows it.
    public static let suffixStart: StaticString = " (verdict "

    /// The token in an option's value: exactly 16 lowercase hexadecimal digits, else nil.
    public static func parse(_ value: ByteString) -> UInt64? {
        guard value.bytes.count == digits else { return nil }
        var token: UInt64 = 0
        for byte in value.bytes {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            token = token << 4 | UInt64(nibble)
        }
        return token
    }

    /// Calls `body` with each byte of ` (verdict TOKEN)`.
    public static func forEachSuffixByte(_ token: UInt64, _ body: (UInt8) -> Void) {
        suffixStart.withUTF8Buffer { for byte in $0 { body(byte) } }
        for position in stride(from: digits - 1, through: 0, by: -1) {
            let nibble = UInt8((token >> (UInt64(position) * 4)) & 0xF)
            body(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
        }
        body(UInt8(ascii: ")"))
    }
}
