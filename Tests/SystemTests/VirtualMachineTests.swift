import SwiftletTools
import XCTest

/// The user-level VMM on both backends, in the standard image beside the native tasks: its 64-bit test
/// guest (CPUID, IN/OUT, MMIO to an unbacked guest-physical address, RDMSR/WRMSR, HLT woken by an injected
/// interrupt, an interrupt-window exit, its own SSE state and SYSCALL MSRs), the owner checks, the bad-reply test (state no CPU can enter must come back as an
/// entry-failure exit), and the hostile guest (unbacked memory and ports, an exit flood, a spin on invalid
/// opcodes, a triple fault), and a guest that spins without exits while the VMM at the same priority must
/// still run — after which the native tasks must still pass and the system power off.
final class VirtualMachineTests: SystemTestCase {
    static let checks = [
        "PASS cpuid 0x40000000 names the VMM", "PASS cpuid 1 reports a hypervisor", "PASS outl/inl through the VMM's scratch port",
        "PASS MMIO write and read at 0x3f000000 emulated by the VMM", "PASS wrmsr/rdmsr of MSR 0x40000100 kept by the VMM",
        "PASS rdmsr of an unknown MSR: #GP injected and handled by the guest's IDT",
        "PASS hlt, then interrupt 0x30 injected by the VMM reached the IDT", "PASS no interrupt while IF is clear",
        "PASS interrupt 0x31 delivered at the interrupt window",
        "PASS guest page 0x60000 unmapped by the VMM, faulted, mapped back with its contents",
        "PASS xmm3 survives a VMM that uses the FPU during the exit",
        "PASS rdmsr LSTAR returns what the guest wrote", "PASS syscall reached the guest's LSTAR handler and returned",
        "PASS guest runs on after the VMM's bad replies",
    ]
    static let ownerChecks = [
        "a VM capability without the control right cannot map into the VM", "nor create a vCPU in it",
        "a vCPU capability without the control right cannot configure or stop the vCPU",
        "no ordinary thread can be created in a VM", "a vCPU's state is set by its VMM's replies, not like a thread's",
        "only pages the VMM holds can become guest memory", "a vCPU needs a VM, not an ordinary task",
    ]

    func check(_ result: RunResult, backend: String, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "virt: \(backend.uppercased()) backend ready", in: result, file: file, line: line)
        assertLine(containing: "[test guest] test guest: 64-bit long mode, paging on", in: result, file: file, line: line)
        for check in Self.checks {
            assertLine(containing: "[test guest] \(check)", in: result, file: file, line: line)
        }
        XCTAssertFalse(result.console.contains("[test guest] FAIL"), "a test-guest check failed", file: file, line: line)
        for check in Self.ownerChecks {
            assertLine(containing: "vmm: PASS \(check)", in: result, file: file, line: line)
        }
        for step in 1...6 {
            assertLine(containing: "vmm: bad reply \(step)/6", "VM entry refused", "state restored", in: result, file: file, line: line)
        }
        assertLine(containing: "vmm: test guest finished after", "exits: 0 checks failed", in: result, file: file, line: line)
        assertLine(containing: "vmm: hostile guest double/triple-faulted after", "VM stopped, VMM and kernel fine",
                   in: result, file: file, line: line)
        // A guest that never exits does not keep a thread of its priority (the VMM) off the CPU.
        assertLine(containing: "vmm: spinning guest ran", "ms without an exit; the VMM, at the vCPU's priority, still ran and stopped it",
                   in: result, file: file, line: line)
        // Host interrupts in guest mode were taken by the kernel (the VMM never hears of them).
        if let stats = assertLine(containing: "VM exits sent to VMMs,", "host interrupts and preemptions taken in guest mode",
                                  in: result, file: file, line: line),
           let taken = stats.firstMatch(of: /VMMs, (\d+) host/).flatMap({ Int($0.1) }) {
            XCTAssertGreaterThan(taken, 0, "no host interrupt arrived in guest mode", file: file, line: line)
        }
        for metric in ["exit.cpuid.roundtrip", "exit.io.roundtrip"] {
            assertLine(containing: "bench: \(metric).instructions.\(backend) ", in: result, file: file, line: line)
        }
        // The native tasks beside the VMs all passed, the VMM too.
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed", file: file, line: line)
        assertLine(containing: "roottask: all done", in: result, file: file, line: line)
    }

    func testSVMOnQEMU() throws {
        check(try boot(), backend: "svm")
    }

    func testSVMOnBochsRyzen() throws {
        check(try boot(on: .bochs, cpu: "ryzen"), backend: "svm")
    }

    func testVMXOnBochsHaswell() throws {
        check(try boot(on: .bochs), backend: "vmx")
    }
}
