import SwiftletABI

/// Up to 64 physical ranges that are in use at boot (kernel image, boot information, modules, …).
/// Fixed capacity because it exists before any allocator does.
public struct ReservedRanges {
    public static let capacity = 64
    private var storage = InlineArray<64, PhysicalRange>(repeating: PhysicalRange(start: 0, end: 0))
    public private(set) var count = 0

    public init() {}

    /// Adds a range; returns false when full (the caller treats that as a fatal boot error).
    @discardableResult
    public mutating func add(_ range: PhysicalRange) -> Bool {
        guard !range.isEmpty else { return true }
        guard count < ReservedRanges.capacity else { return false }
        storage[count] = range
        count += 1
        return true
    }

    public subscript(index: Int) -> PhysicalRange { storage[index] }

    /// The end of the first reserved range that overlaps `range`, if any.
    public func firstOverlap(with range: PhysicalRange) -> PhysicalRange? {
        for index in 0..<count where storage[index].overlaps(range) { return storage[index] }
        return nil
    }

    /// The lowest `alignment`-aligned address at or above `floor` inside one of the `usable` regions where
    /// `size` bytes overlap no reserved range and end at or below `ceiling`.
    public func findFree<Regions: Sequence>(size: UInt64, alignment: UInt64, floor: PhysicalAddress,
                                            ceiling: PhysicalAddress, in usable: Regions) -> PhysicalAddress?
    where Regions.Element == MemoryRegion {
        for region in usable where region.kind == .usable {
            var candidate = alignUp(max(region.range.start, floor), alignment)
            while candidate < region.range.end, region.range.end - candidate >= size, candidate + size <= ceiling {
                let wanted = PhysicalRange(start: candidate, size: size)
                guard let blocker = firstOverlap(with: wanted) else { return candidate }
                candidate = alignUp(blocker.end, alignment)
            }
        }
        return nil
    }
}
