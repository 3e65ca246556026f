import XCTest
@testable import KernelCore
@testable import SwiftletABI

/// Page tables in a dictionary: table address → 512 entries.
final class FakeTables: PageTableMemory {
    var tables: [PhysicalAddress: [PageTableEntry]] = [:]
    var next: PhysicalAddress = 0x10_0000
    var budget = Int.max

    init() { tables[0x1000] = Array(repeating: .empty, count: 512) }

    func entry(in table: PhysicalAddress, at index: Int) -> PageTableEntry { tables[table]![index] }
    func setEntry(in table: PhysicalAddress, at index: Int, to entry: PageTableEntry) { tables[table]![index] = entry }
    func allocateTable() -> PhysicalAddress? {
        guard budget > 0 else { return nil }
        budget -= 1
        next += 0x1000
        tables[next] = Array(repeating: .empty, count: 512)
        return next
    }
}

final class PageTableTests: XCTestCase {
    func testLeafEncodingFollowsTheAttributes() {
        let text = PageTableEntry.leaf(0x20_0000, size: .size4K, attributes: .kernelText)
        XCTAssertEqual(text.raw, 0x20_0000 | PageTableEntry.present | PageTableEntry.global)
        let data = PageTableEntry.leaf(0x20_0000, size: .size2M, attributes: .kernelData)
        XCTAssertEqual(data.raw, 0x20_0000 | PageTableEntry.present | PageTableEntry.writable | PageTableEntry.global
                       | PageTableEntry.largePage | PageTableEntry.noExecute)
        let device = PageTableEntry.leaf(0xFEE0_0000, size: .size4K, attributes: .kernelDevice)
        XCTAssertNotEqual(device.raw & PageTableEntry.cacheDisable, 0)
        XCTAssertNotEqual(device.raw & PageTableEntry.writeThrough, 0)
        let user = PageTableEntry.leaf(0x1000, size: .size4K, attributes: MappingAttributes(access: .read, user: true))
        XCTAssertEqual(user.raw, 0x1000 | PageTableEntry.present | PageTableEntry.user | PageTableEntry.noExecute)
        for attributes in [MappingAttributes.kernelText, .kernelReadOnly, .kernelData, .kernelDevice] {
            XCTAssertFalse(attributes.access.isWritable && attributes.access.isExecutable, "kernel mappings are W^X")
            XCTAssertEqual(PageTableEntry.leaf(0x1000, size: .size4K, attributes: attributes).attributes, attributes)
        }
    }

    func testIndicesPerLevel() {
        let address: VirtualAddress = 0xFFFF_FFFF_8020_1000
        XCTAssertEqual(pageTableIndex(address, level: 4), 511)
        XCTAssertEqual(pageTableIndex(address, level: 3), 510)
        XCTAssertEqual(pageTableIndex(address, level: 2), 1)
        XCTAssertEqual(pageTableIndex(address, level: 1), 1)
    }

    func testMapAndTranslate() throws {
        var builder = PageTableBuilder(root: 0x1000, memory: FakeTables())
        try builder.map(0xFFFF_FFFF_8020_0000, to: 0x20_0000, size: .size4K, attributes: .kernelText)
        try builder.map(0xFFFF_8000_0000_0000, to: 0, size: .size2M, attributes: .kernelData)
        let text = builder.translate(0xFFFF_FFFF_8020_0123)
        XCTAssertEqual(text?.physical, 0x20_0123)
        XCTAssertEqual(text?.attributes, .kernelText)
        XCTAssertEqual(text?.size, .size4K)
        XCTAssertEqual(builder.translate(0xFFFF_8000_001F_FFFF)?.physical, 0x1F_FFFF)
        XCTAssertEqual(builder.translate(0xFFFF_8000_001F_FFFF)?.size, .size2M)
        XCTAssertNil(builder.translate(0xFFFF_8000_0020_0000))
        XCTAssertNil(builder.translate(0))
        // Intermediate kernel tables never carry the user bit.
        let pml4 = builder.memory.entry(in: 0x1000, at: 511)
        XCTAssertEqual(pml4.raw & PageTableEntry.user, 0)
    }

