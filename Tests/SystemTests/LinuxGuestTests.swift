import Foundation
import SwiftletTools
import XCTest

/// Debian's unmodified cloud kernel as a guest of the VMM product, in the default system (Guests/system.dts:
/// the native tasks but the memtest test task, and a Linux vm@0 under the vmm task; the build adds the guest recipe's kernel and
/// initramfs as modules): it boots to its initramfs marker, uses kvm-clock, sees the hypervisor flag, has
/// no APIC or timer warnings, powers off by ACPI S5, and the native tasks run on beside it: the heartbeat
/// beats while the guest boots and while its shell answers typed commands (Configurations/linux-heartbeat.dts:
/// the default system with a 250 ms period).
final class LinuxGuestTests: SystemTestCase {
    /// The heartbeat's period in linux-heartbeat.dts.
    static let heartbeatPeriod = 250

    func check(_ result: RunResult, backend: String, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "virt: \(backend.uppercased()) backend ready", in: result, file: file, line: line)
        let lines = result.consoleLines
        // The guest's serial output reaches the console through the serial driver's raw stream, untagged;
        // the VMM's own lines stay tagged.
        let setup = lines.firstIndex { $0.hasPrefix("[vmm] vmm: /tasks/vmm/vm@0: Linux boot protocol 0x2") }
        let marker = lines.firstIndex { $0.hasPrefix("swiftlet-guest: user space up at tsc ") }
        XCTAssertNotNil(setup, "the VMM's setup line", file: file, line: line)
        guard let marker else { return XCTFail("no marker line", file: file, line: line) }
        if let kernel = lines[marker].firstMatch(of: /kernel (\S+), uptime ([0-9.]+) s/) {
            XCTAssertTrue(kernel.1.hasSuffix("-cloud-amd64"), "Debian's cloud kernel: \(kernel.1)", file: file, line: line)
            print("linux: \(kernel.1) reached user space after \(kernel.2) s of guest uptime on \(backend)")
        } else {
            XCTFail("the marker names no kernel: \(lines[marker])", file: file, line: line)
        }
        assertLine(containing: "swiftlet-guest: clocksource kvm-clock", in: result, file: file, line: line)
        assertLine(containing: "swiftlet-guest: cpus with the hypervisor flag: 1", in: result, file: file, line: line)
        assertLine(containing: "swiftlet-guest: APIC or timer warnings in dmesg: 0", in: result, file: file, line: line)
        // A clean ACPI power-off, then the exits by reason.
        let off = lines.firstIndex { $0.contains("vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after") }
        XCTAssertNotNil(off, "the guest's ACPI power-off", file: file, line: line)
        if let exits = assertLine(containing: "vmm: /tasks/vmm/vm@0: ", " exits by reason:", in: result, file: file, line: line),
           let total = exits.firstMatch(of: /vm@0: (\d+) exits by reason/).flatMap({ Int($0.1) }) {
            XCTAssertGreaterThan(total, 100, "exits", file: file, line: line)
            print("linux: \(exits)")
        }
        XCTAssertFalse(lines.contains { $0.hasPrefix("[vmm] vmm:") && $0.contains("refused") }, "the VMM refused something", file: file, line: line)
        // The native tasks ran beside the guest: the heartbeat beat while the VMM's guest was alive (after
        // its setup line, before its power-off), every beat in order, and all tasks passed.
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed", file: file, line: line)
        let beats = checkBeats(result, period: Self.heartbeatPeriod, tasks: 4, file: file, line: line)   // ping, pong, vmm, heartbeat
        if let setup, let off, setup < off {
            let inside = heartbeats(in: Array(lines[setup..<off]))
            XCTAssertGreaterThan(inside.count, 0, "no heartbeat while the guest booted", file: file, line: line)
            if !inside.isEmpty, !beats.isEmpty {
                print("linux: \(inside.count) heartbeats of \(Self.heartbeatPeriod) ms between the VMM's setup and the guest's power-off on \(backend), lateness \(inside.map(\.late).min()!)-\(inside.map(\.late).max()!) us (all \(beats.count) beats: worst \(beats.map(\.late).max()!) us)")
            }
        }
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
        assertLine(containing: "roottask: 4 of 5 tasks passed: 1 failed", in: result, file: file, line: line)
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
    /// thread, into the guest's UART FIFO with its receive interrupt, and the guest's shell reads it. It is
    /// typed 3 s after the prompt, when the guest waits for it in HLT: the input must end that halt (the
    /// VMM's HLT sleep is woken by the input thread, not by the next timer deadline). The configuration
    /// leaves out the ping-pong pair, whose benchmark above the vCPU's priority would otherwise keep the
    /// vCPU preempted, not halted, for seconds after the prompt on a loaded host.
    func testATypedLineReachesTheGuest() throws {
        try checkTypedLine(on: .qemu)
    }

