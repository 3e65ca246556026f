import SwiftletABI
import VMMCore
import XCTest

/// The Linux guest's board: ports, MMIO and MSRs routed to their devices, interrupts through the IOAPIC to
/// the local APIC, the ACPI power registers, and guest nonsense that must not trap.
final class LinuxBoardTests: XCTestCase {
    /// The messages the guest's output becomes, as bytes.
    func messages(_ board: inout LinuxBoard, _ text: [UInt8]) -> [[UInt8]] {
        var sent: [[UInt8]] = []
        for byte in text where board.writePort(0x3F8, size: 1, value: UInt64(byte)) == .consoleOutput {
            let taken = board.console.take()
            sent.append((0..<taken.count).map { ConsoleProtocol.byte(taken.words, $0) })
        }
        return sent
    }

    func testSerialOutputGoesOutRawAtNewlinesAndFullMessages() {
        var board = LinuxBoard(tscPerBusTick: 40)
        let prompt = Array("Linux 6.1\r\n~ # \u{1B}[0m\u{3}\u{8} \u{8}".utf8)
        XCTAssertEqual(messages(&board, prompt), [Array("Linux 6.1\r\n".utf8)], "a newline sends, CR and all")
        XCTAssertTrue(board.console.pending, "the prompt waits for a flush (HLT)")
        let held = board.console.take()
        XCTAssertEqual((0..<held.count).map { ConsoleProtocol.byte(held.words, $0) }, Array("~ # \u{1B}[0m\u{3}\u{8} \u{8}".utf8),
                       "control bytes and escape sequences unchanged")
        XCTAssertFalse(board.console.pending)
        let long = messages(&board, Array(repeating: UInt8(ascii: "x"), count: 100))
        XCTAssertEqual(long.map(\.count), [32, 32, 32], "a line without a newline goes out a message (32 bytes) at a time")
        XCTAssertEqual(board.console.count, 4)
    }

    /// A caller that does not take a full message loses nothing held and the buffer never grows.
    func testAFullBufferIsNeverOverrun() {
        var output = SerialOutput()
        for byte in 0..<32 { _ = output.put(UInt8(byte)) }
        XCTAssertTrue(output.put(0x41), "still full: send now")
        XCTAssertEqual(output.count, SerialOutput.capacity)
        XCTAssertEqual(ConsoleProtocol.byte(output.take().words, 31), 31)
    }

    func testUnbackedPortsReadAllOnesAndIgnoreWrites() {
        var board = LinuxBoard(tscPerBusTick: 40)
        for port: UInt16 in [0x42, 0x61, 0x21, 0xA1, 0x80, 0xCF8, 0x2E9] {
            XCTAssertEqual(board.readPort(port, size: 1, wallClock: 0), UInt64.max)
            XCTAssertEqual(board.writePort(port, size: 1, value: 0x12), .none)
        }
        XCTAssertEqual(board.unbackedPorts, 14)
        XCTAssertEqual(board.readPort(0x3FD, size: 1, wallClock: 0) & 0x60, 0x60, "the UART's LSR: transmitter empty")
    }

    func testRefusedX2APICAccessesAreCounted() {
        var board = LinuxBoard(tscPerBusTick: 40, x2APIC: true)
        XCTAssertNil(board.writeMSR(0x810, 0, now: 0), "ISR: read-only")
        XCTAssertNil(board.writeMSR(0x800, 0, now: 0), "reserved")
        XCTAssertNil(board.readMSR(0x80B, now: 0), "EOI: write-only")
        XCTAssertNotNil(board.writeMSR(0x80B, 0, now: 0))
        XCTAssertNotNil(board.readMSR(0x802, now: 0))
        XCTAssertEqual(board.refusedAPICAccesses, 3)
    }

    func testACPISleepAndResetRegisters() {
        var board = LinuxBoard(tscPerBusTick: 40)
        XCTAssertEqual(board.writePort(0x600, size: 1, value: 5 << 2), .none, "SLP_TYP without SLP_EN")
        XCTAssertEqual(board.writePort(0x600, size: 1, value: 1 << 2 | 0x20), .none, "another sleep state is not offered")
        XCTAssertEqual(board.writePort(0x600, size: 1, value: 5 << 2 | 0x20), .powerOff)
        XCTAssertEqual(board.writePort(0x602, size: 1, value: 2), .none)
        XCTAssertEqual(board.writePort(0x602, size: 1, value: 1), .reset(.acpiRegister))
    }

