/// A task's console name. The kernel prefixes every line a task writes with `[name] ` (and the serial
/// driver its clients' lines the same way), while the kernel's own lines never start with `[`: so a task's
/// lines stay apart from the kernel's. (The console's raw stream, for a guest's shell, is untagged: the
/// run harness trusts only verdict lines with the boot's token, VerdictToken.swift.) Names are set by
/// the holder of the machine capability (`MachineOperation.nameTask`); an unnamed task prints as `[task]`.
public struct TaskName {
    public static let capacity = 16

    private var bytes = InlineArray<16, UInt8>(repeating: 0)
    public private(set) var count = 0

    public init() {}

    /// A name the kernel gives (`roottask`, `sigma0`); cut at `capacity`, bytes that are not allowed become `?`.
    public init(_ text: StaticString) {
        text.withUTF8Buffer { buffer in
            for byte in buffer.prefix(TaskName.capacity) { append(TaskName.allowed(byte) ? byte : UInt8(ascii: "?")) }
        }
    }

    /// `length` bytes packed little-endian in `low` then `high`; nil unless the length is 1-16 and every
    /// byte is allowed.
    public init?(length: UInt64, _ low: UInt64, _ high: UInt64) {
        guard length >= 1, length <= UInt64(TaskName.capacity) else { return nil }
        for index in 0..<Int(length) {
            let byte = UInt8(truncatingIfNeeded: (index < 8 ? low : high) >> (UInt64(index % 8) * 8))
            guard TaskName.allowed(byte) else { return nil }
            append(byte)
        }
    }

    /// Letters, digits and the other characters of device-tree node names: nothing that could close the
    /// tag, end the line or hide in it (no space, `[`, `]`, control characters).
    public static func allowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: ","), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "@"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count)
        return bytes[index]
    }

    /// `line` as the console shows it: `[name] line`, or `[task] line` for an unnamed task.
    public func tag(_ line: LogLine) -> LogLine {
        var tagged: LogLine = "["
        if count == 0 { tagged.append("task") }
        for index in 0..<count { tagged.append(bytes[index]) }
        tagged.append("] ")
        line.forEachByte { tagged.append($0) }
        return tagged
    }

    private mutating func append(_ byte: UInt8) {
        guard count < TaskName.capacity else { return }
        bytes[count] = byte
        count += 1
    }
}