    /// The same through Bochs's COM1, a pseudo-terminal the runner types into (VT-x).
    func testATypedLineReachesTheGuestOnBochs() throws {
        try checkTypedLine(on: .bochs)
    }

    /// On QEMU the run counts instructions: the guest's clock then moves with its own work and its idling,
    /// not with the host's. On a busy host TCG's clock (the host's) jumped, and the guest, catching up
    /// with its timers, halted 3 times in the whole run instead of some 750 (ci14), so the input found
    /// it running. Bochs's clock is slowed to the instructions it runs in any case.
    /// The line comes in three parts, each a second after the guest echoed the one before: the guest waits
    /// for it in a halt then (typed at once, the whole line once reached a Bochs guest that was busy with
    /// each byte in turn and never halted between them; in two parts, both once found a slow Bochs guest
    /// running: 7 recalls, 0 halts ended, ci on 2026-12-02).
    private func checkTypedLine(on emulator: Emulator) throws {
        let input = ConsoleInput(steps: [.init(after: "swiftlet-guest: type a line", type: "hello", delay: 3),
                                         .init(after: "hello", type: "\tfrom", delay: 1),
                                         .init(after: "from", type: " the host\r", delay: 1)])
        let result = try boot(ImageConfiguration(configuration: configuration("linux-echo")), on: emulator,
                              deterministic: emulator == .qemu, input: input)
        assertCleanBoot(result)
        // The tab arrives as typed, inside the 19 bytes read (the carriage return ended the line; 20 bytes came
        // in); the console shows it unchanged, since the guest's output is the raw stream.
        let read = assertLine(containing: "swiftlet-guest: read \"hello\tfrom the host\" (19 bytes)", in: result)
        if let read { print("linux: \(read)") }
        if let input = assertLine(containing: "vmm: /tasks/vmm/vm@0: 20 bytes of console input passed to the guest's UART, 0 dropped", in: result) {
            let halts = input.firstMatch(of: /and ended (\d+) halts/).flatMap { Int($0.1) } ?? 0
            XCTAssertGreaterThan(halts, 0, "the input never ended a halt of the waiting guest: \(input)")
            if halts > 0 { print("linux: \(input)") }
        }
        assertLine(containing: "vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after", in: result)
        assertLine(containing: "roottask: all done", "all 2 tasks passed", in: result)   // vmm, heartbeat (linux-echo.dts)
    }

