import Foundation
import SwiftletTools
import XCTest

/// Debian's unmodified cloud kernel as a guest of the VMM product, in the default system (Guests/system.dts:
/// the native tasks but the memtest test task, and a Linux vm@0 under the vmm task; the build adds the guest recipe's kernel and
/// initramfs as modules): it boots to its initramfs marker, uses kvm-clock, sees the hypervisor flag, has
/// no APIC or timer warnings, powers off by ACPI S5, and the native tasks run on beside it.
final class LinuxGuestTests: SystemTestCase {
    func check(_ result: RunResult, backend: String, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "virt: \(backend.uppercased()) backend ready", in: result, file: file, line: line)
        let lines = result.consoleLines
        // The guest's serial output reaches the console through the serial driver as the VMM's lines.
        let setup = lines.firstIndex { $0.hasPrefix("[vmm] vmm: /tasks/vmm/vm@0: Linux boot protocol 0x2") }
        let marker = lines.firstIndex { $0.hasPrefix("[vmm] swiftlet-guest: user space up at tsc ") }
        XCTAssertNotNil(setup, "the VMM's setup line", file: file, line: line)
        guard let marker else { return XCTFail("no marker line", file: file, line: line) }
        if let kernel = lines[marker].firstMatch(of: /kernel (\S+), uptime ([0-9.]+) s/) {
            XCTAssertTrue(kernel.1.hasSuffix("-cloud-amd64"), "Debian's cloud kernel: \(kernel.1)", file: file, line: line)
            print("linux: \(kernel.1) reached user space after \(kernel.2) s of guest uptime on \(backend)")
        } else {
            XCTFail("the marker names no kernel: \(lines[marker])", file: file, line: line)
        }
        assertLine(containing: "[vmm] swiftlet-guest: clocksource kvm-clock", in: result, file: file, line: line)
        assertLine(containing: "[vmm] swiftlet-guest: cpus with the hypervisor flag: 1", in: result, file: file, line: line)
        assertLine(containing: "[vmm] swiftlet-guest: APIC or timer warnings in dmesg: 0", in: result, file: file, line: line)
        // A clean ACPI power-off, then the exits by reason.
        let off = lines.firstIndex { $0.contains("vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after") }
        XCTAssertNotNil(off, "the guest's ACPI power-off", file: file, line: line)
        if let exits = assertLine(containing: "vmm: /tasks/vmm/vm@0: ", " exits by reason:", in: result, file: file, line: line),
           let total = exits.firstMatch(of: /vm@0: (\d+) exits by reason/).flatMap({ Int($0.1) }) {
            XCTAssertGreaterThan(total, 100, "exits", file: file, line: line)
            print("linux: \(exits)")
        }
        XCTAssertFalse(lines.contains { $0.hasPrefix("[vmm] vmm:") && $0.contains("refused") }, "the VMM refused something", file: file, line: line)
        // The native tasks ran beside the guest: one of theirs printed while the VMM's guest was alive
        // (after its setup line, before its power-off), and all of them passed.
        if let setup, let off {
            let native = lines[setup..<off].contains { $0.hasPrefix("[ping] ") || $0.hasPrefix("[pong] ") }
            let after = lines[off...].contains { $0.hasPrefix("[ping] ") || $0.hasPrefix("[pong] ") }
            XCTAssertTrue(native || after, "no native task's line after the guest started", file: file, line: line)
        }
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed", file: file, line: line)
        assertLine(containing: "roottask: all done", "all 3 tasks passed", in: result, file: file, line: line)   // ping, pong, vmm
    }

    func configuration(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/\(name).dts").path
    }

    /// A VM the VMM cannot honour is refused before it starts, with a message naming the node and the
    /// reason; the VMM reports the failure and the other tasks pass.
    func checkRefused(_ config: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try boot(ImageConfiguration(configuration: configuration(config)))
        assertRefusedBoot(result, reason: .tasksFailed, status: 7, file: file, line: line)
        assertLine(containing: "[vmm] vmm: /tasks/vmm/vm@0: refused: \(message)", in: result, file: file, line: line)
        XCTAssertFalse(result.console.contains("swiftlet-guest:"), "the guest ran", file: file, line: line)
        assertLine(containing: "roottask: 3 of 4 tasks passed: 1 failed", in: result, file: file, line: line)
    }

    func testADamagedKernelIsRefusedNamingTheNode() throws {
        try checkRefused("linux-bad-kernel", "no boot sector signature (0xAA55 at 0x1FE): not a bzImage")
    }

    func testAnInitrdInNoKnownFormatIsRefusedNamingTheNode() throws {
        try checkRefused("linux-bad-initrd", "the initrd is not a newc cpio archive or one compressed with gzip, xz or zstd")
    }

    func testTooLittleMemoryIsRefusedNamingTheNode() throws {
        try checkRefused("linux-small-memory", "too little guest memory for the kernel's init_size and the initrd (48 MiB given, ")
    }

    /// Input: a line typed on COM1 goes through the serial driver (its receive interrupt) to the VMM's input
    /// thread, into the guest's UART FIFO with its receive interrupt, and the guest's shell reads it.
    func testATypedLineReachesTheGuest() throws {
        let result = try boot(ImageConfiguration(configuration: configuration("linux-echo")),
                              input: ConsoleInput(after: "[vmm] swiftlet-guest: type a line", type: "hello\tfrom the host\r"))
        assertCleanBoot(result)
        // The tab arrives as typed, inside the 19 bytes read (the carriage return ended the line; 20 bytes came
        // in); the console shows it as '?', since the driver prints no control bytes.
        let read = assertLine(containing: "[vmm] swiftlet-guest: read \"hello?from the host\" (19 bytes)", in: result)
        if let read { print("linux: \(read)") }
        // The input made the exit loop look: it recalled the running vCPU or ended a halt, at least once.
        if let input = assertLine(containing: "vmm: /tasks/vmm/vm@0: 20 bytes of console input passed to the guest's UART, 0 dropped", in: result) {
            let woken = input.firstMatch(of: /recalled the vCPU (\d+) times and ended (\d+) halts/).map { (Int($0.1) ?? 0) + (Int($0.2) ?? 0) } ?? 0
            XCTAssertGreaterThan(woken, 0, "the input never made the exit loop look: \(input)")
            print("linux: \(input)")
        }
        assertLine(containing: "vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after", in: result)
        assertLine(containing: "roottask: all done", "all 3 tasks passed", in: result)
    }

    func testLinuxOnQEMUSVM() throws {
        check(try boot(.standard), backend: "svm")
    }

    /// Slow (Bochs emulates the 115200-baud line and every instruction): one run that checks everything.
    func testLinuxOnBochsVMX() throws {
        check(try boot(.standard, on: .bochs), backend: "vmx")
    }
}
