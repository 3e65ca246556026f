import SwiftletABI

/// Where page tables live. The kernel reaches tables through its direct map; host tests use a dictionary.
public protocol PageTableMemory {
    func entry(in table: PhysicalAddress, at index: Int) -> PageTableEntry
    func setEntry(in table: PhysicalAddress, at index: Int, to entry: PageTableEntry)
    /// A new, zeroed, page-aligned table, or nil when memory is exhausted.
    mutating func allocateTable() -> PhysicalAddress?
}

public enum MappingError: Error, Equatable {
    case outOfMemory
    case alreadyMapped
    case misaligned
    case nonCanonical
    /// A smaller mapping was asked for inside an existing large page (or the reverse).
    case conflictingPageSize

    public var description: StaticString {
        switch self {
        case .outOfMemory: return "out of memory for page tables"
        case .alreadyMapped: return "address already mapped"
        case .misaligned: return "address not aligned to the page size"
        case .nonCanonical: return "non-canonical virtual address"
        case .conflictingPageSize: return "conflicts with a mapping of another page size"
        }
    }
}

/// Builds and queries one 4-level address space rooted at `root` (a PML4).
public struct PageTableBuilder<Memory: PageTableMemory> {
    public let root: PhysicalAddress
    public var memory: Memory

    public init(root: PhysicalAddress, memory: Memory) {
        self.root = root
        self.memory = memory
    }

    /// Maps one page. Intermediate tables are created as needed and carry the user bit if the leaf does.
    public mutating func map(_ virtual: VirtualAddress, to physical: PhysicalAddress, size: PageSize,
                             attributes: MappingAttributes) throws(MappingError) {
        guard KernelAddressSpace.isCanonical(virtual) else { throw .nonCanonical }
        guard virtual & (size.bytes - 1) == 0, physical & (size.bytes - 1) == 0 else { throw .misaligned }
        var table = root
        var level = 4
        while level > size.level {
            let index = pageTableIndex(virtual, level: level)
            let entry = memory.entry(in: table, at: index)
            if !entry.isPresent {
                guard let next = memory.allocateTable() else { throw .outOfMemory }
                memory.setEntry(in: table, at: index, to: .table(at: next, user: attributes.user))
                table = next
            } else if entry.isLeaf(level: level) {
                throw .conflictingPageSize
            } else {
                if attributes.user && entry.raw & PageTableEntry.user == 0 {
                    memory.setEntry(in: table, at: index, to: PageTableEntry(raw: entry.raw | PageTableEntry.user))
                }
                table = entry.address
            }
            level -= 1
        }
        let index = pageTableIndex(virtual, level: level)
        let existing = memory.entry(in: table, at: index)
        if existing.isPresent {
            throw existing.isLeaf(level: level) ? .alreadyMapped : .conflictingPageSize
        }
        memory.setEntry(in: table, at: index, to: .leaf(physical, size: size, attributes: attributes))
    }

    /// Maps [virtual, virtual + length) to consecutive physical memory with the largest pages that fit.
    public mutating func mapRange(_ virtual: VirtualAddress, to physical: PhysicalAddress, length: UInt64,
                                  attributes: MappingAttributes, largestPage: PageSize = .size2M) throws(MappingError) {
        guard virtual & 0xFFF == 0, physical & 0xFFF == 0, length & 0xFFF == 0 else { throw .misaligned }
        var offset: UInt64 = 0
        while offset < length {
            let v = virtual + offset, p = physical + offset, remaining = length - offset
            func fits(_ candidate: PageSize) -> Bool {
                candidate.bytes <= largestPage.bytes && remaining >= candidate.bytes
                    && v & (candidate.bytes - 1) == 0 && p & (candidate.bytes - 1) == 0
            }
            let size: PageSize = fits(.size1G) ? .size1G : fits(.size2M) ? .size2M : .size4K
            try map(v, to: p, size: size, attributes: attributes)
            offset += size.bytes
        }
    }