    /// A reset is a reboot: the guest's `reboot -f` writes the ACPI reset register, the VMM rebuilds what the
    /// boot protocol placed in RAM and a fresh board, re-enters the kernel's entry (without allocating), and
    /// the same kernel boots again to its marker with kvm-clock; then console input still reaches it and it
    /// powers off. Each answer is typed a second after its prompt, the second after the second boot's prompt.
    func testTheGuestRebootsOnReset() throws {
        let prompt = "swiftlet-guest: reboot or poweroff?"
        let result = try boot(ImageConfiguration(configuration: configuration("linux-reboot")),
                              input: ConsoleInput(steps: [.init(after: prompt, type: "reboot\r", delay: 1),
                                                          .init(after: prompt, type: "poweroff\r", delay: 1)]))
        assertCleanBoot(result)
        let lines = result.consoleLines
        guard let (first, reset, second, off) = twoBoots(lines, reaching: "swiftlet-guest: user space up at tsc ") else { return }
        // The reset line: the first boot's exits, the second boot, and nothing taken from the VMM's heap.
        let resetLine = lines[reset]
        XCTAssertTrue(resetLine.contains("; booting it again (boot 2, the reset allocated 0 bytes of the VMM's heap)"), resetLine)
        if let exits = resetLine.firstMatch(of: /after (\d+) exits/).flatMap({ Int($0.1) }) {
            XCTAssertGreaterThan(exits, 100, "the first boot's exits: \(resetLine)")
        } else {
            XCTFail("the reset line counts no exits: \(resetLine)")
        }
        XCTAssertTrue(lines[first..<reset].contains("swiftlet-guest: rebooting"), "the guest's reboot came before the reset")
        // The second boot is a whole boot of the same kernel: its own setup messages, kvm-clock, the hypervisor
        // flag, no APIC or timer warnings, and its uptime is its own (seconds, not the first boot's on top).
        for expected in ["swiftlet-guest: clocksource kvm-clock", "swiftlet-guest: cpus with the hypervisor flag: 1",
                         "swiftlet-guest: APIC or timer warnings in dmesg: 0", prompt] {
            XCTAssertTrue(lines[reset..<off].contains(expected), "the second boot printed no '\(expected)'")
            XCTAssertTrue(lines[first..<reset].contains(expected), "the first boot printed no '\(expected)'")
        }
        for marker in [first, second] {
            let uptime = lines[marker].firstMatch(of: /uptime ([0-9.]+) s/).flatMap { Double($0.1) }
            XCTAssertNotNil(uptime, lines[marker])
            XCTAssertLessThan(uptime ?? 99, 10, "uptime of a boot: \(lines[marker])")
            print("linux: \(lines[marker])")
        }
        print("linux: \(resetLine)")
        // Console input reached the guest in both boots: both answers, 16 bytes, none dropped.
        if let input = assertLine(containing: "vmm: /tasks/vmm/vm@0: 16 bytes of console input passed to the guest's UART, 0 dropped", in: result) {
            print("linux: \(input)")
        }
        if let exits = assertLine(containing: "vmm: /tasks/vmm/vm@0: ", " exits in 2 boots by reason:", in: result) { print("linux: \(exits)") }
        XCTAssertFalse(lines.contains { $0.hasPrefix("[vmm] vmm:") && ($0.contains("refused") || $0.contains("VM stopped") && !$0.contains("powered off")) },
                       "the VMM refused or stopped something")
        assertLine(containing: "roottask: all done", "all 4 tasks passed", in: result)
    }

    /// What the shell session types, each command a second after the shell's prompt (the prompt the serial
    /// driver redraws after a heartbeat line counts too: a command may come as typeahead, which the shell
    /// reads in its turn); Ctrl-C (the byte 0x03) two seconds into a `sleep 30`.
    static let session: [ConsoleInput.Step] = [
        command("uname -r"),
        command("a=$(cut -d' ' -f1 /proc/uptime); sleep 1; b=$(cut -d' ' -f1 /proc/uptime); echo \"slept from $a\" \"to $b\""),
        command("grep -E 'ttyS|LOC' /proc/interrupts"),
        command("modprobe virtio_net && lsmod"),
        command("sleep 30"),
        .init(after: "sleep 30", type: "\u{03}", delay: 2),
        command("echo \"sleep ended with status $?\""),
        command("poweroff"),
    ]

    static func command(_ line: String) -> ConsoleInput.Step {
        .init(after: LinuxGuest.prompt, type: line + "\r", delay: 1, atPrompt: true)
    }

