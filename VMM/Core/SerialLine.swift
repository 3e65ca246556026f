import SwiftletABI

/// The guest's serial output gathered into console lines: a line ends at a newline or when it holds
/// `limit` bytes (so a line without one still comes out whole-ish, never split mid-way at random);
/// carriage returns and other control bytes are dropped, so nothing the guest sends can forge a line
/// break or move the console's cursor.
public struct SerialLine {
    public static let limit = 200
    public private(set) var line = LogLine()
    public private(set) var ready = false

    public init() {}

    /// Adds one byte; true when a line is complete (take it before the next byte).
    public mutating func put(_ byte: UInt8) -> Bool {
        if ready { ready = false; line = LogLine() }
        if byte == 10 {
            ready = true
            return true
        }
        if byte == 9 || (byte >= 0x20 && byte < 0x7F) { line.append(byte) }
        if line.count >= Self.limit { ready = true }
        return ready
    }

    /// The complete line; the next byte starts a new one.
    public mutating func take() -> LogLine {
        let taken = line
        line = LogLine()
        ready = false
        return taken
    }

    /// What is buffered without a newline (at power-off).
    public var pending: Bool { !ready && line.count > 0 }
}
