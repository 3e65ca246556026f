import SwiftletABI
import XCTest

/// The block service's requests as a driver decodes them: everything the client sends is checked.
final class BlockProtocolTests: XCTestCase {
    typealias Transfer = BlockProtocol.Transfer
    let buffer: UInt64 = 256 * 4096

    func decode(_ label: UInt64, _ words: (UInt64, UInt64, UInt64), capacity: UInt64 = 2048) -> Result<Transfer, BlockProtocol.Status> {
        Transfer.decode(label: label, words: words, capacity: capacity,
                        maximumSectors: BlockProtocol.maximumSectors(bufferBytes: buffer), bufferBytes: buffer)
    }

    func testReadsAndWritesInsideTheDiskAndTheBufferAreDecoded() {
        XCTAssertEqual(decode(BlockProtocol.read, (8, 16, 4096)), .success(Transfer(write: false, sector: 8, sectors: 16, offset: 4096)))
        XCTAssertEqual(decode(BlockProtocol.write, (2047, 1, 0)), .success(Transfer(write: true, sector: 2047, sectors: 1, offset: 0)))
        XCTAssertEqual(decode(BlockProtocol.read, (0, 2048, 0)).map(\.bytes), .success(1 << 20), "the whole buffer")
    }

    func testSectorsPastTheDiskAreOutOfRange() {
        XCTAssertEqual(decode(BlockProtocol.read, (2048, 1, 0)), .failure(.outOfRange))
        XCTAssertEqual(decode(BlockProtocol.read, (2040, 9, 0)), .failure(.outOfRange))
        XCTAssertEqual(decode(BlockProtocol.read, (UInt64.max, 1, 0)), .failure(.outOfRange), "no overflow of sector + count")
        XCTAssertEqual(decode(BlockProtocol.read, (0, 0, 0)), .failure(.outOfRange), "no sectors")
        XCTAssertEqual(decode(BlockProtocol.read, (0, UInt64.max, 0), capacity: UInt64.max), .failure(.outOfRange), "no overflow of count * 512")
        XCTAssertEqual(decode(BlockProtocol.read, (0, 2049, 0), capacity: 1 << 40), .failure(.outOfRange), "more than the buffer holds")
    }

    func testBufferPartsOutsideTheBufferOrUnalignedAreRefused() {
        XCTAssertEqual(decode(BlockProtocol.read, (0, 1, buffer - 256)), .failure(.badBuffer))
        XCTAssertEqual(decode(BlockProtocol.read, (0, 2, buffer - 512)), .failure(.badBuffer))
        XCTAssertEqual(decode(BlockProtocol.read, (0, 1, UInt64.max - 511)), .failure(.badBuffer))
        XCTAssertEqual(decode(BlockProtocol.write, (0, 1, 100)), .failure(.badBuffer))
        XCTAssertEqual(decode(BlockProtocol.flush, (0, 0, 0)), .failure(.unsupported), "flush carries no transfer")
        XCTAssertEqual(decode(99, (0, 1, 0)), .failure(.unsupported))
    }

    func testTheLargestRequestIsTheBufferOrOneATACommand() {
        XCTAssertEqual(BlockProtocol.maximumSectors(bufferBytes: 4096), 8)
        XCTAssertEqual(BlockProtocol.maximumSectors(bufferBytes: 1 << 40), 65535)
        XCTAssertEqual(BlockProtocol.maximumSectors(bufferBytes: 100), 0)
    }
}