    /// The other reset lines Linux knows (`reboot=k`, `reboot=p`): only the reset commands reset; the
    /// keyboard controller's other commands and 0xCF9's other bits are ports nothing backs.
    func testTheKeyboardControllerAndPortCF9Reset() {
        var board = LinuxBoard(tscPerBusTick: 40)
        XCTAssertEqual(board.writePort(0x64, size: 1, value: 0xFE), .reset(.keyboardController))
        XCTAssertEqual(board.writePort(0x64, size: 1, value: 0xAA), .none, "self-test: no controller here")
        XCTAssertEqual(board.writePort(0x64, size: 2, value: 0xFE), .none, "a 16-bit write is not the command")
        XCTAssertEqual(board.writePort(0xCF9, size: 1, value: 0x02), .none, "SYS_RST alone only selects a hard reset")
        XCTAssertEqual(board.writePort(0xCF9, size: 1, value: 0x06), .reset(.resetControl))
        XCTAssertEqual(board.writePort(0xCF8, size: 4, value: 0x8000_0000), .none, "PCI CONFIG_ADDRESS, not 0xCF9")
        XCTAssertEqual(board.unbackedPorts, 4)
        XCTAssertEqual(board.readPort(0x64, size: 1, wallClock: 0), UInt64.max, "reads stay all ones")
    }

    /// A reset puts the APIC (timer, mode, in-service vector), the IOAPIC, the UART and the MSRs (kvmclock's
    /// page, PAT, APIC base) back to power-on, and keeps the battery-backed CMOS and the VMM's counters.
    func testABoardResetStartsTheDevicesAgainAndKeepsTheClockAndCounters() {
        var board = LinuxBoard(tscPerBusTick: 40, x2APIC: true)
        XCTAssertNotNil(board.writeMSR(0x80F, 0x1FF, now: 0))                 // SVR: enabled
        XCTAssertNotNil(board.writeMSR(0x832, 2 << 17 | 0xEC, now: 0))        // TSC deadline, vector 0xEC
        XCTAssertNotNil(board.writeMSR(0x6E0, 1000, now: 0))
        board.writeMemory(0xFEC0_0000, size: 4, value: 0x18, now: 0)          // IOAPIC entry 4: vector 0x24
        board.writeMemory(0xFEC0_0010, size: 4, value: 0x24, now: 0)
        _ = board.writePort(0x3FC, size: 1, value: 0x08)                      // UART: OUT2, THRE interrupt
        _ = board.writePort(0x3F9, size: 1, value: 0x02)
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x24)
        board.acknowledge(0x24)
        XCTAssertEqual(board.writeMSR(0x4B56_4D01, 0x5000 | 1, now: 0), .systemTime(0x5001))   // kvmclock page
        XCTAssertNotNil(board.writeMSR(0x277, 0x0606_0606_0606_0606, now: 0))  // PAT: all write-back
        XCTAssertEqual(board.writeMSR(0x1B, 0xFEE0_0000 | 1 << 11, now: 0), .x2APICMode(false))
        _ = board.writePort(0x70, size: 1, value: 0x20)                       // CMOS byte 0x20: 0x5A
        _ = board.writePort(0x71, size: 1, value: 0x5A)
        _ = board.writePort(0x80, size: 1, value: 0)                          // nothing backs it
        XCTAssertNil(board.readMSR(0x1234, now: 0))
        _ = board.console.put(0x41)                                           // half a console line

