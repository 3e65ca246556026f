/// The raw console stream's unfinished line, as the serial driver keeps it (ConsoleProtocol.writeRaw):
/// the last `capacity` bytes written since the stream's last '\n', control bytes and escape sequences
/// included. When a tagged line or a kernel line must go out while the raw stream is mid-line (a shell's
/// prompt and the user's typing), the driver erases the terminal line (`eraseLine`), prints the other line
/// on a line of its own, and sends these bytes again, so the prompt and the typing reappear below it.
/// A longer unfinished line is redrawn from its last 256 bytes only (a cut escape sequence may then
/// show as text). Bounded, no heap: the stream's writer never makes the driver allocate.
public struct RawConsoleLine {
    public static let capacity = 256
    /// Carriage return, then ESC [ K (erase to the end of the line): the terminal line is empty again.
    public static let eraseLine: (UInt8, UInt8, UInt8, UInt8) = (0x0D, 0x1B, UInt8(ascii: "["), UInt8(ascii: "K"))

    private var storage = InlineArray<256, UInt8>(repeating: 0)
    /// Where the oldest kept byte is, and how many are kept.
    private var start = 0
    public private(set) var count = 0

    public init() {}

    /// Whether the raw stream is in the middle of a line (another line must then make room first).
    public var isMidLine: Bool { count > 0 }

    /// The scratch-register state the raw stream leaves (ConsoleProtocol.scratchRegister): mid-line while
    /// it has an unfinished line, so a kernel line starts on a line of its own.
    public var scratchState: UInt8 { isMidLine ? ConsoleProtocol.midLine : ConsoleProtocol.betweenLines }

    /// Notes one byte the raw stream sent: '\n' ends the line; otherwise the byte is kept, the oldest
    /// dropped when `capacity` are kept.
    public mutating func append(_ byte: UInt8) {
        if byte == 0x0A {
            start = 0
            count = 0
        } else if count < Self.capacity {
            storage[(start + count) % Self.capacity] = byte
            count += 1
        } else {
            storage[start] = byte
            start = (start + 1) % Self.capacity
        }
    }

    /// Kept byte `index` (0 ..< count), oldest first.
    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count)
        return storage[(start + index) % Self.capacity]
    }

    /// The kept bytes, oldest first: what a redraw sends again.
    public func forEachByte(_ body: (UInt8) -> Void) {
        for index in 0..<count { body(storage[(start + index) % Self.capacity]) }
    }
}