    func testUserLeavesMakeTheWalkUserAccessible() throws {
        var builder = PageTableBuilder(root: 0x1000, memory: FakeTables())
        try builder.map(0x40_0000, to: 0x80_0000, size: .size4K, attributes: MappingAttributes(access: .readExecute, user: true))
        var table: PhysicalAddress = 0x1000
        for level in stride(from: 4, to: 1, by: -1) {
            let entry = builder.memory.entry(in: table, at: pageTableIndex(0x40_0000, level: level))
            XCTAssertNotEqual(entry.raw & PageTableEntry.user, 0, "level \(level)")
            table = entry.address
        }
    }

    func testMappingErrors() throws {
        var builder = PageTableBuilder(root: 0x1000, memory: FakeTables())
        try builder.map(0x20_0000, to: 0x20_0000, size: .size2M, attributes: .kernelData)
        XCTAssertThrowsError(try builder.map(0x20_0000, to: 0x40_0000, size: .size2M, attributes: .kernelData)) {
            XCTAssertEqual($0 as? MappingError, .alreadyMapped)
        }
        XCTAssertThrowsError(try builder.map(0x20_1000, to: 0x1000, size: .size4K, attributes: .kernelData)) {
            XCTAssertEqual($0 as? MappingError, .conflictingPageSize)
        }
        XCTAssertThrowsError(try builder.map(0x1000, to: 0x1800, size: .size4K, attributes: .kernelData)) {
            XCTAssertEqual($0 as? MappingError, .misaligned)
        }
        XCTAssertThrowsError(try builder.map(0x0000_8000_0000_0000, to: 0, size: .size4K, attributes: .kernelData)) {
            XCTAssertEqual($0 as? MappingError, .nonCanonical)
        }
        try builder.map(0x60_0000, to: 0x60_0000, size: .size4K, attributes: .kernelData)
        XCTAssertThrowsError(try builder.map(0x60_0000, to: 0x60_0000, size: .size2M, attributes: .kernelData)) {
            XCTAssertEqual($0 as? MappingError, .conflictingPageSize)
        }
        builder.memory.budget = 0
        XCTAssertThrowsError(try builder.map(0x7F00_0000_0000, to: 0, size: .size4K, attributes: .kernelData)) {
            XCTAssertEqual($0 as? MappingError, .outOfMemory)
        }
    }

    func testMapRangeUsesTheLargestPagesThatFit() throws {
        let memory = FakeTables()
        var builder = PageTableBuilder(root: 0x1000, memory: memory)
        // 4 KiB up to the first 2 MiB boundary, 2 MiB pages, then a 4 KiB tail.
        try builder.mapRange(0x1F_F000, to: 0x1F_F000, length: 0x1000 + 0x40_0000 + 0x1000, attributes: .kernelData)
        XCTAssertEqual(builder.translate(0x1F_F000)?.size, .size4K)
        XCTAssertEqual(builder.translate(0x20_0000)?.size, .size2M)
        XCTAssertEqual(builder.translate(0x40_0000)?.size, .size2M)
        XCTAssertEqual(builder.translate(0x60_0000)?.size, .size4K)
        XCTAssertNil(builder.translate(0x60_1000))
        try builder.mapRange(0x4000_0000, to: 0x4000_0000, length: 0x4000_0000, attributes: .kernelData, largestPage: .size1G)
        XCTAssertEqual(builder.translate(0x7FFF_FFFF)?.size, .size1G)
        XCTAssertThrowsError(try builder.mapRange(0x1000, to: 0x1000, length: 0x800, attributes: .kernelData))
    }
}

