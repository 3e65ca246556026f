@testable import DriverCore
import XCTest

/// ATA command blocks and bus-master PRD tables as the block driver task issues them.
final class ATACommandTests: XCTestCase {
    func testA48BitReadWritesHighBytesFirstThenTheCommand() throws {
        let command = try ATACommand.transfer(.readDMAExt, lba: 0x0000_1234_5678_9ABC, sectors: 0x0102).get()
        let writes = command.writes
        var list: [String] = []
        for index in writes.indices { list.append("\(writes[index].offset)=\(String(writes[index].value, radix: 16))") }
        XCTAssertEqual(list, ["6=40", "2=1", "3=56", "4=34", "5=12", "2=2", "3=bc", "4=9a", "5=78", "7=25"], "LBA bytes 3-5 first, then 0-2")
    }

    func testTheSecondDriveSetsDeviceBit4() throws {
        let command = try ATACommand.transfer(.writeDMAExt, lba: 0, sectors: 1, secondary: true).get()
        XCTAssertEqual(command.writes[0].value, 0x50)
        XCTAssertEqual(command.writes[9].value, 0x35)
        XCTAssertEqual(ATACommand.flush().writes[9].value, 0xEA)
    }

    func testBadTransfersAreRefused() {
        XCTAssertEqual(ATACommand.transfer(.readDMAExt, lba: 0, sectors: 0), .failure(.noSectors))
        XCTAssertEqual(ATACommand.transfer(.readDMAExt, lba: 0, sectors: 65536), .failure(.tooManySectors(65536)))
        XCTAssertEqual(ATACommand.transfer(.readDMAExt, lba: (1 << 48) - 1, sectors: 2), .failure(.beyondLBA48))
        XCTAssertEqual(ATACommand.transfer(.readDMAExt, lba: UInt64.max, sectors: 1), .failure(.beyondLBA48))
        XCTAssertNotNil(try? ATACommand.transfer(.readDMAExt, lba: (1 << 48) - 1, sectors: 1).get())
    }

    func testStatusBytesMeanBusyDoneOrFailed() {
        XCTAssertEqual(ATACommand.outcome(status: 0x80, error: 0), .busy)
        XCTAssertEqual(ATACommand.outcome(status: 0x50, error: 0), .done)
        XCTAssertEqual(ATACommand.outcome(status: 0x51, error: 0x04), .failed(error: 0x04))
        XCTAssertEqual(ATACommand.outcome(status: 0x60, error: 0), .failed(error: 0), "device fault")
    }

    func testIdentifyGivesTheSectorCount() {
        var words = [UInt16](repeating: 0, count: 256)
        words[49] = 1 << 8
        words[83] = 1 << 10
        words[100] = 0x5678
        words[101] = 0x1234
        words.withUnsafeBufferPointer { buffer in
            let identity = ATAIdentity(words: buffer)
            XCTAssertEqual(identity, ATAIdentity(words: buffer))
            XCTAssertEqual(identity?.sectors, 0x1234_5678)
            XCTAssertEqual(identity?.supportsLBA48, true)
            XCTAssertEqual(identity?.supportsDMA, true)
        }
        words[83] = 0
        words[60] = 0x1000
        words.withUnsafeBufferPointer { XCTAssertEqual(ATAIdentity(words: $0)?.sectors, 0x1000, "28-bit count") }
        XCTAssertNil(words.prefix(100).withUnsafeBufferPointer { ATAIdentity(words: $0) })
    }
}

final class PRDTableTests: XCTestCase {
    let entries = UnsafeMutableBufferPointer<PRDTable.Entry>.allocate(capacity: 8)

    override func tearDown() { entries.deallocate() }

    func build(_ regions: [(address: UInt64, bytes: UInt64)], capacity: Int = 8) -> Result<[PRDTable.Entry], PRDTable.Failure> {
        regions.withUnsafeBufferPointer { PRDTable.build($0, capacity: capacity, into: entries) }.map { Array(entries.prefix($0)) }
    }

    func testRegionsAreSplitAt64KiBBoundariesAndTheLastIsMarked() {
        XCTAssertEqual(build([(0x1_F000, 0x2000), (0x40_0000, 0x1000)]),
                       .success([.init(address: 0x1_F000, bytes: 0x1000, last: false),
                                 .init(address: 0x2_0000, bytes: 0x1000, last: false),
                                 .init(address: 0x40_0000, bytes: 0x1000, last: true)]))
        XCTAssertEqual(build([(0x10_0000, 0x1_0000)]), .success([.init(address: 0x10_0000, bytes: 0x1_0000, last: true)]))
    }

    func testTheEncodingWrites64KiBAsZeroAndTheEndBit() {
        XCTAssertEqual(PRDTable.Entry(address: 0x10_0000, bytes: 0x1_0000, last: true).encoded, 0x8000_0000_0010_0000)
        XCTAssertEqual(PRDTable.Entry(address: 0x2000, bytes: 512, last: false).encoded, 0x0000_0200_0000_2000)
    }

    func testBadRegionsAreRefused() {
        XCTAssertEqual(build([]), .failure(.empty))
        XCTAssertEqual(build([(0x1001, 512)]), .failure(.oddAddressOrLength))
        XCTAssertEqual(build([(0x1000, 0)]), .failure(.oddAddressOrLength))
        XCTAssertEqual(build([(0x1_0000_0000, 512)]), .failure(.above4GiB))
        XCTAssertEqual(build([(0xFFFF_F000, 0x2000)]), .failure(.above4GiB), "ends past 4 GiB")
        XCTAssertEqual(build([(0, 0x9_0000)]), .failure(.tooManyEntries), "nine 64 KiB pieces in eight entries")
        XCTAssertEqual(build([(0, 0x2_0000)], capacity: 1), .failure(.tooManyEntries))
    }
}
