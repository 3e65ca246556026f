/// Bounds-checked little-endian reads from a byte buffer that came from outside the kernel (boot
/// information, ELF images). Every read says whether it fitted, so a corrupt input is an error, not a fault.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public var count: Int { bytes.count }

    public func contains(offset: Int, length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= bytes.count && length <= bytes.count - offset
    }

    public func u8(_ offset: Int) -> UInt8? {
        contains(offset: offset, length: 1) ? bytes[offset] : nil
    }

    public func u16(_ offset: Int) -> UInt16? {
        contains(offset: offset, length: 2) ? UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) : nil
    }

    public func u32(_ offset: Int) -> UInt32? {
        contains(offset: offset, length: 4) ? UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) : nil
    }

    public func u64(_ offset: Int) -> UInt64? {
        contains(offset: offset, length: 8) ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) : nil
    }

    public func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer? {
        guard contains(offset: offset, length: length) else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }

    /// A NUL-terminated string starting at `offset` and ending at the NUL or at `limit` (exclusive).
    public func cString(_ offset: Int, limit: Int) -> UnsafeRawBufferPointer? {
        let end = min(limit, bytes.count)
        guard offset >= 0, offset <= end else { return nil }
        var cursor = offset
        while cursor < end && bytes[cursor] != 0 { cursor += 1 }
        return slice(offset, cursor - offset)
    }
}