    /// The default boot's shell answers typed commands: `uname -r` names the kernel the marker line names,
    /// `sleep 1` takes 0.9-3 s of the guest's own uptime, the serial port's (IRQ 4, ttyS0) and the local
    /// timer's interrupt counts are not zero, `modprobe virtio_net` loads the package's module with its
    /// dependencies and `lsmod` lists it, Ctrl-C ends a `sleep 30`, and `poweroff` ends the run cleanly; the heartbeat beats before
    /// the first prompt, during the session and after the poweroff.
    func checkShell(_ result: RunResult, backend: String, file: StaticString = #filePath, line: UInt = #line) {
        let lines = result.consoleLines
        guard let marker = lines.first(where: { $0.hasPrefix("swiftlet-guest: user space up at tsc ") }),
              let release = marker.firstMatch(of: /kernel (\S+), uptime/).map({ String($0.1) }) else {
            return XCTFail("no marker line naming the kernel", file: file, line: line)
        }
        guard let first = lines.firstIndex(where: { $0.hasPrefix(LinuxGuest.prompt) }),
              let off = lines.firstIndex(where: { $0.contains("vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after") }),
              let poweroff = lines.lastIndex(where: { $0.hasPrefix(LinuxGuest.prompt) && $0.hasSuffix("poweroff") }), first < poweroff, poweroff < off else {
            return XCTFail("no prompt, no typed poweroff, or no power-off after it", file: file, line: line)
        }
        let session = Array(lines[first..<off])
        XCTAssertTrue(session.contains(release), "uname -r printed no line '\(release)'", file: file, line: line)
        if let slept = session.lazy.compactMap({ $0.firstMatch(of: /^slept from ([0-9.]+) to ([0-9.]+)$/) }).first,
           let from = Double(slept.1), let to = Double(slept.2) {
            XCTAssertTrue((0.9...3).contains(to - from), "sleep 1 took \(to - from) s of guest uptime", file: file, line: line)
            print("linux: sleep 1 in the shell took \(String(format: "%.2f", to - from)) s of guest uptime (\(from) to \(to)) on \(backend)")
        } else {
            XCTFail("no 'slept from A to B' line", file: file, line: line)
        }
        let serial = session.lazy.compactMap { $0.firstMatch(of: /^\s*\d+:\s+(\d+)\s+IO-APIC\s+4-edge\s+ttyS0$/) }.first.flatMap { Int($0.1) }
        let timer = session.lazy.compactMap { $0.firstMatch(of: /^LOC:\s+(\d+)\s+Local timer interrupts$/) }.first.flatMap { Int($0.1) }
        XCTAssertGreaterThan(serial ?? 0, 0, "the serial port's interrupts (IO-APIC pin 4, ttyS0)", file: file, line: line)
        XCTAssertGreaterThan(timer ?? 0, 0, "the local timer's interrupts", file: file, line: line)
        print("linux: /proc/interrupts in the shell: ttyS0 (IRQ 4) \(serial ?? 0), local timer \(timer ?? 0) on \(backend)")
        // Ctrl-C reached the shell's terminal as a byte and its line discipline sent SIGINT to the foreground
        // job: `sleep 30` ended by the signal (status 128 + 2) at once, not after its 30 s.
        XCTAssertTrue(session.contains("sleep ended with status 130"), "Ctrl-C did not interrupt sleep 30", file: file, line: line)
        if let typed = session.firstIndex(where: { $0.hasPrefix(LinuxGuest.prompt) && $0.hasSuffix("sleep 30") }),
           session[typed...].contains("sleep ended with status 130") {
            print("linux: Ctrl-C ended the shell's sleep 30 with status 130 on \(backend)")
        }
        for module in ["virtio_net", "net_failover", "failover", "virtio", "virtio_ring"] {
            XCTAssertTrue(session.contains { $0.hasPrefix(module + " ") }, "lsmod lists no \(module)", file: file, line: line)
        }
        let beforeShell = heartbeats(in: Array(lines[..<first])).count
        let during = heartbeats(in: Array(lines[first..<poweroff])).count
        let after = heartbeats(in: Array(lines[poweroff..<off])).count
        XCTAssertGreaterThan(beforeShell, 0, "no heartbeat before the first prompt", file: file, line: line)
        XCTAssertGreaterThan(during, 0, "no heartbeat during the shell session", file: file, line: line)
        XCTAssertGreaterThan(after, 0, "no heartbeat between the typed poweroff and the guest's power-off", file: file, line: line)
        print("linux: heartbeats of \(Self.heartbeatPeriod) ms on \(backend): \(beforeShell) before the first prompt, \(during) during the shell session, \(after) after the typed poweroff")
    }

