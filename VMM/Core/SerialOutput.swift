import SwiftletABI

/// The guest's serial output on its way to the console's raw stream (ConsoleProtocol.writeRaw): bytes
/// unchanged, control characters included, so the guest's shell, line editing and Ctrl-C work. Up to one
/// message (32 bytes) is held: the VMM sends it at a newline, when it is full, and whenever the guest
/// stops writing for a while (HLT, a timer recall, the VM's end), so an echo shows at once. Fixed
/// storage: however much the guest writes, the VMM allocates nothing for it.
public struct SerialOutput {
    public static let capacity = ConsoleProtocol.chunk
    /// The held bytes, as the message words they go out in.
    public private(set) var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public private(set) var count = 0

    public init() {}

    /// Adds one byte; true when the message should go now (a newline, or full): take it before the next.
    public mutating func put(_ byte: UInt8) -> Bool {
        guard count < Self.capacity else { return true }     // a caller that did not take: never overrun
        ConsoleProtocol.setByte(&words, count, byte)
        count += 1
        return byte == 0x0A || count == Self.capacity
    }

    /// Whether bytes are held (to send before the VMM waits).
    public var pending: Bool { count > 0 }

    /// The held bytes as one message; the buffer is empty again.
    public mutating func take() -> (words: (UInt64, UInt64, UInt64, UInt64), count: Int) {
        let taken = (words, count)
        words = (0, 0, 0, 0)
        count = 0
        return taken
    }
}