        board.reset()
        XCTAssertNil(board.apic.nextDeadline, "no timer armed")
        XCTAssertTrue(board.apic.x2APICMode, "x2APIC again, as at power-on")
        XCTAssertEqual(board.readMSR(0x1B, now: 0), 0xFEE0_0000 | 1 << 11 | 1 << 10 | 1 << 8)
        XCTAssertEqual(board.readMSR(0x4B56_4D01, now: 0), 0, "kvmclock's page forgotten")
        XCTAssertEqual(board.readMSR(0x277, now: 0), 0x0007_0406_0007_0406, "the power-on PAT")
        board.writeMemory(0xFEC0_0000, size: 4, value: 0x18, now: 0)
        XCTAssertEqual(board.readMemory(0xFEC0_0010, size: 4, now: 0), 0x1_0000, "IOAPIC entries masked")
        XCTAssertEqual(board.readPort(0x3F9, size: 1, wallClock: 0), 0, "UART interrupts off")
        XCTAssertNil(board.pendingInterrupt(now: 2000), "no interrupt, nothing in service")
        XCTAssertFalse(board.console.pending, "the partial line is gone")
        _ = board.writePort(0x70, size: 1, value: 0x20)
        XCTAssertEqual(board.readPort(0x71, size: 1, wallClock: 0), 0x5A, "CMOS memory kept")
        XCTAssertEqual(board.unbackedPorts, 1, "counters kept")
        XCTAssertEqual(board.writePort(0x602, size: 1, value: 1), .reset(.acpiRegister), "and it resets again")
        XCTAssertEqual(board.msrs.unknownAccesses, 1)
    }

    func testRTCThroughItsPorts() {
        var board = LinuxBoard(tscPerBusTick: 40)
        _ = board.writePort(0x70, size: 1, value: 0x09)
        XCTAssertEqual(board.readPort(0x71, size: 1, wallClock: 1_796_083_200), 0x26, "2026 in BCD")
    }

    /// COM1's THRE interrupt reaches the guest as the vector the IOAPIC's entry 4 names, once the APIC is on.
    func testTheUARTInterruptGoesThroughTheIOAPIC() {
        var board = LinuxBoard(tscPerBusTick: 40)
        board.writeMemory(0xFEC0_0000, size: 4, value: 0x18, now: 0)          // select entry 4 low
        board.writeMemory(0xFEC0_0010, size: 4, value: 0x24, now: 0)          // vector 0x24, edge, unmasked
        _ = board.writePort(0x3FC, size: 1, value: 0x08)                      // OUT2
        _ = board.writePort(0x3F9, size: 1, value: 0x02)                      // IER: THRE
        XCTAssertNil(board.pendingInterrupt(now: 0), "the APIC is software-disabled")
        board.writeMemory(0xFEE0_00F0, size: 4, value: 0x1FF, now: 0)         // SVR: enabled
        _ = board.writePort(0x3F9, size: 1, value: 0x00)
        _ = board.writePort(0x3F9, size: 1, value: 0x02)                      // a new rising edge
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x24)
        board.acknowledge(0x24)
        XCTAssertNil(board.pendingInterrupt(now: 0), "in service until EOI")
        XCTAssertEqual(board.readMemory(0xFEE0_0100 + 0x10, size: 4, now: 0), 1 << 4, "ISR has 0x24")
        XCTAssertEqual(board.readMemory(0xFEC0_0010, size: 4, now: 0), 0x24)
    }

    /// A received byte raises IRQ 4 through the IOAPIC when the guest enabled it; RBR gives the byte back.
    func testTheUARTReceiveInterruptGoesThroughTheIOAPIC() {
        var board = LinuxBoard(tscPerBusTick: 40)
        board.writeMemory(0xFEE0_00F0, size: 4, value: 0x1FF, now: 0)         // SVR: enabled
        board.writeMemory(0xFEC0_0000, size: 4, value: 0x18, now: 0)          // select entry 4 low
        board.writeMemory(0xFEC0_0010, size: 4, value: 0x24, now: 0)          // vector 0x24, edge, unmasked
        _ = board.writePort(0x3FC, size: 1, value: 0x08)                      // OUT2
        _ = board.writePort(0x3F9, size: 1, value: 0x01)                      // IER: receive data
        XCTAssertNil(board.pendingInterrupt(now: 0), "nothing received")
        var queue = ConsoleInputQueue()
        queue.put(0x03)                                                       // Ctrl-C, as typed
        queue.feed(&board.uart)
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x24)
        board.acknowledge(0x24)
        XCTAssertEqual(board.readPort(0x3FA, size: 1, wallClock: 0) & 0x0F, 0x04, "IIR: receive data available")
        XCTAssertEqual(board.readPort(0x3FD, size: 1, wallClock: 0) & 0x01, 0x01, "LSR: data ready")
        XCTAssertEqual(board.readPort(0x3F8, size: 1, wallClock: 0), 0x03)
        XCTAssertEqual(board.readPort(0x3FD, size: 1, wallClock: 0) & 0x01, 0, "LSR: empty")
    }

    /// The guest's handler reads IIR (the THRE interrupt goes, the line drops) and the VMM then feeds a
    /// received byte at the same exit: the line rises again, and that is an edge the guest gets.
    func testInputThatComesRightAfterTheHandlerSawNoInterruptIsANewEdge() {
        var board = LinuxBoard(tscPerBusTick: 40)
        board.writeMemory(0xFEE0_00F0, size: 4, value: 0x1FF, now: 0)         // SVR: enabled
        board.writeMemory(0xFEC0_0000, size: 4, value: 0x18, now: 0)          // select entry 4 low
        board.writeMemory(0xFEC0_0010, size: 4, value: 0x24, now: 0)          // vector 0x24, edge, unmasked
        _ = board.writePort(0x3FC, size: 1, value: 0x08)                      // OUT2
        _ = board.writePort(0x3F9, size: 1, value: 0x03)                      // IER: receive data and THRE
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x24, "THRE")
        board.acknowledge(0x24)
        board.writeMemory(0xFEE0_00B0, size: 4, value: 0, now: 0)             // EOI
        XCTAssertEqual(board.readPort(0x3FA, size: 1, wallClock: 0) & 0x0F, 0x02, "IIR: THRE, which reading clears")
        var queue = ConsoleInputQueue()
        queue.put(0x65)
        queue.feed(&board.uart)                                               // the same exit, after the read
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x24, "the received byte's interrupt")
    }

    func testX2APICAndTheTSCDeadlineTimer() {
        var board = LinuxBoard(tscPerBusTick: 40)
        XCTAssertTrue(board.isDevice(0xFEE0_0030))
        XCTAssertEqual(board.writeMSR(0x1B, 0xFEE0_0000 | 1 << 11 | 1 << 10, now: 0), .x2APICMode(true))
        XCTAssertFalse(board.isDevice(0xFEE0_0030), "no xAPIC MMIO in x2APIC mode")
        XCTAssertEqual(board.readMemory(0xFEE0_0030, size: 4, now: 0), UInt64.max)
        XCTAssertNotNil(board.writeMSR(0x80F, 0x1FF, now: 0))                 // SVR
        XCTAssertNotNil(board.writeMSR(0x832, 2 << 17 | 0xEC, now: 0))        // LVT timer: TSC deadline, vector 0xEC
        XCTAssertNotNil(board.writeMSR(0x6E0, 1000, now: 0))
        XCTAssertEqual(board.apic.nextDeadline, 1000)
        XCTAssertNil(board.pendingInterrupt(now: 999))
        XCTAssertEqual(board.pendingInterrupt(now: 1000), 0xEC)
        XCTAssertNil(board.writeMSR(0x802, 5, now: 0), "the x2APIC ID is read-only: #GP")
        XCTAssertNil(board.readMSR(0x1234_5678, now: 0), "unknown MSR: #GP")
    }

    /// The board the Linux VMM uses starts in x2APIC mode, as firmware may leave it: IA32_APIC_BASE says so,
    /// the x2APIC MSRs answer, and the xAPIC page is no device.
    func testTheBoardCanStartInX2APICMode() {
        var board = LinuxBoard(tscPerBusTick: 40, x2APIC: true)
        XCTAssertEqual(board.readMSR(0x1B, now: 0), 0xFEE0_0000 | 1 << 11 | 1 << 10 | 1 << 8)
        XCTAssertEqual(board.readMSR(0x802, now: 0), 0, "the x2APIC ID")
        XCTAssertFalse(board.isDevice(0xFEE0_0020))
        XCTAssertTrue(board.isDevice(0xFEC0_0010))
    }

    /// Every port, device register and APIC MSR written with nonsense, in any order: nothing traps, and
    /// what comes out is a vector the guest can take.
    func testNonsenseFromTheGuestCannotTrap() {
        var board = LinuxBoard(tscPerBusTick: 40)
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            return random
        }
        for round in 0..<200_000 {
            let value = next(), choice = next()
            switch choice % 6 {
            case 0: _ = board.writePort(UInt16(truncatingIfNeeded: choice >> 8), size: 1, value: value)
            case 1: _ = board.readPort(UInt16(truncatingIfNeeded: choice >> 8), size: 4, wallClock: value)
            case 2: board.writeMemory(0xFEC0_0000 + (choice >> 8) % 0x1000, size: 4, value: value, now: UInt64(round))
            case 3: board.writeMemory(0xFEE0_0000 + (choice >> 8) % 0x1000, size: 4, value: value, now: UInt64(round))
            case 4: _ = board.writeMSR(UInt32(0x800 + (choice >> 8) % 0x100), value, now: UInt64(round))
            default: _ = board.readMemory(choice, size: 8, now: value)
            }
            if let vector = board.pendingInterrupt(now: value) {
                XCTAssertGreaterThanOrEqual(vector, 16)
                board.acknowledge(vector)
            }
            if board.console.count == SerialOutput.capacity { _ = board.console.take() }
        }
    }

    /// Without a disk the window is nothing (reads all ones) and the DSDT names no virtio device; with one
    /// the window answers as virtio-mmio, the DSDT names it, and a served request raises its level-triggered
    /// GSI through the IOAPIC until the guest acknowledges it (and again after the EOI while it is pending).
    func testTheDiskWindowAndItsLevelTriggeredInterrupt() {
        var board = LinuxBoard(tscPerBusTick: 40)
        XCTAssertFalse(board.isDisk(LinuxBoard.diskBase))
        XCTAssertEqual(board.readMemory(LinuxBoard.diskBase, size: 4, now: 0), UInt64.max)
        XCTAssertTrue(board.acpi.virtioDevices.isEmpty)
        board.attachDisk(sectors: 2048, segmentMaximum: 126)
        XCTAssertEqual(board.acpi.virtioDevices.first?.base, 0xFEB0_0000)
        XCTAssertEqual(board.acpi.virtioDevices.first?.gsi, 16)
        XCTAssertEqual(board.readMemory(LinuxBoard.diskBase, size: 4, now: 0), 0x7472_6976, "magic")
        XCTAssertEqual(board.readMemory(LinuxBoard.diskBase + 0x100, size: 4, now: 0), 2048, "capacity")
        XCTAssertFalse(board.isDisk(LinuxBoard.diskBase + 0x200))

        let ram = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x10000, alignment: 4096)
        defer { ram.deallocate() }
        ram.initializeMemory(as: UInt8.self, repeating: 0)
        let memory = GuestMemory(base: UInt64(UInt(bitPattern: ram.baseAddress!)), bytes: UInt64(ram.count))
        board.writeMemory(0xFEC0_0000, size: 4, value: 0x30, now: 0)          // entry 16 low
        board.writeMemory(0xFEC0_0010, size: 4, value: 0x8031, now: 0)        // vector 0x31, level, unmasked
        board.writeMemory(0xFEE0_00F0, size: 4, value: 0x1FF, now: 0)         // SVR: enabled
        typealias R = VirtioMMIO.Register
        for (offset, value) in [(R.status, UInt32(3)), (R.driverFeaturesSelect, 1), (R.driverFeatures, 1), (R.status, 11),
                                (R.queueSize, 8), (R.queueDescriptorLow, 0x1000), (R.queueDriverLow, 0x2000),
                                (R.queueDeviceLow, 0x3000), (R.queueReady, 1), (R.status, 15)] {
            XCTAssertEqual(board.writeDisk(LinuxBoard.diskBase + UInt64(offset), size: 4, value: UInt64(value), memory: memory), .none)
        }
        // One flush: header at 0x4000, status at 0x4100.
        func put<T>(_ value: T, _ offset: Int) { ram.baseAddress!.storeBytes(of: value, toByteOffset: offset, as: T.self) }
        put(UInt32(4), 0x4000)
        put(UInt64(0x4000), 0x1000); put(UInt32(16), 0x1008); put(UInt16(1), 0x100C); put(UInt16(1), 0x100E)
        put(UInt64(0x4100), 0x1010); put(UInt32(1), 0x1018); put(UInt16(2), 0x101C)
        put(UInt16(0), 0x2004); put(UInt16(1), 0x2002)
        XCTAssertEqual(board.writeDisk(LinuxBoard.diskBase + UInt64(R.queueNotify), size: 4, value: 0, memory: memory), .notify(queue: 0))
        struct Flushes: VirtioBlockBackend {
            var count = 0
            mutating func perform(_ request: VirtioBlockRequest, data: UnsafeBufferPointer<SplitVirtqueue.Segment>, memory: GuestMemory) -> UInt8 {
                count += 1
                return 0
            }
        }
        var backend = Flushes()
        let segments = UnsafeMutableBufferPointer<SplitVirtqueue.Segment>.allocate(capacity: 128)
        defer { segments.deallocate() }
        board.serveDisk(memory, segments: segments, backend: &backend)
        XCTAssertEqual(backend.count, 1)
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x31)
        board.acknowledge(0x31)
        board.writeMemory(0xFEE0_00B0, size: 4, value: 0, now: 0)             // EOI: still asserted, fires again
        XCTAssertEqual(board.pendingInterrupt(now: 0), 0x31)
        board.acknowledge(0x31)
        XCTAssertEqual(board.readMemory(LinuxBoard.diskBase + 0x60, size: 4, now: 0), 1, "used-buffer interrupt")
        _ = board.writeDisk(LinuxBoard.diskBase + 0x64, size: 4, value: 1, memory: memory)
        board.writeMemory(0xFEE0_00B0, size: 4, value: 0, now: 0)
        XCTAssertNil(board.pendingInterrupt(now: 0), "acknowledged: the line is low")
        // A reset keeps the disk (a new device: the driver sets it up again) and the run's counts.
        board.reset()
        XCTAssertEqual(board.diskCounts.served, 1)
        XCTAssertEqual(board.readMemory(LinuxBoard.diskBase + 0x70, size: 4, now: 0), 0)
        XCTAssertEqual(board.readMemory(LinuxBoard.diskBase + 0x100, size: 4, now: 0), 2048)
    }
}
