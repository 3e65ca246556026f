@testable import VMMCore
import XCTest

/// virtio-blk requests as Linux's virtio_blk sends them, and malformed or out-of-range ones.
final class VirtioBlockRequestTests: XCTestCase {
    typealias Segment = SplitVirtqueue.Segment
    let ram = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x10000, alignment: 4096)
    var memory: GuestMemory { GuestMemory(base: UInt64(UInt(bitPattern: ram.baseAddress!)), bytes: UInt64(ram.count)) }

    override func tearDown() { ram.deallocate() }

    func header(type: UInt32, sector: UInt64, at address: Int = 0x8000) -> Segment {
        ram.baseAddress!.storeBytes(of: type, toByteOffset: address, as: UInt32.self)
        ram.baseAddress!.storeBytes(of: UInt32(0), toByteOffset: address + 4, as: UInt32.self)
        ram.baseAddress!.storeBytes(of: sector, toByteOffset: address + 8, as: UInt64.self)
        return Segment(address: UInt64(address), length: 16, writable: false)
    }

    func decode(_ segments: [Segment], capacity: UInt64 = 2048) -> Result<VirtioBlockRequest, VirtioBlockRequest.Refusal> {
        segments.withUnsafeBufferPointer { VirtioBlockRequest.decode($0, capacity: capacity, memory: memory) }
    }

    let status = Segment(address: 0x9F00, length: 1, writable: true)

    func testReadsWritesFlushesAndIdentifyAreDecoded() {
        let data = Segment(address: 0xA000, length: 4096, writable: true)
        XCTAssertEqual(decode([header(type: 0, sector: 8), data, status]),
                       .success(.init(kind: .read, sector: 8, bytes: 4096, status: 0x9F00)))
        let source = Segment(address: 0xA000, length: 1024, writable: false)
        XCTAssertEqual(decode([header(type: 1, sector: 2040), source, status]),
                       .success(.init(kind: .write, sector: 2040, bytes: 1024, status: 0x9F00)), "up to the last sector")
        XCTAssertEqual(decode([header(type: 4, sector: 0), status]), .success(.init(kind: .flush, sector: 0, bytes: 0, status: 0x9F00)))
        XCTAssertEqual(decode([header(type: 8, sector: 0), Segment(address: 0xA000, length: 20, writable: true), status]),
                       .success(.init(kind: .identify, sector: 0, bytes: 20, status: 0x9F00)))
    }

    func testRequestsPastTheDiskAnswerWithAnErrorStatus() {
        let data = Segment(address: 0xA000, length: 1024, writable: true)
        XCTAssertEqual(decode([header(type: 0, sector: 2047), data, status]), .failure(.outOfRange(status: 0x9F00)))
        XCTAssertEqual(decode([header(type: 0, sector: UInt64.max), data, status]), .failure(.outOfRange(status: 0x9F00)),
                       "no overflow of sector + count")
        XCTAssertEqual(decode([header(type: 0, sector: 2049), status]), .failure(.outOfRange(status: 0x9F00)))
        XCTAssertEqual(decode([header(type: 11, sector: 0), status]), .failure(.unsupported(type: 11, status: 0x9F00)),
                       "discard is not offered")
    }

    func testMalformedChainsHaveNoStatusToAnswer() {
        XCTAssertEqual(decode([]), .failure(.malformed))
        XCTAssertEqual(decode([status]), .failure(.malformed), "no header")
        XCTAssertEqual(decode([header(type: 0, sector: 0)]), .failure(.malformed), "no status byte")
        XCTAssertEqual(decode([Segment(address: 0x8000, length: 8, writable: false), status]), .failure(.malformed), "short header")
        XCTAssertEqual(decode([header(type: 0, sector: 0), Segment(address: 0xA000, length: 100, writable: true), status]),
                       .failure(.malformed), "not whole sectors")
        XCTAssertEqual(decode([header(type: 1, sector: 0), Segment(address: 0xA000, length: 512, writable: true), status]),
                       .failure(.malformed), "a write whose data the device would write")
        XCTAssertEqual(decode([header(type: 8, sector: 0), status]), .failure(.malformed), "no room for the ID")
    }

    func testTheConfigurationSpaceGivesCapacitySegmentsAndBlockSize() {
        let configuration = VirtioBlockConfiguration(capacity: 0x1_2345_6789, segmentMaximum: 126)
        XCTAssertEqual(configuration.read(0, size: 4), 0x2345_6789)
        XCTAssertEqual(configuration.read(4, size: 4), 1)
        XCTAssertEqual(configuration.read(12, size: 4), 126)
        XCTAssertEqual(configuration.read(20, size: 4), 512)
        XCTAssertEqual(configuration.read(20, size: 2), 512)
        XCTAssertEqual(configuration.read(22, size: 4), 0, "past the end")
        XCTAssertEqual(configuration.read(-1, size: 4), 0)
        XCTAssertEqual(configuration.read(0, size: 8), 0, "no 8-byte access")
    }
}