final class FrameAllocatorTests: XCTestCase {
    /// Runs `body` with an allocator over `frames` frames whose bitmap lives in test-owned memory.
    func withAllocator(frames: UInt64, _ body: (inout FrameAllocator) -> Void) {
        let storage = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: FrameAllocator.bitmapWords(forFrames: frames))
        defer { storage.deallocate() }
        var allocator = FrameAllocator(bitmap: storage, frameLimit: frames)
        body(&allocator)
    }

    func testCountsFreeAndReservedFramesExactly() {
        withAllocator(frames: 1024) { allocator in
            XCTAssertEqual(allocator.freeFrames, 0)
            allocator.addFree(PhysicalRange(start: 0x800, end: 0x10_0800))   // partial frames at both ends are not usable
            XCTAssertEqual(allocator.freeFrames, 255)
            XCTAssertFalse(allocator.isFree(address: 0))
            XCTAssertTrue(allocator.isFree(address: 0x1000))
            XCTAssertFalse(allocator.isFree(address: 0x10_0000))
            allocator.reserve(PhysicalRange(start: 0x2800, end: 0x3001))     // touches frames 2 and 3
            XCTAssertEqual(allocator.freeFrames, 253)
            allocator.reserve(PhysicalRange(start: 0x2000, end: 0x4000))     // already reserved: no double count
            XCTAssertEqual(allocator.freeFrames, 253)
            allocator.addFree(PhysicalRange(start: 0x1000, end: 0x2000))     // already free
            XCTAssertEqual(allocator.freeFrames, 253)
            allocator.addFree(PhysicalRange(start: 0, end: 0x1_0000_0000))   // clipped to the frame limit
            XCTAssertEqual(allocator.freeFrames, 1024)
            allocator.reserve(PhysicalRange(start: 63 * 0x1000, end: 129 * 0x1000))  // across word boundaries
            XCTAssertEqual(allocator.freeFrames, 1024 - 66)
            XCTAssertTrue(allocator.isFree(address: 62 * 0x1000))
            XCTAssertFalse(allocator.isFree(address: 64 * 0x1000))
            XCTAssertTrue(allocator.isFree(address: 129 * 0x1000))
        }
    }

    func testAllocatesEveryFreeFrameOnceThenRunsOut() {
        withAllocator(frames: 200) { allocator in
            allocator.addFree(PhysicalRange(start: 0, end: 200 * 0x1000))
            allocator.reserve(PhysicalRange(start: 0x5000, end: 0x6000))
            var seen = Set<PhysicalAddress>()
            while let frame = allocator.allocate() {
                let address = frame.adopt()
                XCTAssertEqual(address % 0x1000, 0)
                XCTAssertNotEqual(address, 0x5000)
                XCTAssertTrue(seen.insert(address).inserted)
            }
            XCTAssertEqual(seen.count, 199)
            XCTAssertEqual(allocator.freeFrames, 0)
            allocator.release(0x7000)
            guard let again = allocator.allocate() else { return XCTFail("a released frame can be allocated again") }
            let address = again.address
            allocator.free(again)
            XCTAssertEqual(address, 0x7000)
            XCTAssertEqual(allocator.freeFrames, 1)
        }
    }

    func testEmptyAllocatorHasNothing() {
        var allocator = FrameAllocator()
        if let frame = allocator.allocate() {
            let address = frame.adopt()
            XCTFail("allocated \(address) from nothing")
        }
    }
}

final class ReservedRangesTests: XCTestCase {
    let map = [MemoryRegion(range: PhysicalRange(start: 0, end: 0x9_F000), kind: .usable),
               MemoryRegion(range: PhysicalRange(start: 0x10_0000, end: 0x800_0000), kind: .usable),
               MemoryRegion(range: PhysicalRange(start: 0x800_0000, end: 0x900_0000), kind: .reserved)]

