import Foundation
import SwiftletTools
import XCTest

/// Issue 10, "Bad input": a guest that programs the local APIC (x2APIC MSRs, xAPIC MMIO, illegal APIC
/// base transitions), the IOAPIC and the UART with nonsense, sends interrupts to vectors 0-15 and 255,
/// writes over its ACPI tables, the ROM area and its zero page, and touches unbacked MMIO and every port
/// cannot crash or hang the VMM. The guest (Guests/HostileLinux/hostile.S, built as the module
/// `hostile-linux`) reports each probe, prints its marker and powers off by ACPI S5; the VMM must report
/// the clean power-off with its exit statistics, and every task must pass. It also prints forged kernel
/// verdict lines (power-off, panic, halt) through its raw console, which must not end or judge the run.
final class HostileLinuxGuestTests: SystemTestCase {
    func check(_ result: RunResult, backend: String, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "virt: \(backend.uppercased()) backend ready", in: result, file: file, line: line)
        let lines = result.consoleLines
        for probe in ["x2APIC nonsense", "IOAPIC nonsense", "UART nonsense", "interrupt window", "xAPIC MMIO nonsense",
                      "ACPI, ROM, zero page and unbacked MMIO writes", "every port read, unbacked ports written"] {
            if let report = assertLine(containing: "hostile-linux: \(probe) done; ", in: result, file: file, line: line) {
                print("hostile: \(report)")
            }
        }
        // Read-only and reserved x2APIC registers fault as on hardware (LocalAPIC.x2APICWritable).
        assertLine(containing: "hostile-linux: x2APIC ISR write, reserved MSR write and EOI read faulted (#GP): 3 of 3", in: result, file: file, line: line)
        XCTAssertFalse(result.console.contains("hostile-linux: unexpected exception"), "the guest took an exception the VMM should not raise", file: file, line: line)
        XCTAssertNotNil(lines.first { $0.hasPrefix(HostileLinuxGuest.marker) }, "the guest's marker", file: file, line: line)
        // The interrupt window really delivered: the timer and the UART's line through the IOAPIC.
        if let window = lines.first(where: { $0.contains("hostile-linux: interrupt window done;") }),
           let counts = window.firstMatch(of: /interrupts (\d+) \(timer (\d+), uart (\d+)\)/) {
            XCTAssertGreaterThan(Int(counts.2) ?? 0, 0, "timer interrupts in the window: \(window)", file: file, line: line)
            XCTAssertGreaterThan(Int(counts.3) ?? 0, 0, "UART interrupts in the window: \(window)", file: file, line: line)
        } else {
            XCTFail("no interrupt window counts", file: file, line: line)
        }
        XCTAssertNotNil(lines.first { $0.contains("vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after") },
                        "the guest's ACPI power-off", file: file, line: line)
        XCTAssertFalse(result.console.contains("hostile-linux: still running after the ACPI power-off"), file: file, line: line)
        // The VMM counted every x2APIC #GP the guest took in its x2APIC probe (the only phase with such faults).
        if let counted = assertLine(containing: "vmm: /tasks/vmm/vm@0: ", " to x2APIC registers that fault (#GP)", in: result, file: file, line: line) {
            print("hostile: \(counted)")
            let refused = counted.firstMatch(of: /and (\d+) to x2APIC registers that fault/).flatMap { Int($0.1) }
            let seen = lines.first { $0.contains("hostile-linux: x2APIC nonsense done;") }?
                .firstMatch(of: /#GP so far (\d+),/).flatMap { Int($0.1) }
            XCTAssertNotNil(refused, file: file, line: line)
            XCTAssertEqual(refused, seen, "the VMM's count of refused x2APIC accesses and the guest's #GPs", file: file, line: line)
        }
        if let exits = assertLine(containing: "vmm: /tasks/vmm/vm@0: ", " exits by reason:", in: result, file: file, line: line) {
            print("hostile: \(exits)")
        }
        XCTAssertFalse(lines.contains { $0.hasPrefix("[vmm] vmm:") && ($0.contains("refused") || $0.contains("VM stopped") && !$0.contains("ACPI S5")) },
                       "the VMM refused or stopped the guest", file: file, line: line)
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed", file: file, line: line)
        assertLine(containing: "roottask: all done", "all 4 tasks passed", in: result, file: file, line: line)   // ping, pong, vmm, heartbeat
        // The guest's raw output forged the kernel's verdict lines on lines of their own; without the
        // verdict token they judged nothing (the run above ended cleanly, not as a panic).
        for forged in ["kernel: powering off: all tasks passed", "KERNEL PANIC: forged by the guest", "kernel: halted"] {
            XCTAssertTrue(lines.contains(forged), "the guest's forged line \(forged), untagged", file: file, line: line)
        }
        XCTAssertEqual(result.verdictLines, ["kernel: powering off: all tasks passed"], "the kernel's only verdict line", file: file, line: line)
    }

    var configuration: ImageConfiguration {
        ImageConfiguration(configuration: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Configurations/linux-hostile.dts").path)
    }

    func testHostileGuestOnQEMUSVM() throws {
        check(try boot(configuration), backend: "svm")
    }

    func testHostileGuestOnBochsVMX() throws {
        check(try boot(configuration, on: .bochs), backend: "vmx")
    }
}
