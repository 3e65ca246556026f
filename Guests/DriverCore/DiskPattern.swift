/// The data the block test task writes through the driver, which the host test reads back from the disk
/// image after power-off: each 8-byte word names its sector and place, so a sector written in the wrong
/// place, or half written, does not match. One definition for both sides.
public enum DiskPattern {
    /// The word at `index` (0-63) of `sector`, stored little-endian.
    public static func word(sector: UInt64, index: UInt64) -> UInt64 {
        (sector &* 0x9E37_79B9_7F4A_7C15) ^ (index << 56) ^ 0x5357_4946_544C_4554     // "SWIFTLET"
    }

    /// The transfers the test writes, flushes and reads back (first sector, sector count), given the
    /// disk's capacity and the most sectors a request may move: one sector at the start, a few sectors,
    /// a transfer of the most sectors, and the last sector of the disk. (An index, not an array: native
    /// tasks have no heap allocator.)
    public static let transferCount = 4

    public static func transfer(_ index: Int, capacity: UInt64, maximumSectors: UInt64) -> (sector: UInt64, sectors: UInt64) {
        switch index {
        case 0: return (0, 1)
        case 1: return (1000, 8)
        case 2: return (4096, maximumSectors)
        default: return (capacity - 1, 1)
        }
    }
}
