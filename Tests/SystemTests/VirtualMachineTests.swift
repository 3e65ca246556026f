import SwiftletTools
import XCTest

/// The user-level test VMM (`vmmtest`) on both backends, beside the standard native tasks: its 64-bit test
/// guest (CPUID, IN/OUT, MMIO to an unbacked guest-physical address, RDMSR/WRMSR, HLT woken by an injected
/// interrupt, an interrupt-window exit, its own SSE state and SYSCALL MSRs, INVD/WBINVD/MONITOR/MWAIT that
/// must exit, its own CR8, single steps, ICEBP and #AC at CPL 3 that the kernel reflects as the CPU would
/// deliver them), the owner checks, the bad-reply test (state no CPU can enter must come back
/// as an entry-failure exit with the raw code of the check that refused it — the kernel's or VM entry's
/// own — and the restored state must enter again), the hostile guest (unbacked memory and ports, an exit
/// flood, a spin on invalid opcodes, a triple fault: its figures are checked), and a guest that raises
/// CR8 to 15 and spins without exits while the VMM at the same priority must still run, see its counter
/// advance and stop it, and a guest in an endless #DB chain (CVE-2015-8104) that the VMM must be able to
/// stop — after which the native tasks must still pass and the system power off.
final class VirtualMachineTests: SystemTestCase {
    static let checks = [
        "PASS cpuid 0x40000000 names the VMM", "PASS cpuid 1 reports a hypervisor", "PASS outl/inl through the VMM's scratch port",
        "PASS MMIO write and read at 0x3f000000 emulated by the VMM",
        "PASS MMIO: movl $imm to 0x10(%rbx) and movzbl from 0x10(%rbx,%rax) emulated by the VMM", "PASS wrmsr/rdmsr of MSR 0x40000100 kept by the VMM",
        "PASS rdmsr of an unknown MSR: #GP injected and handled by the guest's IDT",
        "PASS hlt, then interrupt 0x30 injected by the VMM reached the IDT", "PASS no interrupt while IF is clear",
        "PASS interrupt 0x31 delivered at the interrupt window",
        "PASS guest page 0x60000 unmapped by the VMM, faulted, mapped back with its contents",
        "PASS xmm3 survives a VMM that uses the FPU during the exit",
        "PASS invd exited to the VMM, which stepped over it", "PASS wbinvd exited to the VMM, which stepped over it",
        "PASS cpuid 1 hides MONITOR/MWAIT", "PASS monitor exited to the VMM, which raised #UD",
        "PASS mwait exited to the VMM, which raised #UD", "PASS cr8 keeps what the guest wrote",
        "PASS rdmsr LSTAR returns what the guest wrote", "PASS syscall reached the guest's LSTAR handler and returned",
        "PASS single-step: 4 #DB reflected, DR6.BS set in each, the last one after the 4th instruction",
        "PASS guest runs on after the VMM's bad replies",
    ]
    static let ownerChecks = [
        "a VM capability without the control right cannot map into the VM", "nor create a vCPU in it",
        "a vCPU capability without the control right cannot configure or stop the vCPU",
        "no ordinary thread can be created in a VM", "a vCPU's state is set by its VMM's replies, not like a thread's",
        "only pages the VMM holds can become guest memory", "a vCPU needs a VM, not an ordinary task",
    ]