    /// Two boots of a reset: the line indices of the first line starting with `reaching` in each, the VMM's
    /// reset line and its power-off line, in that order (one reset, one power-off); nil after a failure.
    func twoBoots(_ lines: [String], reaching: String, file: StaticString = #filePath, line: UInt = #line) -> (Int, Int, Int, Int)? {
        let boots = lines.indices.filter { lines[$0].hasPrefix(reaching) }
        // Linux 6.1 on a HW-reduced machine without EFI reboots through the BIOS way: the reset vector's code.
        let resets = lines.indices.filter { lines[$0].contains("vmm: /tasks/vmm/vm@0: the guest reset (ACPI reset register, by the reset vector's code) after ") }
        let offs = lines.indices.filter { lines[$0].contains("vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after") }
        XCTAssertEqual(boots.count, 2, "two boots reached '\(reaching)'", file: file, line: line)
        XCTAssertEqual(resets.count, 1, "one reset", file: file, line: line)
        XCTAssertEqual(offs.count, 1, "one power-off", file: file, line: line)
        guard boots.count == 2, resets.count == 1, offs.count == 1 else { return nil }
        guard boots[0] < resets[0] && resets[0] < boots[1] && boots[1] < offs[0] else {
            XCTFail("boot, reset, boot, power-off out of order: lines \(boots[0]), \(resets[0]), \(boots[1]), \(offs[0])", file: file, line: line)
            return nil
        }
        return (boots[0], resets[0], boots[1], offs[0])
    }

    /// The default boot (the shell) on QEMU SVM: everything check() and checkShell() look for.
    func testLinuxOnQEMUSVM() throws {
        let result = try boot(ImageConfiguration(configuration: configuration("linux-heartbeat")), input: ConsoleInput(steps: Self.session))
        check(result, backend: "svm")
        checkShell(result, backend: "svm")
    }

    /// Slow (Bochs emulates the 115200-baud line and every instruction): one run that checks everything.
    func testLinuxOnBochsVMX() throws {
        let result = try boot(ImageConfiguration(configuration: configuration("linux-heartbeat")), on: .bochs,
                              input: ConsoleInput(steps: Self.session))
        check(result, backend: "vmx")
        checkShell(result, backend: "vmx")
    }

    /// `reboot` in the shell resets the VM, which boots again to a second prompt; then `poweroff` ends the run.
    func testRebootInTheShellBootsASecondPrompt() throws {
        try checkRebootInTheShell(on: .qemu)
    }

    /// The same on VT-x: the reset vector's code and MOV to CR0 go through the VMX backend's exits.
    func testRebootInTheShellBootsASecondPromptOnBochs() throws {
        try checkRebootInTheShell(on: .bochs)
    }

    private func checkRebootInTheShell(on emulator: Emulator) throws {
        // Each boot's banner first: the serial driver redraws the prompt after every native line, so a
        // prompt alone could be the first boot's, redrawn while it shuts down.
        let banner = "swiftlet-guest: shell on the console"
        let input = ConsoleInput(steps: [.init(after: banner, type: ""), .init(after: LinuxGuest.prompt, type: "reboot\r", delay: 1, atPrompt: true),
                                         .init(after: banner, type: ""), .init(after: LinuxGuest.prompt, type: "poweroff\r", delay: 1, atPrompt: true)])
        let result = try boot(ImageConfiguration(configuration: configuration("linux-heartbeat")), on: emulator, input: input)
        assertCleanBoot(result)
        let lines = result.consoleLines
        guard let (first, reset, second, off) = twoBoots(lines, reaching: banner) else { return }
        XCTAssertTrue(lines[first..<reset].contains { $0.hasPrefix(LinuxGuest.prompt) && $0.hasSuffix("reboot") }, "reboot typed at the first prompt")
        XCTAssertTrue(lines[second..<off].contains { $0.hasPrefix(LinuxGuest.prompt) && $0.hasSuffix("poweroff") }, "poweroff typed at the second prompt")
        print("linux: \(emulator.rawValue): \(lines[reset])")
        assertLine(containing: "roottask: all done", "all 4 tasks passed", in: result)
    }
}
