import XCTest
@testable import KernelCore
@testable import SwiftletABI

final class RealTimeClockTests: XCTestCase {
    /// 2026-12-01 16:07:09 UTC.
    let expected: UInt64 = 1_796_141_229

    func reading(_ s: UInt8, _ m: UInt8, _ h: UInt8, _ d: UInt8, _ mo: UInt8, _ y: UInt8, century: UInt8, b: UInt8) -> RealTimeClockReading {
        RealTimeClockReading(seconds: s, minutes: m, hours: h, day: d, month: mo, year: y, century: century, statusB: b)
    }

    func testBCDTwentyFourHour() {
        XCTAssertEqual(reading(0x09, 0x07, 0x16, 0x01, 0x12, 0x26, century: 0x20, b: 0x02).secondsSince1970, expected)
    }

    func testBinaryTwentyFourHour() {
        XCTAssertEqual(reading(9, 7, 16, 1, 12, 26, century: 20, b: 0x06).secondsSince1970, expected)
    }

    func testTwelveHourFormsInBCDAndBinary() {
        // 4 PM: hour 4 with bit 7.
        XCTAssertEqual(reading(0x09, 0x07, 0x84, 0x01, 0x12, 0x26, century: 0x20, b: 0x00).secondsSince1970, expected)
        XCTAssertEqual(reading(9, 7, 0x80 | 4, 1, 12, 26, century: 20, b: 0x04).secondsSince1970, expected)
        // 12 AM is midnight, 12 PM noon.
        let midnight = reading(0, 0, 0x12, 0x01, 0x01, 0x00, century: 0x20, b: 0x00).secondsSince1970
        XCTAssertEqual(midnight, 946_684_800)
        XCTAssertEqual(reading(0, 0, 0x92, 0x01, 0x01, 0x00, century: 0x20, b: 0x00).secondsSince1970, 946_684_800 + 43_200)
    }

    func testCenturyRegisterAndItsAbsence() {
        // 1999-12-31 23:59:59 with century 19; without a usable century the year is 20yy.
        XCTAssertEqual(reading(0x59, 0x59, 0x23, 0x31, 0x12, 0x99, century: 0x19, b: 0x02).secondsSince1970, 946_684_799)
        XCTAssertEqual(reading(0x09, 0x07, 0x16, 0x01, 0x12, 0x26, century: 0x00, b: 0x02).secondsSince1970, expected)
        XCTAssertEqual(reading(0x09, 0x07, 0x16, 0x01, 0x12, 0x26, century: 0xFF, b: 0x02).secondsSince1970, expected)
        // Leap day 2024-02-29 00:00:00.
        XCTAssertEqual(reading(0, 0, 0, 0x29, 0x02, 0x24, century: 0x20, b: 0x02).secondsSince1970, 1_709_164_800)
    }

    func testInvalidFieldsGiveNoTime() {
        XCTAssertNil(reading(0x60, 0x07, 0x16, 0x01, 0x12, 0x26, century: 0x20, b: 0x02).secondsSince1970)   // second 60
        XCTAssertNil(reading(0x0A, 0x07, 0x16, 0x01, 0x12, 0x26, century: 0x20, b: 0x02).secondsSince1970)   // not BCD
        XCTAssertNil(reading(0x09, 0x07, 0x24, 0x01, 0x12, 0x26, century: 0x20, b: 0x02).secondsSince1970)   // hour 24
        XCTAssertNil(reading(0x09, 0x07, 0x13, 0x01, 0x12, 0x26, century: 0x20, b: 0x00).secondsSince1970)   // 12-hour 13
        XCTAssertNil(reading(0x09, 0x07, 0x00, 0x01, 0x12, 0x26, century: 0x20, b: 0x00).secondsSince1970)   // 12-hour 0
        XCTAssertNil(reading(0x09, 0x07, 0x16, 0x30, 0x02, 0x26, century: 0x20, b: 0x02).secondsSince1970)   // Feb 30
        XCTAssertNil(reading(0x09, 0x07, 0x16, 0x29, 0x02, 0x23, century: 0x20, b: 0x02).secondsSince1970)   // 2023 no leap
        XCTAssertNil(reading(0x09, 0x07, 0x16, 0x00, 0x12, 0x26, century: 0x20, b: 0x02).secondsSince1970)   // day 0
        XCTAssertNil(reading(0x09, 0x07, 0x16, 0x01, 0x13, 0x26, century: 0x20, b: 0x02).secondsSince1970)   // month 13
        XCTAssertNil(reading(0, 0, 0, 1, 1, 69, century: 19, b: 0x06).secondsSince1970)                         // before 1970
        XCTAssertNil(reading(255, 255, 255, 255, 255, 255, century: 255, b: 0x06).secondsSince1970)
    }

    func testWallClockWordRoundTrips() {
        // Read at TSC 3 * 10^9 on a 1 GHz TSC: TSC 0 was 3 s earlier; at TSC 4.5 * 10^9 the clock says +1 s.
        let base = WallClock.atTSCZero(seconds: expected, tsc: 3_000_000_000, tscKHz: 1_000_000)
        XCTAssertEqual(base, (expected - 3) * 1_000_000_000)
        XCTAssertEqual(WallClock.seconds(at: 4_500_000_000, wallClockAtTSCZero: base!, tscKHz: 1_000_000), expected + 1)
        XCTAssertEqual(WallClock.nanoseconds(tsc: 2_500_001, tscKHz: 2_500_000), 1_000_000)
        // Huge TSCs do not trap: a tick count past 2^64 ns is no time.
        XCTAssertNil(WallClock.nanoseconds(tsc: UInt64.max, tscKHz: 1))
        XCTAssertEqual(WallClock.nanoseconds(tsc: UInt64.max, tscKHz: 3_000_000), 6_148_914_691_236_517_205)   // exact (Python)
        XCTAssertNil(WallClock.nanoseconds(tsc: 5, tscKHz: 0))
        XCTAssertNil(WallClock.nanoseconds(tsc: 5, tscKHz: UInt64.max))
        XCTAssertNil(WallClock.atTSCZero(seconds: 1, tsc: 2_000_000_000, tscKHz: 1_000_000))
        XCTAssertNil(WallClock.atTSCZero(seconds: UInt64.max, tsc: 0, tscKHz: 1_000_000))
        XCTAssertNil(WallClock.seconds(at: 5, wallClockAtTSCZero: 0, tscKHz: 1_000_000))
        XCTAssertNil(WallClock.seconds(at: UInt64.max, wallClockAtTSCZero: UInt64.max, tscKHz: 1_000_000_000))
    }
}
