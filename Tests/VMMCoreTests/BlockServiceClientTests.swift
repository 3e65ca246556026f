import SwiftletABI
@testable import VMMCore
import XCTest

/// The VMM's virtio-blk backend over the block service (BlockServiceClient) against a server in memory
/// that decodes every request as a driver must (BlockProtocol.Transfer.decode): requests larger than the
/// buffer go in parts, data split across guest segments at odd places arrives whole, a server that went
/// away is connected again and the request re-issued, and replies the client cannot trust fail it.
final class BlockServiceClientTests: XCTestCase {
    typealias Segment = SplitVirtqueue.Segment
    let ram = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x10000, alignment: 4096)
    var memory: GuestMemory { GuestMemory(base: UInt64(UInt(bitPattern: ram.baseAddress!)), bytes: UInt64(ram.count)) }

    /// A block server in memory behind a link with a two-sector buffer; `lose` calls find it gone.
    final class MemoryServer {
        var disk: [UInt8]
        var capacity: UInt64
        var maximum: UInt64 = 65535
        var lose = 0
        var connects = 0, requests = 0
        init(sectors: Int) {
            capacity = UInt64(sectors)
            disk = (0..<sectors * 512).map { UInt8(truncatingIfNeeded: $0 / 512) }
        }
    }

    struct Link: BlockLink {
        let server: MemoryServer
        let buffer: UnsafeMutableRawBufferPointer

        mutating func connect() -> BlockLinkReply {
            if server.lose > 0 {
                server.lose -= 1
                return .lost
            }
            server.connects += 1
            return .reply(label: 0, words: (server.capacity, server.maximum))
        }

        mutating func call(_ label: UInt64, _ words: (UInt64, UInt64, UInt64)) -> BlockLinkReply {
            if server.lose > 0 {
                server.lose -= 1
                return .lost
            }
            server.requests += 1
            if label == BlockProtocol.flush { return .reply(label: 0, words: (0, 0)) }
            switch BlockProtocol.Transfer.decode(label: label, words: words, capacity: server.capacity, maximumSectors: server.maximum,
                                                 bufferBytes: UInt64(buffer.count)) {
            case .failure(let status): return .reply(label: status.rawValue, words: (0, 0))
            case .success(let transfer):
                let disk = Int(transfer.sector) * 512, offset = Int(transfer.offset)
                for index in 0..<Int(transfer.bytes) {
                    if transfer.write { server.disk[disk + index] = buffer[offset + index] } else { buffer[offset + index] = server.disk[disk + index] }
                }
                return .reply(label: 0, words: (0, 0))
            }
        }
    }

    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 4096)
    var server = MemoryServer(sectors: 16)

    override func tearDown() {
        ram.deallocate()
        buffer.deallocate()
    }

    func client() -> BlockServiceClient<Link> {
        var client = BlockServiceClient(link: Link(server: server, buffer: buffer))
        XCTAssertEqual(try? client.start().get(), 16)
        return client
    }

    /// A chain as the queue hands it over: header (16 bytes), data segments, status byte.
    func chain(_ data: [(address: UInt64, length: UInt32)], writable: Bool) -> [Segment] {
        [Segment(address: 0x100, length: 16, writable: false)] + data.map { Segment(address: $0.address, length: $0.length, writable: writable) }
            + [Segment(address: 0x200, length: 1, writable: true)]
    }

    func perform(_ client: inout BlockServiceClient<Link>, _ kind: VirtioBlockRequest.Kind, sector: UInt64, _ segments: [Segment]) -> UInt8 {
        let bytes = segments.dropFirst().dropLast().reduce(UInt64(0)) { $0 + UInt64($1.length) }
        let request = VirtioBlockRequest(kind: kind, sector: sector, bytes: bytes, status: 0x200)
        return segments.withUnsafeBufferPointer { client.perform(request, data: $0, memory: memory) }
    }

    func testARequestLargerThanTheBufferGoesInPartsAndRoundTrips() {
        var client = client()
        XCTAssertEqual(client.maximumSectors, 2, "bounded by the two-sector buffer, not the server's 65535")
        // Five sectors from three guest runs that do not end on sector boundaries.
        for index in 0..<2560 { ram[0x1000 + index] = UInt8(truncatingIfNeeded: index * 7 + 3) }
        let runs: [(address: UInt64, length: UInt32)] = [(0x1000, 700), (0x12BC, 1100), (0x1708, 760)]
        XCTAssertEqual(perform(&client, .write, sector: 3, chain(runs, writable: false)), VirtioBlockRequest.Code.ok)
        XCTAssertEqual(server.requests, 3, "2 + 2 + 1 sectors")
        XCTAssertEqual(Array(server.disk[1536..<1536 + 2560]), Array(ram[0x1000..<0x1000 + 2560]))
        XCTAssertEqual(server.disk[1535], 2, "sector 2 untouched")
        XCTAssertEqual(server.disk[1536 + 2560], 8, "sector 8 untouched")
        // Read them back into other runs.
        let back: [(address: UInt64, length: UInt32)] = [(0x4000, 1), (0x4100, 2047), (0x5000, 512)]
        XCTAssertEqual(perform(&client, .read, sector: 3, chain(back, writable: true)), VirtioBlockRequest.Code.ok)
        XCTAssertEqual(ram[0x4000], ram[0x1000])
        XCTAssertEqual(Array(ram[0x4100..<0x4100 + 2047]), Array(ram[0x1001..<0x1001 + 2047]))
        XCTAssertEqual(Array(ram[0x5000..<0x5200]), Array(ram[0x1800..<0x1A00]))
        XCTAssertEqual(perform(&client, .flush, sector: 0, chain([], writable: false)), VirtioBlockRequest.Code.ok)
        XCTAssertEqual(client.reconnects, 0)
    }

    func testALostServerIsConnectedAgainAndTheRequestReissued() {
        var client = client()
        server.lose = 3                      // the call and two connects find it gone; the third connects
        XCTAssertEqual(perform(&client, .read, sector: 1, chain([(0x3000, 512)], writable: true)), VirtioBlockRequest.Code.ok)
        XCTAssertEqual(ram[0x3000], 1)
        XCTAssertEqual(client.reconnects, 3)
        XCTAssertEqual(server.connects, 2)
        // A server that never comes back fails the request, after the bounded number of attempts.
        server.lose = Int.max
        XCTAssertEqual(perform(&client, .flush, sector: 0, chain([], writable: false)), VirtioBlockRequest.Code.ioError)
        XCTAssertEqual(client.reconnects, 3 + UInt64(BlockServiceClient<Link>.maximumReconnects))
    }

    func testRepliesTheClientCannotTrustFailTheRequestOrTheConnect() {
        var client = client()
        // Another disk behind the endpoint after a restart.
        server.capacity = 8
        server.lose = 1
        XCTAssertEqual(perform(&client, .flush, sector: 0, chain([], writable: false)), VirtioBlockRequest.Code.ioError)
        // The server refuses a request (out of range by its own capacity): an I/O error for the guest.
        server.capacity = 16
        var fresh = self.client()
        server.capacity = 4
        XCTAssertEqual(perform(&fresh, .read, sector: 6, chain([(0x3000, 512)], writable: true)), VirtioBlockRequest.Code.ioError)
        // A connect reply allowing 0 sectors a call, or a refusal.
        server.maximum = 0
        var none = BlockServiceClient(link: Link(server: server, buffer: buffer))
        XCTAssertEqual(none.start(), .failure(.noTransferSize))
        server.lose = 1
        XCTAssertEqual(none.start(), .failure(.noServer))
    }
}
