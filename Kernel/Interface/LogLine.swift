/// One line of console text, formatted without a heap: string interpolation appends straight into a
/// fixed buffer, so the kernel can log `"memory: \(mib) MiB"` before (and without) any allocator.
/// Text that does not fit is cut and marked with a trailing `~`.
public struct LogLine: ExpressibleByStringInterpolation {
    public static let capacity = 240

    public private(set) var count = 0
    private var storage = InlineArray<240, UInt8>(repeating: 0)
    private var truncated = false

    public init() {}

    public init(stringLiteral literal: StaticString) {
        append(literal)
    }

    public init(stringInterpolation: Interpolation) {
        self = stringInterpolation.line
    }

    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count)
        return storage[index]
    }

    /// Calls `body` with each byte of the line, then with `~` if it was cut.
    public func forEachByte(_ body: (UInt8) -> Void) {
        for index in 0..<count { body(storage[index]) }
        if truncated { body(UInt8(ascii: "~")) }
    }

    /// Drops everything after the first `length` bytes (to unwind a path, say).
    public mutating func truncate(to length: Int) {
        if length < count {
            count = max(0, length)
            truncated = false
        }
    }

    public mutating func append(_ byte: UInt8) {
        guard count < LogLine.capacity else {
            truncated = true
            return
        }
        storage[count] = byte
        count += 1
    }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { for byte in $0 { append(byte) } }
    }

    /// Appends bytes from outside the kernel (boot loader strings): printable ASCII as is, the rest as `?`.
    public mutating func append(_ text: ByteString) {
        for byte in text.bytes {
            append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
        }
    }

    public mutating func appendDecimal(_ value: UInt64) {
        var digits = InlineArray<20, UInt8>(repeating: 0)
        var remaining = value
        var length = 0
        repeat {
            digits[length] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
            length += 1
        } while remaining > 0
        while length > 0 {
            length -= 1
            append(digits[length])
        }
    }

    /// `0x` and at least `digits` hexadecimal digits (more if the value needs them).
    public mutating func appendHex(_ value: UInt64, digits: Int = 1) {
        append("0x")
        var width = 1
        while width < 16 && (value >> (UInt64(width) * 4)) != 0 { width += 1 }
        width = max(width, min(digits, 16))
        for position in stride(from: width - 1, through: 0, by: -1) {
            let nibble = UInt8((value >> (UInt64(position) * 4)) & 0xF)
            append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
        }
    }

    public struct Interpolation: StringInterpolationProtocol {
        var line = LogLine()

        public init(literalCapacity: Int, interpolationCount: Int) {}

        public mutating func appendLiteral(_ literal: StaticString) { line.append(literal) }
        public mutating func appendInterpolation(_ text: StaticString) { line.append(text) }
        public mutating func appendInterpolation(_ text: ByteString) { line.append(text) }

        public mutating func appendInterpolation<T: BinaryInteger>(_ value: T) {
            if value < 0 {
                line.append(UInt8(ascii: "-"))
                line.appendDecimal(0 &- UInt64(truncatingIfNeeded: Int64(truncatingIfNeeded: value)))
            } else {
                line.appendDecimal(UInt64(truncatingIfNeeded: value))
            }
        }

        public mutating func appendInterpolation<T: BinaryInteger>(hex value: T, digits: Int = 1) {
            line.appendHex(UInt64(truncatingIfNeeded: value), digits: digits)
        }

        public mutating func appendInterpolation(_ other: LogLine) {
            other.forEachByte { line.append($0) }
        }

        public mutating func appendInterpolation(yesNo value: Bool) {
            line.append(value ? "yes" : "no")
        }
    }
}

/// Bytes that came from outside (a boot loader string, a module name), printed as ASCII.
public struct ByteString {
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public func equals(_ other: ByteString) -> Bool {
        other.bytes.count == bytes.count && zip(other.bytes, bytes).allSatisfy { $0 == $1 }
    }

    public func equals(_ text: StaticString) -> Bool {
        text.withUTF8Buffer { expected in
            expected.count == bytes.count && zip(expected, bytes).allSatisfy { $0 == $1 }
        }
    }
}
