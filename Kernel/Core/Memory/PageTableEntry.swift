import SwiftletABI

/// An x86-64 4-level paging entry (Intel SDM vol. 3, 4.5). The same layout serves every level; `isLeaf`
/// tells a mapping from a pointer to the next table.
public struct PageTableEntry: Equatable, Sendable {
    public var raw: UInt64

    public static let present: UInt64 = 1 << 0
    public static let writable: UInt64 = 1 << 1
    public static let user: UInt64 = 1 << 2
    public static let writeThrough: UInt64 = 1 << 3
    public static let cacheDisable: UInt64 = 1 << 4
    public static let accessed: UInt64 = 1 << 5
    public static let dirty: UInt64 = 1 << 6
    public static let largePage: UInt64 = 1 << 7
    public static let global: UInt64 = 1 << 8
    public static let noExecute: UInt64 = 1 << 63
    /// Bits 12..51: the physical frame (4 KiB tables and pages; large pages use the high part of it).
    public static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    public static let empty = PageTableEntry(raw: 0)

    public init(raw: UInt64) {
        self.raw = raw
    }

    /// A pointer to the next-level table. Intermediate entries grant everything; leaves restrict.
    public static func table(at address: PhysicalAddress, user: Bool) -> PageTableEntry {
        precondition(address & 0xFFF == 0, "page table not page-aligned")
        return PageTableEntry(raw: address | present | writable | (user ? PageTableEntry.user : 0))
    }

    /// A mapping of one page of `size` at `address` with `attributes`.
    public static func leaf(_ address: PhysicalAddress, size: PageSize, attributes: MappingAttributes) -> PageTableEntry {
        precondition(address & (size.bytes - 1) == 0, "frame not aligned to its page size")
        var raw = address | present
        if attributes.access.isWritable { raw |= writable }
        if !attributes.access.isExecutable { raw |= noExecute }
        if attributes.user { raw |= user }
        if attributes.global { raw |= global }
        if attributes.cache == .uncached { raw |= cacheDisable | writeThrough }
        if size != .size4K { raw |= largePage }
        return PageTableEntry(raw: raw)
    }

    public var isPresent: Bool { raw & PageTableEntry.present != 0 }
    public var address: PhysicalAddress { raw & PageTableEntry.addressMask }

    /// At level 1 every present entry maps a page; at levels 2 and 3 only those with the PS bit.
    public func isLeaf(level: Int) -> Bool {
        isPresent && (level == 1 || (raw & PageTableEntry.largePage != 0))
    }

    /// The attributes a leaf grants (meaningless for table pointers).
    public var attributes: MappingAttributes {
        let write = raw & PageTableEntry.writable != 0
        let execute = raw & PageTableEntry.noExecute == 0
        let access: MemoryAccess = write ? (execute ? .readWriteExecute : .readWrite) : (execute ? .readExecute : .read)
        return MappingAttributes(
            access: access,
            user: raw & PageTableEntry.user != 0,
            global: raw & PageTableEntry.global != 0,
            cache: raw & PageTableEntry.cacheDisable != 0 ? .uncached : .writeBack)
    }
}

/// What a mapping allows. Kernel mappings never use `.readWriteExecute` (W^X, checked by the kernel's
/// page-table setup); it exists because a guest or a JIT-ing task may legitimately ask for it later.
public enum MemoryAccess: Equatable, Sendable {
    case read, readWrite, readExecute, readWriteExecute

    public var isWritable: Bool { self == .readWrite || self == .readWriteExecute }
    public var isExecutable: Bool { self == .readExecute || self == .readWriteExecute }
}

public enum CachePolicy: Equatable, Sendable {
    case writeBack
    /// Device registers: no caching, no write combining.
    case uncached
}

public struct MappingAttributes: Equatable, Sendable {
    public var access: MemoryAccess
    public var user: Bool
    public var global: Bool
    public var cache: CachePolicy

    public init(access: MemoryAccess, user: Bool = false, global: Bool = false, cache: CachePolicy = .writeBack) {
        self.access = access
        self.user = user
        self.global = global
        self.cache = cache
    }

    public static let kernelText = MappingAttributes(access: .readExecute, global: true)
    public static let kernelReadOnly = MappingAttributes(access: .read, global: true)
    public static let kernelData = MappingAttributes(access: .readWrite, global: true)
    public static let kernelDevice = MappingAttributes(access: .readWrite, global: true, cache: .uncached)
}

/// Index of `address` in the table of `level` (4 = PML4 … 1 = PT).
@inline(__always) public func pageTableIndex(_ address: VirtualAddress, level: Int) -> Int {
    Int((address >> (12 + 9 * UInt64(level - 1))) & 0x1FF)
}
