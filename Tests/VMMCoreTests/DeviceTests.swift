@testable import VMMCore
import XCTest

/// The 16550 as Linux's 8250 driver probes and drives it.
final class UART16550Tests: XCTestCase {
    var uart = UART16550()

    func testTransmitIsInstantAndRaisesTHREWhenEnabled() {
        XCTAssertEqual(uart.read(5), 0x60, "THR and transmitter empty, no data")
        XCTAssertEqual(uart.write(0, UInt8(ascii: "A")), .transmit(UInt8(ascii: "A")))
        XCTAssertFalse(uart.interruptAsserted, "IER is 0")
        _ = uart.write(4, 0x08)                       // OUT2
        _ = uart.write(1, 0x02)                       // ETBEI
        XCTAssertTrue(uart.interruptAsserted)
        XCTAssertEqual(uart.read(2), 0x02, "THRE")
        XCTAssertFalse(uart.interruptAsserted, "reading IIR acknowledged it")
        XCTAssertEqual(uart.read(2), 0x01, "nothing pending")
        _ = uart.write(0, 0x42)
        XCTAssertTrue(uart.interruptAsserted, "THR empty again after a write")
    }

    func testTheTHREProbeOfThe8250DriverSeesNoBug() {
        // serial8250_do_startup: IER=THRI, read IIR, IER=0, IER=THRI, read IIR. Both must show THRE.
        _ = uart.write(1, 0x02)
        let first = uart.read(2)
        _ = uart.write(1, 0)
        _ = uart.write(1, 0x02)
        let second = uart.read(2)
        XCTAssertEqual(first & 0x01, 0)
        XCTAssertEqual(second & 0x01, 0)
    }

    func testReceivedBytesWaitInTheFIFOAndRaiseRDA() {
        _ = uart.write(4, 0x08)
        _ = uart.write(1, 0x01)
        XCTAssertTrue(uart.receive(0x31))
        XCTAssertTrue(uart.receive(0x32))
        XCTAssertTrue(uart.interruptAsserted)
        XCTAssertEqual(uart.read(5) & 0x01, 0x01, "data ready")
        XCTAssertEqual(uart.read(2), 0x04)
        XCTAssertEqual(uart.read(0), 0x31)
        XCTAssertEqual(uart.read(0), 0x32)
        XCTAssertEqual(uart.read(5), 0x60)
        XCTAssertFalse(uart.interruptAsserted)
        for byte in 0..<16 { XCTAssertTrue(uart.receive(UInt8(byte))) }
        XCTAssertFalse(uart.receive(99), "a full FIFO refuses; the caller keeps the byte")
        _ = uart.write(2, 0x03)                       // FCR: enable and clear the receive FIFO
        XCTAssertEqual(uart.fifoCount, 0)
        XCTAssertEqual(uart.read(2) & 0xC0, 0xC0, "a 16550A's FIFO bits")
    }

    func testLoopbackDivisorAndScratchAsTheAutoconfigProbeUsesThem() {
        _ = uart.write(7, 0xA5)
        XCTAssertEqual(uart.read(7), 0xA5)
        _ = uart.write(4, 0x1A)                       // loopback, OUT2, RTS
        XCTAssertEqual(uart.read(6) & 0xF0, 0x90, "CTS and DCD")
        XCTAssertEqual(uart.write(0, 0x55), .none, "loopback keeps the byte")
        XCTAssertEqual(uart.read(0), 0x55)
        _ = uart.write(3, 0x83)                       // DLAB
        _ = uart.write(0, 0x01)
        _ = uart.write(1, 0x00)
        XCTAssertEqual(uart.divisor, 1)
        XCTAssertEqual(uart.read(0), 0x01)
        _ = uart.write(3, 0x03)
        XCTAssertEqual(uart.read(3), 0x03)
        XCTAssertEqual(uart.read(1), 0, "IER again, not the divisor")
    }

    func testNonsenseFromTheGuestChangesNothingItShouldNot() {
        for offset in 0..<64 { for value: UInt8 in [0, 0xFF, 0x80, 0x7F] { _ = uart.write(offset, value) } }
        for offset in 0..<64 { _ = uart.read(offset) }
        XCTAssertEqual(uart.read(5) & 0x60, 0x60, "LSR is read-only")
    }
}

final class CMOSClockTests: XCTestCase {
    var clock = CMOSClock()
    /// 2026-12-01 10:30:45 UTC, a Tuesday.
    let now: UInt64 = 1_796_121_045

    func read(_ register: UInt8) -> UInt8 {
        clock.writeIndex(register)
        return clock.readData(now: now)
    }

    func testTimeInBCDAnd24HourMode() {
        XCTAssertEqual(read(0x00), 0x45)
        XCTAssertEqual(read(0x02), 0x30)
        XCTAssertEqual(read(0x04), 0x10)
        XCTAssertEqual(read(0x06), 0x03, "Tuesday is day 3")
        XCTAssertEqual(read(0x07), 0x01)
        XCTAssertEqual(read(0x08), 0x12)
        XCTAssertEqual(read(0x09), 0x26)
        XCTAssertEqual(read(0x32), 0x20)
        XCTAssertEqual(read(0x0A) & 0x80, 0, "never updating")
        XCTAssertEqual(read(0x0D), 0x80, "valid")
    }

    func testBinaryAnd12HourModes() {
        clock.writeIndex(0x0B)
        clock.writeData(0x04)                         // binary, 12-hour
        XCTAssertEqual(read(0x00), 45)
        XCTAssertEqual(read(0x04), 10, "10 a.m.")
        clock.writeIndex(0x8B)                        // bit 7: NMI mask, not part of the index
        XCTAssertEqual(clock.index, 0x0B)
    }

    func testCivilTimeAcrossLeapYearsAndCenturies() {
        let leapDay = CivilTime(951_782_400)          // 2000-02-29 00:00:00
        XCTAssertEqual([leapDay.year, leapDay.month, leapDay.day], [2000, 2, 29])
        let epoch = CivilTime(0)
        XCTAssertEqual([epoch.year, epoch.month, epoch.day, epoch.weekday], [1970, 1, 1, 4])
        let far = CivilTime(UInt64.max)
        XCTAssertEqual(far.year, 9999, "clamped, no overflow")
    }

    func testCMOSMemoryIsStoredAndTheClockCannotBeSet() {
        clock.writeIndex(0x40)
        clock.writeData(0x5A)
        XCTAssertEqual(read(0x40), 0x5A)
        clock.writeIndex(0x00)
        clock.writeData(0x59)
        XCTAssertEqual(read(0x00), 0x45)
    }
}
