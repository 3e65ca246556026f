import DriverCore
import XCTest

/// The block test's pattern: each word names its sector and place, and the transfers stay on the disk.
final class DiskPatternTests: XCTestCase {
    func testEveryWordOfTheWrittenSectorsDiffers() {
        var seen = Set<UInt64>()
        for index in 0..<DiskPattern.transferCount {
            let (first, count) = DiskPattern.transfer(index, capacity: 131072, maximumSectors: 128)
            for sector in first..<(first + count) {
                for word in 0..<UInt64(64) { seen.insert(DiskPattern.word(sector: sector, index: word)) }
            }
        }
        XCTAssertEqual(seen.count, 138 * 64, "no two words alike: a sector in the wrong place or half written shows")
        XCTAssertFalse(seen.contains(0), "a zero sector never matches")
    }

    func testTheTransfersCoverTheStartTheMostAndTheLastSector() {
        let transfers = (0..<DiskPattern.transferCount).map { DiskPattern.transfer($0, capacity: 131072, maximumSectors: 128) }
        XCTAssertEqual(transfers.map(\.sector), [0, 1000, 4096, 131071])
        XCTAssertEqual(transfers.map(\.sectors), [1, 8, 128, 1])
        XCTAssertTrue(transfers.allSatisfy { $0.sector + $0.sectors <= 131072 })
    }
}
