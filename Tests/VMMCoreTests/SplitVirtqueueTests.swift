@testable import VMMCore
import XCTest

/// The split virtqueue against a driver that follows the spec and against hostile rings: every malformed
/// ring is an error, never a read outside guest RAM or a chain that does not end.
final class SplitVirtqueueTests: XCTestCase {
    typealias Queue = SplitVirtqueue
    // 64 KiB of guest RAM: descriptors at 0x1000, available ring at 0x2000, used ring at 0x3000, data above.
    let ram = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x10000, alignment: 4096)
    var memory: GuestMemory { GuestMemory(base: UInt64(UInt(bitPattern: ram.baseAddress!)), bytes: UInt64(ram.count)) }
    let segments = UnsafeMutableBufferPointer<Queue.Segment>.allocate(capacity: 16)
    static let descriptors: UInt64 = 0x1000, available: UInt64 = 0x2000, used: UInt64 = 0x3000

    override func setUp() { ram.initializeMemory(as: UInt8.self, repeating: 0) }

    override func tearDown() {
        ram.deallocate()
        segments.deallocate()
    }

    func queue(size: UInt16 = 8, eventIndex: Bool = false, indirect: Bool = true) throws -> Queue {
        try Queue.configure(size: size, descriptors: Self.descriptors, available: Self.available, used: Self.used,
                            eventIndex: eventIndex, indirect: indirect, memory: memory).get()
    }

    func setDescriptor(_ index: UInt64, address: UInt64, length: UInt32, flags: UInt16 = 0, next: UInt16 = 0,
                       table: UInt64 = SplitVirtqueueTests.descriptors) {
        let entry = ram.baseAddress! + Int(table + 16 * index)
        entry.storeBytes(of: address, as: UInt64.self)
        entry.storeBytes(of: length, toByteOffset: 8, as: UInt32.self)
        entry.storeBytes(of: flags, toByteOffset: 12, as: UInt16.self)
        entry.storeBytes(of: next, toByteOffset: 14, as: UInt16.self)
    }

    /// The driver makes chain `head` available (size 8 rings unless said).
    func offer(_ head: UInt16, size: UInt16 = 8) {
        let index = load16(Self.available + 2)
        store16(Self.available + 4 + 2 * UInt64(index % size), head)
        store16(Self.available + 2, index &+ 1)
    }

    func load16(_ address: UInt64) -> UInt16 { ram.baseAddress!.load(fromByteOffset: Int(address), as: UInt16.self) }
    func store16(_ address: UInt64, _ value: UInt16) { ram.baseAddress!.storeBytes(of: value, toByteOffset: Int(address), as: UInt16.self) }

    func take(_ queue: inout Queue) -> Result<Queue.Chain?, VirtqueueError> { queue.take(memory, into: segments) }

    func testARequestChainIsTakenAndReturnedThroughTheUsedRing() throws {
        var queue = try queue()
        // A block request as Linux sends it: header (readable), data (writable), status (writable).
        setDescriptor(0, address: 0x8000, length: 16, flags: Queue.Descriptor.nextFlag, next: 3)
        setDescriptor(3, address: 0x9000, length: 512, flags: Queue.Descriptor.nextFlag | Queue.Descriptor.writeFlag, next: 5)
        setDescriptor(5, address: 0x9200, length: 1, flags: Queue.Descriptor.writeFlag)
        offer(0)
        XCTAssertEqual(try queue.pending(memory).get(), 1)
        let chain = try XCTUnwrap(take(&queue).get())
        XCTAssertEqual(chain, Queue.Chain(head: 0, segments: 3, readableBytes: 16, writableBytes: 513))
        XCTAssertEqual(Array(segments.prefix(3)), [.init(address: 0x8000, length: 16, writable: false),
                                                     .init(address: 0x9000, length: 512, writable: true),
                                                     .init(address: 0x9200, length: 1, writable: true)])
        XCTAssertNil(try take(&queue).get(), "nothing else pending")
        XCTAssertTrue(queue.complete(memory, head: chain.head, written: 513))
        XCTAssertEqual(load16(Self.used + 2), 1, "used index")
        XCTAssertEqual(ram.baseAddress!.load(fromByteOffset: Int(Self.used + 4), as: UInt32.self), 0, "id")
        XCTAssertEqual(ram.baseAddress!.load(fromByteOffset: Int(Self.used + 8), as: UInt32.self), 513, "length")
        XCTAssertFalse(queue.complete(memory, head: 0, written: 0), "nothing outstanding")
    }

    func testTheRingsWrapAroundTheirSize() throws {
        var queue = try queue(size: 4)
        setDescriptor(1, address: 0x8000, length: 8)
        for round in 0..<10 {
            offer(1, size: 4)
            let chain = try XCTUnwrap(take(&queue).get(), "round \(round)")
            XCTAssertTrue(queue.complete(memory, head: chain.head, written: 0))
        }
        XCTAssertEqual(load16(Self.used + 2), 10)
        XCTAssertEqual(queue.nextAvailable, 10)
    }

    func testAnIndirectTableIsFollowed() throws {
        var queue = try queue()
        let table: UInt64 = 0x4000
        setDescriptor(0, address: 0x8000, length: 16, flags: Queue.Descriptor.nextFlag, next: 1, table: table)
        setDescriptor(1, address: 0x9000, length: 4096, flags: Queue.Descriptor.writeFlag, table: table)
        setDescriptor(2, address: table, length: 32, flags: Queue.Descriptor.indirectFlag)
        offer(2)
        let chain = try XCTUnwrap(take(&queue).get())
        XCTAssertEqual(chain, Queue.Chain(head: 2, segments: 2, readableBytes: 16, writableBytes: 4096))
    }

    func testEventIndexAsksForTheNextNotificationAndInterruptsOnlyPastUsedEvent() throws {
        var queue = try queue(eventIndex: true)
        setDescriptor(0, address: 0x8000, length: 8)
        store16(Self.available + 4 + 2 * 8, 1)          // used_event: interrupt once used idx passes 1
        for expected in [false, true, false] {
            offer(0)
            let before = queue.usedIndex
            let chain = try XCTUnwrap(take(&queue).get())
            XCTAssertTrue(queue.complete(memory, head: chain.head, written: 0))
            XCTAssertEqual(queue.needsInterrupt(memory, since: before), expected, "used index \(queue.usedIndex)")
            XCTAssertEqual(load16(Self.used + 4 + 8 * 8), queue.nextAvailable, "avail_event")
        }
    }

    func testNoInterruptFlagIsHonouredWithoutEventIndex() throws {
        var queue = try queue()
        setDescriptor(0, address: 0x8000, length: 8)
        offer(0)
        let chain = try XCTUnwrap(take(&queue).get())
        store16(Self.available, 1)                       // VIRTQ_AVAIL_F_NO_INTERRUPT
        XCTAssertTrue(queue.complete(memory, head: chain.head, written: 0))
        XCTAssertFalse(queue.needsInterrupt(memory, since: 0))
        store16(Self.available, 0)
        XCTAssertTrue(queue.needsInterrupt(memory, since: 0))
    }

    // MARK: Hostile configuration and rings

    func testAQueueSizeThatIsNoPowerOfTwoOrRingsOutsideRAMAreRefused() {
        let memory = self.memory
        func configure(_ size: UInt16, _ descriptors: UInt64 = Self.descriptors, _ available: UInt64 = Self.available,
                       _ used: UInt64 = Self.used) -> VirtqueueError? {
            if case .failure(let error) = Queue.configure(size: size, descriptors: descriptors, available: available, used: used,
                                                          eventIndex: true, indirect: true, memory: memory) { return error }
            return nil
        }
        XCTAssertEqual(configure(0), .sizeNotAPowerOfTwo(0))
        XCTAssertEqual(configure(6), .sizeNotAPowerOfTwo(6))
        XCTAssertEqual(configure(512), .sizeNotAPowerOfTwo(512), "over the maximum")
        XCTAssertEqual(configure(8, 0x1008), .misalignedRing)
        XCTAssertEqual(configure(8, Self.descriptors, 0x2001), .misalignedRing)
        XCTAssertEqual(configure(8, 0xFFC0), .ringOutsideMemory, "the table ends past RAM")
        XCTAssertEqual(configure(8, Self.descriptors, Self.available, 0xFFFF_FFFF_FFFF_FFF0), .ringOutsideMemory, "wraps")
        XCTAssertNil(configure(256))
    }

    func expect(_ error: VirtqueueError, _ queue: inout Queue, file: StaticString = #filePath, line: UInt = #line) {
        let before = queue.nextAvailable
        XCTAssertEqual(take(&queue), .failure(error), file: file, line: line)
        XCTAssertEqual(queue.nextAvailable, before, "nothing taken", file: file, line: line)
    }

    func testAHeadOrNextIndexOutOfRangeIsAnError() throws {
        var queue = try queue()
        offer(8)
        expect(.descriptorIndexOutOfRange(8), &queue)
        var second = try self.queue()
        store16(Self.available + 4, 0)
        setDescriptor(0, address: 0x8000, length: 8, flags: Queue.Descriptor.nextFlag, next: 0xFFFF)
        expect(.descriptorIndexOutOfRange(0xFFFF), &second)
    }

    func testADescriptorLoopEnds() throws {
        var queue = try queue()
        setDescriptor(0, address: 0x8000, length: 8, flags: Queue.Descriptor.nextFlag, next: 1)
        setDescriptor(1, address: 0x8000, length: 8, flags: Queue.Descriptor.nextFlag, next: 0)
        offer(0)
        expect(.chainTooLong, &queue)
        // A descriptor naming itself.
        var itself = try self.queue()
        setDescriptor(0, address: 0x8000, length: 8, flags: Queue.Descriptor.nextFlag, next: 0)
        expect(.chainTooLong, &itself)
    }

    func testAnIndirectLoopAndNestedIndirectTablesAreErrors() throws {
        let table: UInt64 = 0x4000
        setDescriptor(0, address: 0x8000, length: 8, flags: Queue.Descriptor.nextFlag, next: 0, table: table)
        setDescriptor(0, address: table, length: 16, flags: Queue.Descriptor.indirectFlag)
        offer(0)
        var queue = try queue()
        expect(.chainTooLong, &queue)
        setDescriptor(0, address: table, length: 16, flags: Queue.Descriptor.indirectFlag, table: table)
        expect(.badIndirectDescriptor, &queue)
        setDescriptor(0, address: table, length: 24, flags: Queue.Descriptor.indirectFlag)
        expect(.badIndirectDescriptor, &queue)                 // not a multiple of 16
        setDescriptor(0, address: table, length: 16 * 9, flags: Queue.Descriptor.indirectFlag)
        expect(.badIndirectDescriptor, &queue)                 // more entries than the queue
        setDescriptor(0, address: table, length: 16, flags: Queue.Descriptor.indirectFlag | Queue.Descriptor.nextFlag)
        expect(.badIndirectDescriptor, &queue)
        setDescriptor(0, address: 0xFFF8, length: 16, flags: Queue.Descriptor.indirectFlag)
        expect(.bufferOutsideMemory, &queue)
        var plain = try self.queue(indirect: false)
        setDescriptor(0, address: table, length: 16, flags: Queue.Descriptor.indirectFlag)
        expect(.indirectNotNegotiated, &plain)
    }

    func testBuffersOutsideRAMAndOversizedLengthsAreErrors() throws {
        var queue = try queue()
        offer(0)
        for (address, length) in [(UInt64(0x10000), UInt32(1)), (0xFFFF, 2), (0x8000, UInt32.max), (UInt64.max, 1)] {
            setDescriptor(0, address: address, length: length)
            expect(.bufferOutsideMemory, &queue)
        }
    }

    func testAReadableSegmentAfterAWritableOneIsAnError() throws {
        var queue = try queue()
        setDescriptor(0, address: 0x8000, length: 8, flags: Queue.Descriptor.writeFlag | Queue.Descriptor.nextFlag, next: 1)
        setDescriptor(1, address: 0x9000, length: 8)
        offer(0)
        expect(.readableAfterWritable, &queue)
    }

    func testAnAvailableIndexFarAheadIsAnError() throws {
        var queue = try queue()
        store16(Self.available + 2, 9)                   // nine new entries in a ring of eight
        XCTAssertEqual(queue.pending(memory), .failure(.availableIndexTooFarAhead(9)))
        expect(.availableIndexTooFarAhead(9), &queue)
        store16(Self.available + 2, 0xFFFF)              // "behind": as far ahead as 2^16 - 1
        expect(.availableIndexTooFarAhead(0xFFFF), &queue)
    }

    /// Random rings: every take ends with a chain inside RAM or an error, never anything else.
    func testRandomRingsNeverEscapeRAM() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        var chains = 0, errors = 0
        for _ in 0..<2000 {
            var queue = try queue()
            for index in 0..<UInt64(8) {
                let address = next() % 3 == 0 ? next() : 0x4000 + next() % 0xC000
                setDescriptor(index, address: address, length: UInt32(truncatingIfNeeded: next() % 5 == 0 ? next() : next() % 512),
                              flags: UInt16(truncatingIfNeeded: next() & 7), next: UInt16(truncatingIfNeeded: next() % 10))
            }
            store16(Self.available + 4, UInt16(truncatingIfNeeded: next() % 10))
            store16(Self.available + 2, UInt16(truncatingIfNeeded: next() % 3))
            switch take(&queue) {
            case .success(let chain?):
                chains += 1
                XCTAssertLessThanOrEqual(chain.segments, 16)
                for segment in segments.prefix(chain.segments) {
                    XCTAssertTrue(memory.contains(segment.address, UInt64(segment.length)))
                }
            case .success(nil): break
            case .failure: errors += 1
            }
        }
        XCTAssertGreaterThan(chains, 0)
        XCTAssertGreaterThan(errors, 0)
    }
}
