@testable import VMMCore
import XCTest

/// The virtio-blk device end to end on the host: a driver brings it up through the window, queues
/// requests in guest RAM, notifies, and the device serves them from a disk in memory.
final class VirtioBlockTests: XCTestCase {
    typealias R = VirtioMMIO.Register
    typealias S = VirtioMMIO.Status
    typealias Segment = SplitVirtqueue.Segment
    let ram = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x20000, alignment: 4096)
    var memory: GuestMemory { GuestMemory(base: UInt64(UInt(bitPattern: ram.baseAddress!)), bytes: UInt64(ram.count)) }
    let scratch = UnsafeMutableBufferPointer<Segment>.allocate(capacity: 128)
    var device = VirtioBlock(sectors: 64)
    var disk = MemoryDisk(sectors: 64)
    static let descriptors = 0x1000, available = 0x2000, used = 0x3000

    /// A disk in memory that counts flushes.
    struct MemoryDisk: VirtioBlockBackend {
        var bytes: [UInt8]
        var flushes = 0
        init(sectors: Int) { bytes = (0..<sectors * 512).map { UInt8(truncatingIfNeeded: $0 / 512) } }

        mutating func perform(_ request: VirtioBlockRequest, data: UnsafeBufferPointer<Segment>, memory: GuestMemory) -> UInt8 {
            var offset = Int(request.sector) * 512
            switch request.kind {
            case .flush: flushes += 1
            case .read, .write, .identify:
                request.forEachDataRun(data) { address, length in
                    for index in 0..<Int(length) {
                        let byte = memory.pointer(address + UInt64(index))
                        if request.kind == .read { byte.storeBytes(of: bytes[offset + index], as: UInt8.self) } else { bytes[offset + index] = byte.load(as: UInt8.self) }
                    }
                    offset += Int(length)
                }
            }
            return VirtioBlockRequest.Code.ok
        }
    }

    override func setUp() {
        ram.initializeMemory(as: UInt8.self, repeating: 0)
        for (offset, value) in [(R.status, S.acknowledge), (R.status, S.acknowledge | S.driver), (R.driverFeaturesSelect, 0),
                                (R.driverFeatures, UInt32(1 << 9 | 1 << 28)), (R.driverFeaturesSelect, 1), (R.driverFeatures, 1),
                                (R.status, S.acknowledge | S.driver | S.featuresOK), (R.queueSelect, 0), (R.queueSize, 16),
                                (R.queueDescriptorLow, UInt32(Self.descriptors)), (R.queueDriverLow, UInt32(Self.available)),
                                (R.queueDeviceLow, UInt32(Self.used)), (R.queueReady, 1),
                                (R.status, S.acknowledge | S.driver | S.featuresOK | S.driverOK)] {
            _ = device.write(offset, value, size: 4, memory: memory)
        }
    }

    override func tearDown() {
        ram.deallocate()
        scratch.deallocate()
    }

    func put<T>(_ value: T, at offset: Int) { ram.baseAddress!.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    func get<T>(_ type: T.Type, at offset: Int) -> T { ram.baseAddress!.loadUnaligned(fromByteOffset: offset, as: T.self) }

    /// Queues a request with descriptors `first...`: header at `0x8000 + 0x100 * first`, data, status.
    func queue(type: UInt32, sector: UInt64, data: (address: Int, length: UInt32, writable: Bool)?, first: UInt16) {
        let header = 0x8000 + 0x100 * Int(first), status = header + 0x80
        put(type, at: header)
        put(sector, at: header + 8)
        var chain: [(Int, UInt32, UInt16)] = [(header, 16, 0)]
        if let data { chain.append((data.address, data.length, data.writable ? 2 : 0)) }
        chain.append((status, 1, 2))
        for (index, (address, length, flags)) in chain.enumerated() {
            let descriptor = Self.descriptors + 16 * (Int(first) + index)
            let last = index == chain.count - 1
            put(UInt64(address), at: descriptor)
            put(length, at: descriptor + 8)
            put(flags | (last ? 0 : 1), at: descriptor + 12)
            put(last ? UInt16(0) : first + UInt16(index) + 1, at: descriptor + 14)
        }
        let index = get(UInt16.self, at: Self.available + 2)
        put(first, at: Self.available + 4 + 2 * Int(index % 16))
        put(index &+ 1, at: Self.available + 2)
    }

    func status(_ first: UInt16) -> UInt8 { get(UInt8.self, at: 0x8000 + 0x100 * Int(first) + 0x80) }

    func testTheDriverReadsTheCapacityAndTheRequestsAreServed() {
        XCTAssertEqual(device.read(R.config, size: 4), 64, "capacity in sectors")
        XCTAssertEqual(device.read(R.config + 20, size: 4), 512, "blk_size")
        XCTAssertEqual(device.read(R.deviceID, size: 4), 2)
        // Write sector 5 from guest data, read sectors 4-5 back, flush, ask for the ID.
        for index in 0..<512 { put(UInt8(0xA5), at: 0xC000 + index) }
        queue(type: 1, sector: 5, data: (0xC000, 512, false), first: 0)
        queue(type: 0, sector: 4, data: (0xD000, 1024, true), first: 3)
        queue(type: 4, sector: 0, data: nil, first: 6)
        XCTAssertEqual(device.write(R.queueNotify, 0, size: 4, memory: memory), .notify(queue: 0))
        XCTAssertEqual(device.serve(memory, segments: scratch, backend: &disk), .interrupt(asserted: true))
        XCTAssertEqual([status(0), status(3), status(6)], [0, 0, 0])
        XCTAssertEqual(disk.bytes[5 * 512], 0xA5, "written")
        XCTAssertEqual(get(UInt8.self, at: 0xD000), 4, "sector 4 read back")
        XCTAssertEqual(get(UInt8.self, at: 0xD000 + 512), 0xA5, "sector 5 as written")
        XCTAssertEqual(disk.flushes, 1)
        XCTAssertEqual(get(UInt16.self, at: Self.used + 2), 3, "three chains used")
        XCTAssertEqual(get(UInt32.self, at: Self.used + 4 + 8 + 4), 1025, "the read's used length: data and status")
        XCTAssertEqual(device.read(R.interruptStatus, size: 4), 1)
        XCTAssertEqual(device.served, 3)
    }

    func testOutOfRangeAndUnsupportedRequestsGetAStatusAndTheQueueGoesOn() {
        queue(type: 0, sector: 64, data: (0xD000, 512, true), first: 0)
        queue(type: 11, sector: 0, data: (0xD000, 16, false), first: 3)
        queue(type: 8, sector: 0, data: (0xE000, 20, true), first: 6)
        _ = device.serve(memory, segments: scratch, backend: &disk)
        XCTAssertEqual([status(0), status(3), status(6)], [1, 2, 0], "IOERR, UNSUPP, OK")
        XCTAssertEqual(String(decoding: (0..<12).map { get(UInt8.self, at: 0xE000 + $0) }, as: UTF8.self), "swiftlet-vda")
        XCTAssertEqual(device.read(R.status, size: 4) & S.needsReset, 0)
    }

    func testAMalformedChainSetsNeedsResetAndNothingIsServedAfterIt() {
        queue(type: 0, sector: 0, data: (0xD000, 100, true), first: 0)     // not whole sectors
        queue(type: 4, sector: 0, data: nil, first: 3)
        _ = device.serve(memory, segments: scratch, backend: &disk)
        XCTAssertNotEqual(device.read(R.status, size: 4) & S.needsReset, 0)
        XCTAssertEqual(device.malformed, 1)
        XCTAssertEqual(disk.flushes, 0, "the flush after it was not served")
        XCTAssertEqual(device.serve(memory, segments: scratch, backend: &disk), .none)
        // A descriptor pointing outside RAM is caught by the queue itself.
        setUp()
        queue(type: 0, sector: 0, data: (0x10_0000, 512, true), first: 0)
        _ = device.serve(memory, segments: scratch, backend: &disk)
        XCTAssertNotEqual(device.read(R.status, size: 4) & S.needsReset, 0)
    }

    func testTheConfigurationSpaceIsReadOnlyAndNarrowTransportAccessesAreIgnored() {
        XCTAssertEqual(device.write(R.config, 7, size: 4, memory: memory), .none)
        XCTAssertEqual(device.read(R.config, size: 4), 64)
        XCTAssertEqual(device.read(R.magic, size: 2), 0, "transport registers are 32-bit")
    }
}