    func testFindsRoomAroundReservations() {
        var reserved = ReservedRanges()
        reserved.add(PhysicalRange(start: 0x10_0000, end: 0x20_0000))
        reserved.add(PhysicalRange(start: 0x20_0000, end: 0x20_3456))
        XCTAssertEqual(reserved.findFree(size: 0x2000, alignment: 0x1000, floor: 0x10_0000, ceiling: .max, in: map), 0x20_4000)
        XCTAssertEqual(reserved.findFree(size: 0x2000, alignment: 0x1000, floor: 0, ceiling: .max, in: map), 0)
        XCTAssertNil(reserved.findFree(size: 0x800_0000, alignment: 0x1000, floor: 0, ceiling: .max, in: map))
        XCTAssertNil(reserved.findFree(size: 0x2000, alignment: 0x1000, floor: 0x10_0000, ceiling: 0x20_5000, in: map))
        XCTAssertEqual(reserved.firstOverlap(with: PhysicalRange(start: 0x1F_F000, size: 0x2000)), PhysicalRange(start: 0x10_0000, end: 0x20_0000))
    }

    func testCapacityIsReported() {
        var reserved = ReservedRanges()
        for i in 0..<ReservedRanges.capacity { XCTAssertTrue(reserved.add(PhysicalRange(start: UInt64(i) * 0x1000, size: 0x1000))) }
        XCTAssertFalse(reserved.add(PhysicalRange(start: 0x100_0000, size: 0x1000)))
        XCTAssertTrue(reserved.add(PhysicalRange(start: 5, end: 5)), "empty ranges take no slot")
    }

    func testAlignment() {
        XCTAssertEqual(alignUp(0x1001, 0x1000), 0x2000)
        XCTAssertEqual(alignUp(0x1000, 0x1000), 0x1000)
        XCTAssertEqual(alignUp(UInt64.max - 5, 0x1000), alignDown(UInt64.max, 0x1000))
        XCTAssertEqual(alignDown(0x1FFF, 0x1000), 0x1000)
        XCTAssertEqual(PhysicalRange(start: UInt64.max - 1, size: 10).end, UInt64.max)
    }
}

final class PageTableUnmapTests: XCTestCase {
    func testUnmapAndProtect() throws {
        var builder = PageTableBuilder(root: 0x1000, memory: FakeTables())
        try builder.map(0x40_0000, to: 0x80_0000, size: .size4K, attributes: MappingAttributes(access: .readWrite, user: true))
        XCTAssertTrue(builder.protect(0x40_0000, attributes: MappingAttributes(access: .read, user: true)))
        XCTAssertEqual(builder.translate(0x40_0000)?.attributes.access, .read)
        XCTAssertEqual(builder.translate(0x40_0000)?.physical, 0x80_0000)
        XCTAssertEqual(builder.unmap(0x40_0000)?.address, 0x80_0000)
        XCTAssertNil(builder.translate(0x40_0000))
        XCTAssertNil(builder.unmap(0x40_0000), "nothing left to unmap")
        XCTAssertFalse(builder.protect(0x40_0000, attributes: .kernelData))
        try builder.map(0x40_0000, to: 0x90_0000, size: .size4K, attributes: MappingAttributes(access: .read, user: true))
        XCTAssertEqual(builder.translate(0x40_0000)?.physical, 0x90_0000, "the slot can be reused")
    }
}

final class PageTableWalkTests: XCTestCase {
    func testForEachPageVisitsOnlyWhatIsMapped() throws {
        var builder = PageTableBuilder(root: 0x1000, memory: FakeTables())
        let pages: [VirtualAddress] = [0x40_0000, 0x40_1000, 0x7F00_0000_0000, 0x7FFF_FFFF_E000, 0x1000]
        for (index, page) in pages.enumerated() {
            try builder.map(page, to: UInt64(index + 1) * 0x10_0000, size: .size4K, attributes: MappingAttributes(access: .read, user: true))
        }
        var seen: [VirtualAddress] = []
        builder.forEachPage(from: 0, to: KernelAddressSpace.userSpaceEnd) { virtual, _ in seen.append(virtual) }
        XCTAssertEqual(seen, pages.sorted())
        seen = []
        builder.forEachPage(from: 0x40_1000, to: 0x7F00_0000_1000) { virtual, entry in
            seen.append(virtual)
            XCTAssertTrue(entry.isPresent)
        }
        XCTAssertEqual(seen, [0x40_1000, 0x7F00_0000_0000])
    }
}
