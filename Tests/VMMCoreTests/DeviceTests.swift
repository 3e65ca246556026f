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

    /// Received data outranks THRE in IIR (the 16550's priorities); THRE shows once the FIFO is empty.
    func testReceiveDataOutranksTHREInIIR() {
        _ = uart.write(4, 0x08)
        _ = uart.write(1, 0x03)                       // ERBFI and ETBEI: THRE pending at once
        XCTAssertTrue(uart.receive(0x41))
        XCTAssertEqual(uart.read(2) & 0x0F, 0x04, "receive data available first")
        XCTAssertEqual(uart.read(2) & 0x0F, 0x04, "reading IIR does not acknowledge received data")
        XCTAssertEqual(uart.read(0), 0x41)
        XCTAssertEqual(uart.read(2) & 0x0F, 0x02, "then THRE, still pending")
        XCTAssertEqual(uart.read(2) & 0x0F, 0x01, "acknowledged by the IIR read")
        XCTAssertFalse(uart.interruptAsserted)
    }

    /// The receive interrupt follows IER and OUT2; LSR.DR follows the FIFO whatever IER says.
    func testTheReceiveInterruptNeedsERBFIAndOUT2() {
        XCTAssertTrue(uart.receive(0x0D))
        XCTAssertEqual(uart.read(5) & 0x01, 0x01, "DR without interrupts enabled")
        XCTAssertFalse(uart.interruptAsserted, "IER 0")
        _ = uart.write(1, 0x01)
        XCTAssertFalse(uart.interruptAsserted, "OUT2 clear: the line is gated")
        XCTAssertEqual(uart.read(2) & 0x0F, 0x04, "but IIR says it")
        _ = uart.write(4, 0x08)
        XCTAssertTrue(uart.interruptAsserted)
        XCTAssertEqual(uart.read(0), 0x0D, "a control byte comes through unchanged")
        XCTAssertFalse(uart.interruptAsserted)
        XCTAssertEqual(uart.read(0), 0, "an empty FIFO reads 0")
    }

    /// The VMM's input ring: bytes unchanged and in order into the FIFO, as many as it takes; a full ring
    /// drops and counts (the serial driver is never held up).
    func testTheConsoleInputQueueFeedsTheFIFOAndCountsOverflow() {
        var queue = ConsoleInputQueue()
        for index in 0..<20 { queue.put(UInt8(index)) }        // control bytes 0-19
        queue.feed(&uart)
        XCTAssertEqual(uart.fifoCount, UART16550.fifoSize, "the FIFO is full")
        XCTAssertEqual(queue.count, 4, "the rest wait in the ring")
        for index in 0..<16 { XCTAssertEqual(uart.read(0), UInt8(index)) }
        queue.feed(&uart)
        XCTAssertEqual(queue.count, 0)
        for index in 16..<20 { XCTAssertEqual(uart.read(0), UInt8(index)) }
        for _ in 0..<(ConsoleInputQueue.capacity + 5) { queue.put(0xFF) }
        XCTAssertEqual(queue.count, ConsoleInputQueue.capacity)
        XCTAssertEqual(queue.overflowed, 5)
        XCTAssertEqual(queue.written, UInt64(20 + ConsoleInputQueue.capacity))
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

final class LocalAPICTests: XCTestCase {
    var apic = LocalAPIC(id: 0, tscPerBusTick: 10)

    func enable() {
        _ = apic.write(0xF0, 0x1FF, now: 0)           // software enable, spurious vector 0xFF
    }

    func testPriorityInServiceAndEOI() {
        enable()
        apic.accept(vector: 0x31, level: false)
        apic.accept(vector: 0x52, level: true)
        XCTAssertEqual(apic.deliverableVector, 0x52, "the highest first")
        apic.acknowledge(0x52)
        XCTAssertEqual(apic.processorPriority, 0x50)
        XCTAssertNil(apic.deliverableVector, "0x31 is below the in-service class")
        XCTAssertEqual(apic.read(0x100 + 0x20, now: 0), 1 << (0x52 - 64), "ISR word 2")
        XCTAssertEqual(apic.write(0xB0, 0, now: 0), .levelEndOfInterrupt(vector: 0x52))
        XCTAssertEqual(apic.deliverableVector, 0x31)
        _ = apic.write(0x80, 0x40, now: 0)            // TPR above 0x31's class
        XCTAssertNil(apic.deliverableVector)
    }

    func testASoftwareDisabledAPICDeliversNothingAndIllegalVectorsAreErrors() {
        apic.accept(vector: 0x40, level: false)
        XCTAssertNil(apic.deliverableVector)
        apic.accept(vector: 3, level: false)
        XCTAssertEqual(apic.read(0x280, now: 0) & 0x40, 0x40, "received illegal vector")
    }

    func testOneShotAndPeriodicTimer() {
        enable()
        _ = apic.write(0x3E0, 0x0B, now: 0)           // divide by 1: 10 TSC ticks per count
        _ = apic.write(0x320, 0xEC, now: 0)           // one-shot, vector 0xEC
        _ = apic.write(0x380, 100, now: 1000)
        XCTAssertEqual(apic.nextDeadline, 2000)
        XCTAssertEqual(apic.read(0x390, now: 1500), 50)
        apic.advanceTimer(now: 1999)
        XCTAssertNil(apic.deliverableVector, "not yet")
        apic.advanceTimer(now: 2000)
        XCTAssertEqual(apic.deliverableVector, 0xEC)
        XCTAssertNil(apic.nextDeadline, "one-shot: done")
        XCTAssertEqual(apic.read(0x390, now: 2500), 0)

        _ = apic.write(0x320, 0x2_00EC, now: 3000)    // periodic
        _ = apic.write(0x380, 30_000, now: 3000)
        apic.advanceTimer(now: 303_000 + 2 * 300_000 + 10)  // three periods late
        XCTAssertEqual(apic.nextDeadline, 1_203_000, "missed periods skipped, no burst")
    }

    /// A periodic timer programmed shorter than 25,000 bus ticks (1 ms) runs at that minimum, so a guest
    /// cannot make its vCPU take nothing but timer exits; its current count runs down over the minimum.
    func testAPeriodicTimerFiresNoOftenerThanTheMinimumPeriod() {
        XCTAssertEqual(LocalAPIC.minimumPeriodBusTicks, 25_000)
        enable()
        _ = apic.write(0x3E0, 0x0B, now: 0)           // divide by 1: 10 TSC ticks per count
        _ = apic.write(0x320, 0x2_00EC, now: 0)       // periodic
        _ = apic.write(0x380, 1, now: 0)              // 1 count: 10 TSC ticks, asked
        XCTAssertEqual(apic.nextDeadline, 250_000, "25,000 bus ticks of 10 TSC ticks")
        XCTAssertEqual(apic.read(0x390, now: 10_000), 24_000)
        apic.advanceTimer(now: 250_000)
        XCTAssertEqual(apic.deliverableVector, 0xEC)
        XCTAssertEqual(apic.nextDeadline, 500_000)
        _ = apic.write(0x380, 25_000, now: 500_000)   // exactly the minimum: as programmed
        XCTAssertEqual(apic.nextDeadline, 750_000)
    }

    func testTSCDeadlineTimerThroughTheMSR() {
        enable()
        _ = apic.write(0x320, 0x4_00EF, now: 0)       // TSC-deadline mode
        XCTAssertEqual(apic.writeMSR(0x6E0, 5000, now: 0).accepted, true)
        XCTAssertEqual(apic.nextDeadline, 5000)
        apic.advanceTimer(now: 5001)
        XCTAssertEqual(apic.deliverableVector, 0xEF)
        XCTAssertEqual(apic.readMSR(0x6E0, now: 5001), 0, "disarmed once fired")
        _ = apic.write(0x320, 0x5_00EF, now: 0)       // masked, still TSC-deadline
        _ = apic.writeMSR(0x6E0, 9000, now: 0)
        XCTAssertNil(apic.nextDeadline)
    }

    func testX2APICRegistersAsMSRs() {
        XCTAssertNil(apic.readMSR(0x802, now: 0), "no x2APIC MSRs in xAPIC mode")
        apic.setX2APICMode(true)
        XCTAssertEqual(apic.readMSR(0x802, now: 0), 0, "x2APIC ID")
        XCTAssertEqual(apic.writeMSR(0x80F, 0x1FF, now: 0).accepted, true, "SVR")
        XCTAssertEqual(apic.writeMSR(0x802, 5, now: 0).accepted, false, "the ID is read-only: #GP")
        XCTAssertEqual(apic.writeMSR(0x830, 0x0004_0041, now: 0).accepted, true, "ICR: self IPI by shorthand")
        XCTAssertEqual(apic.deliverableVector, 0x41)
        XCTAssertEqual(apic.writeMSR(0x83F, 0x42, now: 0).accepted, true, "SELF IPI register")
        XCTAssertEqual(apic.deliverableVector, 0x42)
    }

    /// The hostile guest (Guests/HostileLinux) writes every x2APIC MSR: reserved and read-only ones must
    /// fault as on hardware, not be taken silently (a write to the ISR or IRR words would otherwise land
    /// nowhere while the guest believes it worked).
    func testReservedAndReadOnlyX2APICMSRsFault() {
        apic.setX2APICMode(true)
        let readOnly: [UInt32] = [0x802, 0x803, 0x80A, 0x80D] + Array(0x810...0x827) + [0x839]
        let reserved: [UInt32] = [0x800, 0x801, 0x804, 0x805, 0x806, 0x807, 0x809, 0x80C, 0x80E, 0x829, 0x82F, 0x831,
                                  0x83A, 0x83D, 0x840, 0x8FF]
        for index in readOnly + reserved {
            XCTAssertFalse(apic.writeMSR(index, 0, now: 0).accepted, "WRMSR \(String(index, radix: 16)): #GP")
        }
        for index in reserved + [0x80B, 0x83F] {
            XCTAssertNil(apic.readMSR(index, now: 0), "RDMSR \(String(index, radix: 16)): #GP")
        }
        XCTAssertFalse(apic.writeMSR(0x80B, 1, now: 0).accepted, "a nonzero EOI: #GP")
        XCTAssertTrue(apic.writeMSR(0x80B, 0, now: 0).accepted, "EOI")
        for index: UInt32 in [0x808, 0x80F, 0x828, 0x830, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837, 0x838, 0x83E] {
            XCTAssertTrue(apic.writeMSR(index, index == 0x80F ? 0x1FF : 0, now: 0).accepted, "WRMSR \(String(index, radix: 16))")
            XCTAssertNotNil(apic.readMSR(index, now: 0), "RDMSR \(String(index, radix: 16))")
        }
        for index in readOnly { XCTAssertNotNil(apic.readMSR(index, now: 0), "RDMSR \(String(index, radix: 16))") }
    }

    func testNonsenseFromTheGuestCannotTrap() {
        for offset in stride(from: 0, to: 0x2000, by: 4) {
            for value: UInt32 in [0, 0xFFFF_FFFF, 0x8000_0000] { _ = apic.write(offset, value, now: UInt64.max) }
            _ = apic.read(offset, now: 0)
        }
        apic.setX2APICMode(true)
        for index: UInt32 in 0x7F0...0x900 {
            _ = apic.writeMSR(index, UInt64.max, now: UInt64.max)
            _ = apic.readMSR(index, now: 0)
        }
        apic.advanceTimer(now: UInt64.max)
        _ = apic.nextDeadline
    }
}

final class IOAPICTests: XCTestCase {
    var ioapic = IOAPIC()

    func program(_ line: Int, _ low: UInt32, high: UInt32 = 0) {
        _ = ioapic.write(0x00, UInt32(0x10 + 2 * line))
        _ = ioapic.write(0x10, low)
        _ = ioapic.write(0x00, UInt32(0x11 + 2 * line))
        _ = ioapic.write(0x10, high)
    }

    func testVersionAndMaskedAtReset() {
        _ = ioapic.write(0x00, 0x01)
        XCTAssertEqual(ioapic.read(0x10), 0x0017_0020, "24 entries, version 0x20")
        XCTAssertNil(ioapic.setInput(4, true), "masked")
    }

    func testEdgeInputFiresOnARisingEdge() {
        program(4, 0x24)                              // COM1: vector 0x24, edge
        XCTAssertEqual(ioapic.setInput(4, true), IOAPIC.Delivery(vector: 0x24, level: false))
        XCTAssertNil(ioapic.setInput(4, true), "still high: no new edge")
        XCTAssertNil(ioapic.setInput(4, false))
        XCTAssertNotNil(ioapic.setInput(4, true))
    }

    func testLevelInputWaitsForEOI() {
        program(9, 0xA030)                            // level, active low, vector 0x30
        XCTAssertEqual(ioapic.setInput(9, true), IOAPIC.Delivery(vector: 0x30, level: true))
        XCTAssertNil(ioapic.setInput(9, true), "remote IRR set")
        _ = ioapic.write(0x00, 0x22)
        XCTAssertNotEqual(ioapic.read(0x10) & 0x4000, 0, "remote IRR visible")
        XCTAssertEqual(ioapic.endOfInterrupt(vector: 0x30), IOAPIC.Delivery(vector: 0x30, level: true), "still asserted: again")
        XCTAssertNil(ioapic.setInput(9, false))
        XCTAssertNil(ioapic.endOfInterrupt(vector: 0x30))
    }

    func testNonsenseFromTheGuestCannotTrap() {
        for index: UInt32 in 0...0x1FF {
            _ = ioapic.write(0x00, index)
            _ = ioapic.write(0x10, 0xFFFF_FFFF)
            _ = ioapic.read(0x10)
        }
        for offset in 0..<0x200 { _ = ioapic.write(offset, 0xFFFF_FFFF); _ = ioapic.read(offset) }
        XCTAssertNil(ioapic.setInput(-1, true))
        XCTAssertNil(ioapic.setInput(24, true))
        _ = ioapic.endOfInterrupt(vector: 0xFF)
    }
}

final class CPUIDPolicyTests: XCTestCase {
    let policy = CPUIDPolicy(apicID: 0)
    let everything = CPUIDPolicy.Registers(0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)

    func testTheHypervisorRangeIsKVMs() {
        let signature = policy.answer(leaf: 0x4000_0000, subleaf: 0, host: everything)
        let name = [signature.ebx, signature.ecx, signature.edx].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        XCTAssertEqual(String(decoding: name.prefix(9), as: UTF8.self), "KVMKVMKVM")
        XCTAssertEqual(policy.answer(leaf: 0x4000_0001, subleaf: 0, host: everything).eax & 1, 1, "kvmclock")
        XCTAssertEqual(policy.answer(leaf: 0x4000_0100, subleaf: 0, host: everything), .zero, "no Xen here")
    }

    /// x2APIC and the TSC-deadline timer are the VMM's own: offered on a host without them (QEMU TCG, where
    /// hiding them made Linux probe the xAPIC's MMIO page).
    func testEmulatedAPICFeaturesAreOfferedOnAnyHost() {
        let leaf1 = policy.answer(leaf: 1, subleaf: 0, host: .zero)
        XCTAssertEqual(leaf1.ecx, 1 << 21 | 1 << 24 | 1 << 31, "x2APIC, TSC deadline and the hypervisor bit only")
    }

    func testOnlyAllowedFeaturesPass() {
        let leaf1 = policy.answer(leaf: 1, subleaf: 0, host: everything)
        XCTAssertNotEqual(leaf1.ecx & 1 << 31, 0, "hypervisor")
        XCTAssertNotEqual(leaf1.ecx & 1 << 21, 0, "x2APIC")
        XCTAssertNotEqual(leaf1.ecx & 1 << 24, 0, "TSC deadline")
        for hidden in [3, 5, 6, 17, 26, 27, 28] { XCTAssertEqual(leaf1.ecx & 1 << UInt32(hidden), 0, "ECX bit \(hidden)") }
        for hidden in [7, 14, 21, 22, 28] { XCTAssertEqual(leaf1.edx & 1 << UInt32(hidden), 0, "EDX bit \(hidden)") }
        XCTAssertEqual(leaf1.ebx >> 16 & 0xFF, 1, "one logical processor")
        XCTAssertEqual(policy.answer(leaf: 0x8000_0001, subleaf: 0, host: everything).ecx & 1 << 2, 0, "no SVM")
        XCTAssertEqual(policy.answer(leaf: 0x8000_0007, subleaf: 0, host: everything), .zero, "no invariant TSC")
        XCTAssertEqual(policy.answer(leaf: 7, subleaf: 0, host: everything).ecx & 1 << 16, 0, "no LA57")
        XCTAssertEqual(policy.answer(leaf: 0xD, subleaf: 0, host: everything), .zero, "no XSAVE")
        XCTAssertEqual(policy.answer(leaf: 0, subleaf: 0, host: everything).eax, 0xD)
    }
}

final class KVMClockTests: XCTestCase {
    /// The scale turns one second of TSC into 1e9 ns within a few ns, for TSCs from Bochs' deterministic
    /// 100 MHz-ish to a real 4 GHz.
    func testScaleGivesNanoseconds() throws {
        for khz: UInt64 in [1, 1_000, 99_999, 1_000_000, 2_614_318, 4_000_000] {
            let scale = try XCTUnwrap(KVMClock.scale(tscKHz: khz))
            let oneSecond = KVMClock.nanoseconds(khz * 1000, scale)
            XCTAssertLessThanOrEqual(abs(Int64(oneSecond) - 1_000_000_000), 1_000_000_000 / 100_000_000 + 2, "\(khz) kHz: \(oneSecond) ns")
        }
        XCTAssertNil(KVMClock.scale(tscKHz: 0))
        XCTAssertNil(KVMClock.scale(tscKHz: UInt64.max))
    }

    func testTheStructuresLayout() {
        let info = KVMClock.timeInfo(version: 2, tsc: 0x1122, systemTime: 0x3344, scale: .init(multiplier: 0xAABB_CCDD, shift: -1))
        XCTAssertEqual(info.count, 32)
        XCTAssertEqual(info[0], 2)
        XCTAssertEqual(info[8], 0x22)
        XCTAssertEqual(info[16], 0x44)
        XCTAssertEqual([info[24], info[25], info[26], info[27]], [0xDD, 0xCC, 0xBB, 0xAA])
        XCTAssertEqual(info[28], 0xFF, "shift -1")
        XCTAssertEqual(info[29], KVMClock.stableFlag)
        XCTAssertEqual(KVMClock.wallClock(version: 2, seconds: 1, nanoseconds: 2).count, 12)
    }
}

final class InterruptInjectionTests: XCTestCase {
    let interruptsOn: UInt64 = 0x202

    func decide(interrupted: UInt64 = 0, pending: UInt8? = 0x30, rflags: UInt64 = 0x202, shadow: UInt64 = 0) -> InterruptInjection {
        InterruptInjection.decide(interrupted: interrupted, errorCode: 0, pending: pending, rflags: rflags, interruptibility: shadow)
    }

    func testTheDecision() {
        XCTAssertEqual(decide(pending: nil), .nothing)
        XCTAssertEqual(decide(), .inject(vector: 0x30))
        XCTAssertEqual(decide(rflags: 0x2), .openWindow, "IF clear")
        XCTAssertEqual(decide(shadow: 1), .openWindow, "STI shadow")
        XCTAssertEqual(decide(shadow: 2), .openWindow, "MOV SS shadow")
        let pageFault: UInt64 = InterruptInjection.valid | 3 << 8 | 1 << 11 | 14
        XCTAssertEqual(decide(interrupted: pageFault), .reinject(event: pageFault, errorCode: 0),
                       "an interrupted #PF goes first, even with an interrupt pending")
        XCTAssertEqual(decide(interrupted: pageFault, pending: nil), .reinject(event: pageFault, errorCode: 0))
        XCTAssertEqual(decide(interrupted: 14), .inject(vector: 0x30), "not valid: no event was interrupted")
        XCTAssertEqual(InterruptInjection.externalInterrupt(0xEC), 0x8000_00EC)
    }
}

final class GuestMSRsTests: XCTestCase {
    var msrs = GuestMSRs()

    func testWhatLinuxReadsAtBoot() {
        XCTAssertEqual(msrs.read(0x10, tsc: 1234), 1234)
        XCTAssertEqual(msrs.read(0x1B, tsc: 0), 0xFEE0_0900)
        XCTAssertEqual(msrs.read(0x2FF, tsc: 0)! & 0x800, 0x800, "MTRRs enabled, default WB")
        XCTAssertEqual(msrs.read(0x277, tsc: 0), 0x0007_0406_0007_0406)
        XCTAssertNil(msrs.read(0x48, tsc: 0), "SPEC_CTRL is not modelled")
        XCTAssertEqual(msrs.unknownAccesses, 1)
    }

    func testX2APICAndKVMClockWrites() {
        XCTAssertEqual(msrs.write(0x1B, 0xFEE0_0C00), .x2APICMode(true))
        XCTAssertEqual(msrs.write(0x1B, 0xFEE0_0C00), GuestMSRs.Effect.none)
        XCTAssertNil(msrs.write(0x1B, 0x1234_5C00), "the APIC does not move")
        XCTAssertEqual(msrs.write(0x4B56_4D01, 0x5000 | 1), .systemTime(0x5001))
        XCTAssertEqual(msrs.write(0x4B56_4D00, 0x6000), .wallClock(0x6000))
        XCTAssertNil(msrs.write(0x277, 0x0002_0000_0000_0000), "PAT type 2 is reserved")
        XCTAssertNil(msrs.write(0xC001_0015, 1))
        XCTAssertEqual(msrs.write(0x259, 0x0606_0606_0606_0606), GuestMSRs.Effect.none)
        XCTAssertEqual(msrs.read(0x259, tsc: 0), 0x0606_0606_0606_0606)
    }
}