    /// Removes the 4 KiB mapping of `virtual` and returns what it was (nil if there was none). Page tables
    /// left empty stay in place for the next mapping.
    @discardableResult
    public mutating func unmap(_ virtual: VirtualAddress) -> PageTableEntry? {
        guard let (table, index) = leafSlot(virtual) else { return nil }
        let old = memory.entry(in: table, at: index)
        memory.setEntry(in: table, at: index, to: .empty)
        return old
    }

    /// Changes the attributes of the 4 KiB mapping of `virtual`; false if it is not mapped.
    public mutating func protect(_ virtual: VirtualAddress, attributes: MappingAttributes) -> Bool {
        guard let (table, index) = leafSlot(virtual) else { return false }
        let old = memory.entry(in: table, at: index)
        memory.setEntry(in: table, at: index, to: .leaf(old.address, size: .size4K, attributes: attributes))
        return true
    }

    /// Calls `body` with every present 4 KiB leaf in [start, end), skipping absent tables whole: the cost
    /// follows what is mapped, not the size of the range.
    public func forEachPage(from start: VirtualAddress, to end: VirtualAddress, _ body: (VirtualAddress, PageTableEntry) -> Void) {
        walk(table: root, level: 4, base: 0, start: start, end: end, body)
    }

    /// Calls `body` with every page table below the root reached through root entries `entries` (the
    /// user half of an address space being torn down), children before the table that points to them.
    /// The root itself is not included, nor anything behind a large-page leaf.
    public func forEachTable(underRootEntries entries: Range<Int>, _ body: (PhysicalAddress) -> Void) {
        for index in entries {
            let entry = memory.entry(in: root, at: index)
            guard entry.isPresent, !entry.isLeaf(level: 4) else { continue }
            forEachTable(entry.address, level: 3, body)
        }
    }

    private func forEachTable(_ table: PhysicalAddress, level: Int, _ body: (PhysicalAddress) -> Void) {
        if level > 1 {
            for index in 0..<512 {
                let entry = memory.entry(in: table, at: index)
                guard entry.isPresent, !entry.isLeaf(level: level) else { continue }
                forEachTable(entry.address, level: level - 1, body)
            }
        }
        body(table)
    }

    private func walk(table: PhysicalAddress, level: Int, base: VirtualAddress, start: VirtualAddress, end: VirtualAddress,
                      _ body: (VirtualAddress, PageTableEntry) -> Void) {
        let span: UInt64 = 1 << (12 + 9 * UInt64(level - 1))
        for index in 0..<512 {
            let low = base + UInt64(index) * span
            if low >= end { return }
            if low + span <= start { continue }
            let entry = memory.entry(in: table, at: index)
            guard entry.isPresent else { continue }
            if level == 1 {
                body(low, entry)
            } else if !entry.isLeaf(level: level) {
                walk(table: entry.address, level: level - 1, base: low, start: start, end: end, body)
            }
        }
    }

    /// The page table and index of the present 4 KiB leaf for `virtual`.
    private func leafSlot(_ virtual: VirtualAddress) -> (PhysicalAddress, Int)? {
        var table = root
        var level = 4
        while level > 1 {
            let entry = memory.entry(in: table, at: pageTableIndex(virtual, level: level))
            guard entry.isPresent, !entry.isLeaf(level: level) else { return nil }
            table = entry.address
            level -= 1
        }
        let index = pageTableIndex(virtual, level: 1)
        return memory.entry(in: table, at: index).isPresent ? (table, index) : nil
    }

    /// The physical address and attributes `virtual` translates to, or nil if it is not mapped.
    public func translate(_ virtual: VirtualAddress) -> (physical: PhysicalAddress, attributes: MappingAttributes, size: PageSize)? {
        var table = root
        var level = 4
        while level >= 1 {
            let entry = memory.entry(in: table, at: pageTableIndex(virtual, level: level))
            guard entry.isPresent else { return nil }
            if entry.isLeaf(level: level) {
                let size: PageSize = level == 3 ? .size1G : level == 2 ? .size2M : .size4K
                let base = entry.address & ~(size.bytes - 1)
                return (base | (virtual & (size.bytes - 1)), entry.attributes, size)
            }
            table = entry.address
            level -= 1
        }
        return nil
    }
}
