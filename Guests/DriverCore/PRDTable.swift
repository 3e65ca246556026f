/// A bus-master IDE physical region descriptor table (PIIX/PIIX3 bus-master IDE, SFF-8038i): what the
/// controller's DMA engine walks to move a command's data. Each entry is 8 bytes: the region's physical
/// address (u32, even), its byte count (u16, 0 meaning 64 KiB) and a flags word whose bit 15 marks the
/// last entry. A region may not cross a 64 KiB boundary, and the table itself must not cross one
/// (4-byte aligned, in the driver's DMA pages). Pure: the driver supplies physical addresses of its
/// buffer pages and writes the entries where the controller reads them.
public struct PRDTable {
    public static let entryBytes = 8
    public static let endOfTable: UInt16 = 0x8000

    public struct Entry: Equatable {
        public var address: UInt32
        /// Bytes, 1-65536 (65536 is written as 0).
        public var bytes: UInt32
        public var last: Bool

        public var encoded: UInt64 {
            UInt64(address) | UInt64(UInt16(truncatingIfNeeded: bytes)) << 32 | UInt64(last ? PRDTable.endOfTable : 0) << 48
        }
    }

    public enum Failure: Error, Equatable {
        case empty
        case oddAddressOrLength
        /// Above 4 GiB: the PIIX DMA engine has 32-bit addresses.
        case above4GiB
        case tooManyEntries
    }

    /// Entries for the physical `regions` (address, bytes) in order, split at every 64 KiB boundary, at
    /// most `capacity` of them.
    public static func build(_ regions: UnsafeBufferPointer<(address: UInt64, bytes: UInt64)>, capacity: Int,
                             into entries: UnsafeMutableBufferPointer<Entry>) -> Result<Int, Failure> {
        guard !regions.isEmpty else { return .failure(.empty) }
        var count = 0
        for region in regions {
            guard region.bytes > 0, region.address & 1 == 0, region.bytes & 1 == 0 else { return .failure(.oddAddressOrLength) }
            guard region.address < 1 << 32, region.bytes <= (1 << 32) - region.address else { return .failure(.above4GiB) }
            var address = region.address, left = region.bytes
            while left > 0 {
                let boundary = (address | 0xFFFF) + 1
                let piece = min(left, boundary - address)
                guard count < capacity, count < entries.count else { return .failure(.tooManyEntries) }
                entries[count] = Entry(address: UInt32(address), bytes: UInt32(piece), last: false)
                count += 1
                address += piece
                left -= piece
            }
        }
        entries[count - 1].last = true
        return .success(count)
    }
}
