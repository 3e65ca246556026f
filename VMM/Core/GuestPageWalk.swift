/// Guest-virtual to guest-physical through the guest's 4-level page tables (4 KiB, 2 MiB and 1 GiB
/// pages), reading table entries with `load` (nil: not in guest RAM). Used to fetch the instruction
/// behind an MMIO exit.
public enum GuestPageWalk {
    static let addressBits: UInt64 = 0x000F_FFFF_FFFF_F000

    public static func translate(_ virtual: UInt64, cr3: UInt64, load: (UInt64) -> UInt64?) -> UInt64? {
        var table = cr3 & addressBits
        for level in stride(from: 3, through: 0, by: -1) {
            let index = (virtual >> (12 + 9 * UInt64(level))) & 0x1FF
            guard let entry = load(table + index * 8), entry & 1 != 0 else { return nil }
            let address = entry & addressBits
            if level == 0 { return address | (virtual & 0xFFF) }
            if (level == 1 || level == 2) && entry & 0x80 != 0 {
                let offsetMask: UInt64 = level == 1 ? 0x1F_FFFF : 0x3FFF_FFFF
                return (address & ~offsetMask) | (virtual & offsetMask)
            }
            table = address
        }
        return nil
    }

    /// The first `count` bytes of the instruction at guest-virtual `rip` into `buffer`, each byte through
    /// its own translation (an instruction may cross into a page mapped elsewhere); false if one is not in
    /// guest RAM. `loadByte` reads guest-physical memory (nil: outside guest RAM).
    public static func fetch(_ count: Int, at rip: UInt64, cr3: UInt64, into buffer: UnsafeMutablePointer<UInt8>,
                             load: (UInt64) -> UInt64?, loadByte: (UInt64) -> UInt8?) -> Bool {
        fetchAvailable(count, at: rip, cr3: cr3, into: buffer, load: load, loadByte: loadByte) >= count
    }

    /// As `fetch`, but stops at the first byte that is not in guest RAM and returns how many came: an
    /// instruction may end right before an unmapped page, so a decoder gets what is there (up to its 15
    /// bytes) and refuses it if it is cut short.
    public static func fetchAvailable(_ count: Int, at rip: UInt64, cr3: UInt64, into buffer: UnsafeMutablePointer<UInt8>,
                                      load: (UInt64) -> UInt64?, loadByte: (UInt64) -> UInt8?) -> Int {
        var offset = 0
        while offset < count {
            guard let physical = translate(rip &+ UInt64(truncatingIfNeeded: offset), cr3: cr3, load: load),
                  let byte = loadByte(physical) else { break }
            buffer[offset] = byte
            offset += 1
        }
        return offset
    }
}