    /// `onQEMU`: QEMU 7.2 TCG checks no alignment and gives ICEBP to its own debugger, and raises no #DB at
    /// the breakpoints of a nested guest; the guests note that instead of a verdict there.
    func check(_ result: RunResult, backend: String, onQEMU: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
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
        // #DB and #AC are intercepted and reflected by the kernel: the guest sees them as it would natively.
        assertLine(containing: "[test guest] test guest: single-step #DB count 0x4, with DR6.BS 0x4, first DR6 0xffff4ff0",
                   in: result, file: file, line: line)
        if onQEMU {
            assertLine(containing: "[test guest] test guest: NOTE icebp raised no #DB", in: result, file: file, line: line)
            assertLine(containing: "[test guest] test guest: NOTE no #AC at CPL 3", in: result, file: file, line: line)
            assertLine(containing: "vmm: NOTE debug-loop guest: this CPU raised no #DB at its breakpoints", in: result, file: file, line: line)
        } else {
            assertLine(containing: "[test guest] test guest: icebp #DB count 0x1, pushed RIP - next instruction 0x0", in: result, file: file, line: line)
            assertLine(containing: "[test guest] PASS icebp: one #DB reflected, after the instruction, DR6.BS clear", in: result, file: file, line: line)
            assertLine(containing: "[test guest] test guest: #AC at CPL 3 count 0x1, error code 0x0, pushed RFLAGS 0x50002",
                       in: result, file: file, line: line)
            assertLine(containing: "[test guest] PASS alignment check at CPL 3: one #AC reflected, error code 0, at the misaligned read, RF and AC pushed",
                       in: result, file: file, line: line)
            // The endless #DB chain (CVE-2015-8104) neither reached the VMM nor kept the CPU: the VMM's
            // watchdog stopped the guest, and the kernel reflected every link of the chain.
            assertLine(containing: "vmm: debug-loop guest: reached its breakpoints 1 time(s), then",
                       "in its #DB chain without an exit to the VMM, its handler completed 0 instructions; stop: ok", in: result, file: file, line: line)
        }
        if let stats = assertLine(containing: "#DB/#AC reflected into guests by the kernel", in: result, file: file, line: line),
           let reflected = stats.firstMatch(of: /, (\d+) #DB\/#AC reflected/).flatMap({ Int($0.1) }) {
            // Single steps 4, ICEBP 1, #AC 1, and the chain: every one of its #DBs was an exit.
            XCTAssertGreaterThanOrEqual(reflected, onQEMU ? 4 : 1000, "exceptions the kernel reflected", file: file, line: line)
        }
        // Host-only instructions exit: INVD and WBINVD as cache control (QEMU 7.2 reports INVD with
        // WBINVD's code 0x89), MONITOR and MWAIT as such.
        for (count, raws) in [(1, ["0x76", "0x89", "0xd"]), (2, ["0x89", "0x36"])] {
            let exit = assertLine(containing: "vmm: test guest: cache-control exit \(count) (reason 23, raw ", "host caches untouched",
                                  in: result, file: file, line: line)
            XCTAssertTrue(raws.contains { exit?.contains("raw \($0))") == true }, "unexpected raw code: \(exit ?? "")", file: file, line: line)
        }
        assertLine(containing: "vmm: test guest: MONITOR/MWAIT exit 2 (reason 24", "#UD, as CPUID says", in: result, file: file, line: line)
        // Each bad reply is refused with the raw code of the check that must refuse it, and the restored
        // state enters again; the last one only VM entry itself refuses (VMX exit 33 with the failure bit,
        // SVM VMEXIT_INVALID).
        let kernelRaws = ["0xffff0001", "0xffff0002", "0xffff0003", "0xffff0003", "0xffff0005", "0xffff0004"]
        for (index, raw) in kernelRaws.enumerated() {
            assertLine(containing: "vmm: bad reply \(index + 1)/7", "VM entry refused by the kernel's check, raw \(raw),",
                       "the guest's RIP and CR3 in its message; state restored, the guest ran again to its OUT", in: result, file: file, line: line)
        }
        let hardwareRaw = backend == "vmx" ? "0x80000021" : "0xffffffff"
        assertLine(containing: "vmm: bad reply 7/7 (long mode with CR4.PAE clear): VM entry refused by VM entry itself, raw \(hardwareRaw),",
                   "the guest's RIP and CR3 in its message; state restored, the guest ran again to its OUT", in: result, file: file, line: line)
        XCTAssertFalse(result.console.contains("vmm: FAIL"), "a VMM check failed", file: file, line: line)
        assertLine(containing: "vmm: test guest finished after", "exits: 0 checks failed", in: result, file: file, line: line)
        // The hostile guest: 191 unbacked addresses read and written, 676 unbacked ports read and written
        // (1734 unbacked accesses), 5000 CPUIDs besides; then the VMM goes on to the next guest.
        if let hostile = assertLine(containing: "vmm: hostile guest double/triple-faulted after", "VM stopped", in: result, file: file, line: line),
           let numbers = hostile.firstMatch(of: /after (\d+) exits \((\d+) unbacked accesses, (\d+) exits/) {
            XCTAssertGreaterThanOrEqual(Int(numbers.1) ?? 0, 1734 + 5000, "hostile guest exits", file: file, line: line)
            XCTAssertEqual(Int(numbers.2), 1734, "unbacked accesses", file: file, line: line)
            XCTAssertEqual(Int(numbers.3), 0, "exits the VMM does not handle", file: file, line: line)
        } else {
            XCTFail("the hostile guest's figures are missing", file: file, line: line)
        }
        // A guest that never exits (and raised its CR8 to 15) does not keep a thread of its priority (the
        // VMM) off the CPU: it ran, its counter advanced, it was stopped and its counter stood still.
        let lines = result.consoleLines
        let hostileIndex = lines.firstIndex { $0.contains("vmm: hostile guest double/triple-faulted after") }
        let spinIndex = lines.firstIndex { $0.contains("vmm: spinning guest ran") }
        if let spinIndex, let hostileIndex {
            XCTAssertGreaterThan(spinIndex, hostileIndex, "the spinning guest ran after the hostile one", file: file, line: line)
            let spin = lines[spinIndex]
            if let numbers = spin.firstMatch(of: /ran (\d+) ms without an exit, counter advanced by (\d+); stop: ok, counter then unchanged for (\d+) ms: yes/) {
                XCTAssertGreaterThan(Int(numbers.1) ?? 0, 0, "ran for some time", file: file, line: line)
                XCTAssertGreaterThan(Int(numbers.2) ?? 0, 0, "the guest's counter advanced", file: file, line: line)
            } else {
                XCTFail("the spinning guest's measurement is not a success: \(spin)", file: file, line: line)
            }
        } else {
            XCTFail("the hostile or the spinning guest's line is missing", file: file, line: line)
        }
        // Recall: a guest that never exits leaves at once when its VMM asks, with its RIP in its loop;
        // two recalls give one exit.
        assertLine(containing: "vmm: recall of the spinning guest (twice: ok, ok): exit 26 (recall is 26) after",
                   "in the spin loop", ": yes; instruction length 0; no second exit in 10 ms: yes", in: result, file: file, line: line)
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
        check(try boot(.vmmTest), backend: "svm", onQEMU: true)
    }

    func testSVMOnBochsRyzen() throws {
        check(try boot(.vmmTest, on: .bochs, cpu: "ryzen"), backend: "svm")
    }

    func testVMXOnBochsHaswell() throws {
        check(try boot(.vmmTest, on: .bochs), backend: "vmx")
    }
}
