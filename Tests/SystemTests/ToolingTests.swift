import Foundation
import SwiftletABI
@testable import SwiftletTools
import XCTest

/// The pure parts of the tools, checked without building or booting anything.
final class ToolingTests: XCTestCase {
    func testGrubConfigurationBootsKernelWithCommandLineAndModules() throws {
        let module = try BootModule(source: URL(fileURLWithPath: "/tmp/x.elf"), name: "sample")
        let text = GrubConfiguration.text(for: ImageConfiguration(commandLine: "crash=ud  verbose", modules: [module]))
        XCTAssertEqual(text, """
            set timeout=0
            set default=0
            menuentry "Swiftlet" {
              multiboot2 /boot/swiftlet.elf crash=ud verbose
              module2 --nounzip /boot/modules/sample sample
              boot
            }

            """)
    }

    /// `swiftlet test` names emulators already running (a fake /proc: pid folders with a `comm` file).
    func testEmulatorsAlreadyRunningAreFoundAndNamed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        for (pid, name) in [("12", "bochs-bin"), ("7", "qemu-system-x86_64"), ("30", "bash"), ("self", "bochs-bin")] {
            let folder = root.appendingPathComponent(pid)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data((name + "\n").utf8).write(to: folder.appendingPathComponent("comm"))
        }
        let found = RunningEmulators.find(procRoot: root.path)
        XCTAssertEqual(found.map(\.pid), [7, 12])
        XCTAssertEqual(RunningEmulators.warning(found),
                       "swiftlet: warning: 2 emulator processes already running (qemu-system-x86_64 7, bochs-bin 12): tests that compare guest time with the host's may fail beside them")
        XCTAssertNil(RunningEmulators.warning([]))
    }

    func testGrubConfigurationQuotesWordsGrubWouldInterpret() {
        XCTAssertEqual(GrubConfiguration.quoted("a=$x;b"), "'a=$x;b'")
        XCTAssertEqual(GrubConfiguration.quoted("it's"), "'it'\\''s'")
        XCTAssertEqual(GrubConfiguration.quoted("console=ttyS0,115200"), "console=ttyS0,115200")
    }

    func testVariantNamesAreStableAndDistinct() throws {
        XCTAssertEqual(ImageConfiguration.standard.variantName, "swiftlet")
        let a = ImageConfiguration(commandLine: "crash=ud")
        let b = ImageConfiguration(commandLine: "crash=pagefault")
        XCTAssertEqual(a.variantName, ImageConfiguration(commandLine: "crash=ud").variantName)
        XCTAssertNotEqual(a.variantName, b.variantName)
        XCTAssertTrue(a.variantName.hasPrefix("swiftlet-"))
        // FNV-1a of the empty string is the offset basis: the hash is the documented function.
        XCTAssertEqual(StableHash.hex(of: ""), "cbf29ce484222325")
    }

    func testModuleArgumentParsing() throws {
        let folder = FileManager.default.temporaryDirectory
        let file = folder.appendingPathComponent("swiftlet-module-\(getpid()).bin")
        try Data([1, 2, 3]).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertEqual(try BootModule(argument: file.lastPathComponent, relativeTo: folder).name,
                       file.lastPathComponent)
        XCTAssertEqual(try BootModule(argument: "\(file.path)=init", relativeTo: folder).name, "init")
        XCTAssertThrowsError(try BootModule(argument: "\(file.path)=two words", relativeTo: folder))
        XCTAssertThrowsError(try BootModule(argument: "/nonexistent/file", relativeTo: folder))
    }

    /// A tagged line the serial driver put on its own while the guest's raw line was unfinished: CR and
    /// erase-line wipe the partial line on a terminal, and consoleLines shows what the terminal does.
    func testConsoleLinesAreWhatATerminalShows() {
        let console = "swiftlet:/# ech\r\u{1B}[K[heartbeat] heartbeat 3 at 6.000 s: 41 us late (worst 120 us)\r\nswiftlet:/# echo hi\r\nhi\r\n"
        let result = RunResult(outcome: .poweredOff, console: console, verdictToken: nil, duration: 1, emulator: .qemu,
                               runDirectory: URL(fileURLWithPath: "/tmp"), timeout: 1, emulatorMessages: "")
        XCTAssertEqual(result.consoleLines, ["[heartbeat] heartbeat 3 at 6.000 s: 41 us late (worst 120 us)", "swiftlet:/# echo hi", "hi", ""])
    }

    /// A scripted prompt step waits for the prompt at the end of the output (busybox's cursor query after it
    /// allowed), not for a copy the serial driver redrew with a typed command behind it.
    func testAPromptCountsOnlyWhileTheGuestWaitsAtIt() {
        let prompt = Data("swiftlet:/# ".utf8)
        XCTAssertTrue(EmulatorSupervisor<PipeReader>.endsAtPrompt(Data("boot\r\nswiftlet:/# ".utf8), prompt))
        XCTAssertTrue(EmulatorSupervisor<PipeReader>.endsAtPrompt(Data("boot\r\nswiftlet:/# \u{1B}[6n".utf8), prompt))
        XCTAssertFalse(EmulatorSupervisor<PipeReader>.endsAtPrompt(Data("\r\u{1B}[K[heartbeat] beat\r\nswiftlet:/# uname -r".utf8), prompt))
        XCTAssertFalse(EmulatorSupervisor<PipeReader>.endsAtPrompt(Data("swiftlet:/# uname -r\r\n6.1.0\r\n".utf8), prompt))
    }

    /// `swiftlet test` repeats each failing test's failures after swift test's last line, with how its last
    /// run ended and the console's last lines before that.
    func testTheTestCommandSumsUpFailuresAfterTheLastLine() {
        var summary = TestFailureSummary()
        summary.consume("Test Case 'A.testOne' started\n/r/Tests/A.swift:24: error: A.testOne : XCTAssertEqual failed: (\"1\") is not".utf8)
        summary.consume(" equal to (\"2\") - figures\n/r/Tests/A.swift:30: error: A.testOne : failed - second\n".utf8)
        summary.consume("Test Case 'B.testTwo' started\n--- console (bochs):\nline 1\n[abusetest] fuzz: error: not a test line\n".utf8)
        summary.consume("prompt\u{1B}[6n\r\n--- swiftlet: timeout after 180 s (bochs); files in /tmp/r\n".utf8)
        summary.consume("/r/Tests/B.swift:9: error: B.testTwo : failed - no console line\n".utf8)
        XCTAssertEqual(summary.count, 3)
        XCTAssertEqual(summary.report, [
            "swiftlet: 3 failures in 2 tests (the full output is above):",
            "  A.testOne:",
            "    XCTAssertEqual failed: (\"1\") is not equal to (\"2\") - figures",
            "    failed - second",
            "  B.testTwo:",
            "    failed - no console line",
            "    its last run: swiftlet: timeout after 180 s (bochs); files in /tmp/r",
            "    the console's last lines:",
            "    | --- console (bochs):",
            "    | line 1",
            "    | [abusetest] fuzz: error: not a test line",
            "    | prompt?[6n?"])
        XCTAssertEqual(TestFailureSummary().report, [])
        // A character split between two chunks comes out whole; past four messages the count says how many.
        var split = TestFailureSummary()
        let line = Array("/r/C.swift:1: error: C.testThree : failed - caf\u{E9}\n".utf8)
        split.consume(line[..<(line.count - 2)])
        split.consume(line[(line.count - 2)...])
        for _ in 0..<4 { split.consume(line) }
        XCTAssertEqual(split.report, ["swiftlet: 5 failures in 1 test (the full output is above):",
                                      "  C.testThree (the first 4 of 5):"] + Array(repeating: "    failed - caf\u{E9}", count: 4))
    }

    func testConsoleMonitorFindsMarkersAcrossChunks() {
        var monitor = ConsoleMonitor()
        monitor.append(Data("Swiftlet microkernel\r\nkernel: power".utf8))
        XCTAssertFalse(monitor.sawPoweringOff)
        monitor.append(Data("ing off: all tasks passed\r\n".utf8))
        XCTAssertTrue(monitor.sawPoweringOff)
        XCTAssertFalse(monitor.sawPanic)

        var panic = ConsoleMonitor()
        panic.append(Data("KERNEL PANIC: #PF\nkernel: halted\n".utf8))
        XCTAssertTrue(panic.sawPanic)
        XCTAssertNotNil(panic.haltedAt)
    }

    func testExitJudgement() {
        var off = ConsoleMonitor()
        off.append(Data("kernel: powering off: all tasks passed\n".utf8))
        // Bochs exits with status 1 on a power-off; the console decides.
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 1, console: off), .poweredOff)
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: ConsoleMonitor()), .emulatorExited(status: 0))
        var panicThenOff = ConsoleMonitor()
        panicThenOff.append(Data("KERNEL PANIC: #GP\nkernel: powering off: all tasks passed\n".utf8))
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: panicThenOff), .panicked)
    }

    /// The root task's reason on the kernel's power-off line decides the outcome; a line without a reason
    /// the ABI knows is no power-off line.
    func testPowerOffReasonsDecideTheOutcome() {
        for reason in PowerOffReason.allCases where reason != .guestExited {
            var monitor = ConsoleMonitor()
            monitor.append(Data("kernel: powering off: \(reason.description)\r\n".utf8))
            XCTAssertEqual(monitor.powerOffReason, reason)
            XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: monitor),
                           reason == .allPassed ? .poweredOff : .poweredOffAfterFailure(reason))
        }
        // A guest's debug-exit status: the kernel's line carries it, and it is the run's exit status.
        var exited = ConsoleMonitor()
        exited.append(Data("kernel: powering off: \(PowerOffReason.guestExited.description) 11\r\n".utf8))
        XCTAssertEqual(exited.powerOffReason, .guestExited)
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: exited), .guestExited(status: 11))
        XCTAssertEqual(RunOutcome.guestExited(status: 11).exitStatus, 11)
        for line in ["kernel: powering off", "kernel: powering off: all tasks passed, honestly", "kernel: powering off: ",
                     "kernel: powering off: \(PowerOffReason.guestExited.description)", "kernel: powering off: \(PowerOffReason.guestExited.description) 256",
                     "kernel: powering off: \(PowerOffReason.guestExited.description) 1x"] {
            var monitor = ConsoleMonitor()
            monitor.append(Data("\(line)\n".utf8))
            XCTAssertFalse(monitor.sawPoweringOff, line)
        }
    }

    /// Task lines are tagged `[name] `: markers in them, at any position, count for nothing.
    func testConsoleMonitorIgnoresMarkersInTaskLines() {
        var monitor = ConsoleMonitor()
        monitor.append(Data("""
            [forgetest] kernel: powering off: all tasks passed\r
            [forgetest] KERNEL PANIC: forged\r
            [forgetest] kernel: halted\r
            [task] kernel: powering off: configuration rejected, nothing started\r
            [ping] ping: kernel: halted KERNEL PANIC\r
            roottask: something kernel: powering off: all tasks passed\r
            swiftlet said KERNEL PANIC\r

            """.utf8))
        XCTAssertFalse(monitor.sawPoweringOff)
        XCTAssertFalse(monitor.sawPanic)
        XCTAssertNil(monitor.haltedAt)
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: monitor), .emulatorExited(status: 0))

        monitor.append(Data("kernel: powering off: tasks failed or did not report\r\n".utf8))
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 1, console: monitor), .poweredOffAfterFailure(.tasksFailed))
        var panic = ConsoleMonitor()
        panic.append(Data("[serial] x\r\nKERNEL PANIC: #GP general protection (vector 13) in kernel mode\r\nkernel: halted\r\n".utf8))
        XCTAssertTrue(panic.sawPanic)
        XCTAssertNotNil(panic.haltedAt)
    }

    /// With the image's verdict token only lines that end with it count; an untagged forged line, as the
    /// console's raw stream can write, is nothing. The build puts the token on the kernel's command line.
    func testOnlyLinesWithTheVerdictTokenJudgeTheRun() throws {
        let token = VerdictTokenFile.fresh()
        XCTAssertEqual(token.count, 16)
        XCTAssertNotEqual(token, VerdictTokenFile.fresh(), "a fresh token per build")
        var monitor = ConsoleMonitor(verdictToken: token)
        monitor.append(Data("""
            kernel: powering off: all tasks passed\r
            KERNEL PANIC: forged\r
            kernel: halted\r
            kernel: powering off: all tasks passed (verdict 0000000000000000)\r
            kernel: powering off: all tasks passed (verdict \(token)) and more\r

            """.utf8))
        XCTAssertFalse(monitor.sawPoweringOff)
        XCTAssertFalse(monitor.sawPanic)
        XCTAssertNil(monitor.haltedAt)
        monitor.append(Data("kernel: powering off: tasks failed or did not report (verdict \(token))\r\n".utf8))
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 1, console: monitor), .poweredOffAfterFailure(.tasksFailed))
        var panic = ConsoleMonitor(verdictToken: token)
        panic.append(Data("KERNEL PANIC: #GP (vector 13) in kernel mode (verdict \(token))\r\nkernel: halted (verdict \(token))\r\n".utf8))
        XCTAssertTrue(panic.sawPanic)
        XCTAssertNotNil(panic.haltedAt)
        let grub = GrubConfiguration.text(for: ImageConfiguration(commandLine: "timer_hz=100"), verdictToken: token)
        XCTAssertTrue(grub.contains("multiboot2 /boot/swiftlet.elf timer_hz=100 verdict=\(token)\n"), grub)
        let iso = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-\(token).iso")
        try VerdictTokenFile.write(token, besideISO: iso)
        defer { try? FileManager.default.removeItem(at: VerdictTokenFile.url(besideISO: iso)) }
        XCTAssertEqual(VerdictTokenFile.read(besideISO: iso), token)
        try "nonsense".write(to: VerdictTokenFile.url(besideISO: iso), atomically: true, encoding: .utf8)
        XCTAssertNil(VerdictTokenFile.read(besideISO: iso), "a malformed token file is no token")
        // An ISO without its token file (built elsewhere): untagged lines judge, their token ignored.
        var unknown = ConsoleMonitor(verdictToken: nil)
        unknown.append(Data("[vmm] kernel: powering off: configuration rejected, nothing started\r\nkernel: powering off: all tasks passed (verdict \(token))\r\n".utf8))
        XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: unknown), .poweredOff)
        XCTAssertEqual(ConsoleMarkers.verdictLine("kernel: halted (verdict 12)", token: nil), "kernel: halted (verdict 12)", "not a token")
    }

    func testExitStatuses() {
        XCTAssertEqual(RunOutcome.poweredOff.exitStatus, 0)
        XCTAssertEqual(RunOutcome.panicked.exitStatus, 3)
        XCTAssertEqual(RunOutcome.emulatorExited(status: 0).exitStatus, 4)
        XCTAssertEqual(RunOutcome.poweredOffAfterFailure(.configurationRejected).exitStatus, 5)
        XCTAssertEqual(RunOutcome.poweredOffAfterFailure(.taskNotStarted).exitStatus, 6)
        XCTAssertEqual(RunOutcome.poweredOffAfterFailure(.tasksFailed).exitStatus, 7)
        XCTAssertEqual(RunOutcome.timedOut.exitStatus, 124)
        XCTAssertEqual(RunOutcome.interrupted.exitStatus, 130)
        XCTAssertEqual(SwiftletError.invalidArgument("x").exitStatus, 64)
        XCTAssertEqual(SwiftletError.missingTool(name: "qemu", package: "qemu-system-x86").exitStatus, 2)
    }

    func testMissingToolMessageNamesPackageAndInstaller() {
        let error = SwiftletError.missingTool(name: "bochs", package: "bochs")
        XCTAssertEqual(error.exitStatus, 2)
        XCTAssertTrue(error.description.contains("Debian package bochs"))
        XCTAssertTrue(error.description.contains("./tools/swiftlet"))
        XCTAssertThrowsError(try HostTool(name: "swiftlet-no-such-tool", package: "none").locate()) { thrown in
            XCTAssertEqual(thrown as? SwiftletError, .missingTool(name: "swiftlet-no-such-tool", package: "none"))
        }
    }

    func testQEMUArguments() {
        let iso = URL(fileURLWithPath: "/x.iso")
        let arguments = QEMURunner.arguments(
            iso: iso, configuration: RunConfiguration(memoryMiB: 128, deterministic: true), interactive: false)
        XCTAssertEqual(arguments.joined(separator: " "),
                       "-accel tcg -cpu max -m 128 -cdrom /x.iso -boot d -display none -no-reboot "
                           + "-serial stdio -icount shift=0,align=off -rtc base=2000-01-01T00:00:00,clock=vm")
        // On a terminal: the monitor muxed onto stdio, which also keeps Ctrl-C for the guest (signal off).
        let interactive = QEMURunner.arguments(iso: iso, configuration: RunConfiguration(), interactive: true).joined(separator: " ")
        XCTAssertTrue(interactive.hasSuffix("-serial mon:stdio"), interactive)
    }

    func testBochsConfigurationSelectsClock() {
        var configuration = BochsConfiguration(
            iso: URL(fileURLWithPath: "/x.iso"), cpuModel: "ryzen", memoryMiB: 64, deterministic: true,
            serialTerminal: "/dev/pts/7", logFile: URL(fileURLWithPath: "/run/log"))
        XCTAssertTrue(configuration.text.contains("clock: sync=none, time0=946684800"))
        XCTAssertTrue(configuration.text.contains("cpu: model=ryzen, count=1"))
        XCTAssertTrue(configuration.text.contains("memory: guest=64, host=64"))
        configuration.deterministic = false
        XCTAssertTrue(configuration.text.contains("clock: sync=slowdown, time0=utc"))
    }

    /// `run --disk`: the image on the primary master in both emulators, the CD where it does not clash;
    /// without a disk the arguments and the bochsrc are as before.
    func testADiskGoesOnThePrimaryMasterAndTheCDStaysBootable() {
        let disk = DiskImage(path: URL(fileURLWithPath: "/d/disk.img"), bytes: 64 << 20)
        var run = RunConfiguration(memoryMiB: 128)
        XCTAssertFalse(QEMURunner.arguments(iso: URL(fileURLWithPath: "/x.iso"), configuration: run, interactive: false).contains("-drive"))
        run.disk = disk
        let arguments = QEMURunner.arguments(iso: URL(fileURLWithPath: "/x.iso"), configuration: run, interactive: false).joined(separator: " ")
        XCTAssertTrue(arguments.contains("-cdrom /x.iso -boot d"), arguments)
        XCTAssertTrue(arguments.hasSuffix("-drive file=/d/disk.img,format=raw,if=ide,index=0,media=disk"), arguments)

        var bochs = BochsConfiguration(iso: URL(fileURLWithPath: "/x.iso"), cpuModel: "ryzen", memoryMiB: 64, deterministic: false,
                                       serialTerminal: "/dev/pts/7", logFile: URL(fileURLWithPath: "/run/log"))
        let lines = { (text: String) in text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("ata") || $0.hasPrefix("boot:") } }
        XCTAssertEqual(lines(bochs.text), [#"ata0-master: type=cdrom, path="/x.iso", status=inserted"#, "boot: cdrom"])
        bochs.disk = disk
        // 64 MiB = 256 cylinders of 16 heads x 32 sectors: exactly the file's size, as Bochs requires.
        XCTAssertEqual(lines(bochs.text), [
            #"ata0-master: type=disk, mode=flat, path="/d/disk.img", cylinders=256, heads=16, spt=32"#,
            "ata1: enabled=1, ioaddr1=0x170, ioaddr2=0x370, irq=15",
            #"ata1-master: type=cdrom, path="/x.iso", status=inserted"#,
            "boot: cdrom",
        ])
    }

    /// A missing image is created sparse and zero-filled; a bad size or an image of another size is refused.
    func testDiskImagePreparation() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("disk.img")
        let made = try DiskImage.prepare(at: path, mebibytes: nil)
        XCTAssertEqual(made.bytes, 64 << 20)
        XCTAssertEqual(made.sectors, 131072)
        let attributes = try FileManager.default.attributesOfItem(atPath: path.path)
        XCTAssertEqual((attributes[.size] as? NSNumber)?.uint64Value, 64 << 20)
        var status = stat()
        XCTAssertEqual(stat(path.path, &status), 0)
        XCTAssertLessThan(status.st_blocks, 64, "sparse: no blocks until written")
        let head = try FileHandle(forReadingFrom: path)
        XCTAssertEqual(head.readData(ofLength: 4096), Data(count: 4096))
        try head.close()
        // Again: the same file, kept as it is.
        XCTAssertEqual(try DiskImage.prepare(at: path, mebibytes: 64), made)
        XCTAssertThrowsError(try DiskImage.prepare(at: path, mebibytes: 8)) { error in
            XCTAssertTrue("\(error)".contains("not the 8 MiB"), "\(error)")
        }
        for bad in [0, -1, DiskImage.maximumMiB + 1] {
            XCTAssertThrowsError(try DiskImage.prepare(at: folder.appendingPathComponent("bad\(bad).img"), mebibytes: bad)) { error in
                XCTAssertEqual((error as? SwiftletError)?.exitStatus, 64)
                XCTAssertTrue("\(error)".contains("--disk-size must be a whole number of MiB from 1 to 16383"), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("bad\(bad).img").path))
        }
        let odd = folder.appendingPathComponent("odd.img")
        XCTAssertTrue(FileManager.default.createFile(atPath: odd.path, contents: Data(count: 1000)))
        XCTAssertThrowsError(try DiskImage.prepare(at: odd, mebibytes: nil)) { error in
            XCTAssertTrue("\(error)".contains("holds 1000 bytes"), "\(error)")
        }
        XCTAssertEqual(try DiskImage.prepare(at: folder.appendingPathComponent("small.img"), mebibytes: 1).bytes, 1 << 20)
    }

    func testBootPathLengthParsing() {
        let console = "x\nboot: kernel path 123456 instructions (TSC, deterministic under Bochs sync=none)\n"
        XCTAssertEqual(DeterministicRun.instructionCount(in: console), 123456)
        XCTAssertNil(DeterministicRun.instructionCount(in: "boot: done\n"))
        let reported = DeterministicRun.reportedMetrics(in: "bench: ipc.roundtrip.instructions 612\nping: x\nbench: a.b 7\n")
        XCTAssertEqual(reported.map(\.name), ["ipc.roundtrip.instructions", "a.b"])
        XCTAssertEqual(reported.map(\.value), [612, 7])
    }

    func testMetricsReportForms() {
        let metrics = [
            Metric(name: "kernel.image.bytes", value: 73000, unit: "bytes"),
            Metric(name: "boot.kernel.instructions.bochs", value: 123456, unit: "instructions"),
        ]
        XCTAssertEqual(MetricsReport.json(metrics),
                       #"{"kernel.image.bytes": 73000, "boot.kernel.instructions.bochs": 123456}"#)
        let object = try? JSONSerialization.jsonObject(with: Data(MetricsReport.json(metrics).utf8))
        XCTAssertEqual((object as? [String: Any])?.count, 2)
        XCTAssertTrue(MetricsReport.table(metrics).contains("boot.kernel.instructions.bochs  123456  instructions"))
    }

    /// The CPU job benchmark's readers: the job line with its four sums, the heartbeat's summary.
    func testLinuxJobParsing() throws {
        let sum = LinuxJob.expectedSum
        let console = "swiftlet-guest: date 946684800\r\n"
            + "swiftlet-guest: job sha256 of 4 x 16 MiB: 4733194119 tsc ticks (tsc 1133603142 to 5866797261), sums \(sum) \(sum) \(sum) \(sum)\r\n"
            + "[heartbeat] heartbeat: 2 beats in 4.0 s, worst 2 us late, mean 1 us\r\n"
        let job = try XCTUnwrap(LinuxJob.jobLine(in: console))
        XCTAssertEqual(job.ticks, 4_733_194_119)
        XCTAssertEqual(job.sums, Array(repeating: sum, count: 4))
        XCTAssertNil(LinuxJob.jobLine(in: "swiftlet-guest: job sha256: could not write 16 MiB to a ramfs\r\n"))
        let heartbeat = try XCTUnwrap(LinuxJob.heartbeatSummary(in: console))
        XCTAssertEqual(heartbeat.beats, 2)
        XCTAssertEqual(heartbeat.worst, 2)
        XCTAssertEqual(heartbeat.mean, 1)
        XCTAssertNil(LinuxJob.heartbeatSummary(in: "heartbeat 1 at 2.000 s: 2 us late (worst 2 us)\r\n"))
        // Only the beats while the guest ran count, also one that cut into the guest's output.
        let run = "[heartbeat] heartbeat 1 at 0.250 s: 900 us late (worst 900 us)\r\n"
            + "[vmm] vmm: /tasks/vmm/vm@0: Linux boot protocol 0x20f, kernel at 0x1000000\r\n"
            + "[heartbeat] heartbeat 2 at 0.500 s: 30 us late (worst 900 us)\r\n"
            + "swiftlet-guest: clocksource kvm-\u{1B}[K[heartbeat] heartbeat 3 at 0.750 s: 50 us late (worst 900 us)\r\n"
            + "[vmm] vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after 2467 exits\r\n"
            + "[heartbeat] heartbeat 4 at 1.000 s: 5000 us late (worst 5000 us)\r\n"
        let inside = try XCTUnwrap(LinuxJob.heartbeatsWhileTheGuestRan(in: run))
        XCTAssertEqual(inside.beats, 2)
        XCTAssertEqual(inside.worst, 50)
        XCTAssertEqual(inside.mean, 40)
        XCTAssertNil(LinuxJob.heartbeatsWhileTheGuestRan(in: console))
    }

    /// The Linux boot benchmark's readers: the VMM's exit statistics (CR LF lines, as the console has
    /// them, with a continuation line and the line after left alone), the phase TSCs, the default VM.
    func testLinuxBootParsing() throws {
        let console = "[vmm] vmm: /tasks/vmm/vm@0: 2467 exits by reason: interrupt-window 22 cpuid 717 io 825\r\n"
            + "[vmm] vmm: /tasks/vmm/vm@0: exits by reason (continued): npf 526 cache-control 4\r\n"
            + "[roottask] roottask: all done; powering off: all 4 tasks passed\r\n"
        let exits = try XCTUnwrap(LinuxBoot.exitStatistics(in: console))
        XCTAssertEqual(exits.total, 2467)
        XCTAssertEqual(exits.byReason.map(\.reason), ["interrupt_window", "cpuid", "io", "npf", "cache_control"])
        XCTAssertEqual(exits.byReason.map(\.count), [22, 717, 825, 526, 4])
        XCTAssertNil(LinuxBoot.exitStatistics(in: "vmm: /tasks/vmm/vm@0: the guest powered off\r\n"))

        let timeline = "boot: kernel path 211185 instructions (TSC ticks; excludes 0 waiting for the UART); entered at tsc 418743594\r\n"
            + "[vmm] vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after 2467 exits, 0 s (entered at tsc 554966826, off at tsc 1134308871); VM stopped\r\n"
        let phases = try XCTUnwrap(LinuxBoot.phases(in: timeline, marker: 1_104_308_871))
        XCTAssertEqual(phases.loader, 418_743_594)
        XCTAssertEqual(phases.swiftlet, 554_966_826 - 418_743_594)
        XCTAssertEqual(phases.guest, 1_104_308_871 - 554_966_826)
        XCTAssertNil(LinuxBoot.phases(in: timeline, marker: 5), "a marker before the VM's start is no timeline")

        XCTAssertEqual(DefaultVM.parse("vm@0 {\n kernel = \"linux\";\n bootargs = \"console=ttyS0 quiet\";\n memory-mib = <64>;\n};"),
                       DefaultVM(bootargs: "console=ttyS0 quiet", memoryMiB: 64))
        XCTAssertNil(DefaultVM.parse("vm@0 { bootargs = \"x\"; };"))
    }

    /// Both sides of the boot ratio boot the same command line: the default system's vm@0 and the direct ISO.
    func testTheDefaultVMBootsTheDirectImagesCommandLine() throws {
        let repository = try Repository.locate(from: URL(fileURLWithPath: #filePath))
        let vm = try DefaultVM.read(from: repository.root.appendingPathComponent(ImageConfiguration.standardConfiguration))
        XCTAssertEqual(vm.bootargs, LinuxDirectImage.commandLine)
        XCTAssertGreaterThanOrEqual(vm.memoryMiB, 72, "the cloud kernel needs 72 MB")
    }

    struct Failing: Benchmark {
        var title: String { "failing on purpose" }
        func measure(in context: BenchmarkContext) throws -> [Metric] {
            throw SwiftletError.measurementFailed("the guest recipe could not be fetched")
        }
    }

    struct Fixed: Benchmark {
        var title: String { "fixed" }
        func measure(in context: BenchmarkContext) throws -> [Metric] { [Metric(name: "a.b", value: 1, unit: "")] }
    }

    /// A benchmark that fails loses only its own metrics, and says why; `--filter` picks by title.
    func testAFailedBenchmarkLosesOnlyItsMetrics() throws {
        let repository = try Repository.locate(from: URL(fileURLWithPath: #filePath))
        let image = BootImage(iso: URL(fileURLWithPath: "/none.iso"), kernel: URL(fileURLWithPath: "/none.elf"), configuration: .native)
        let context = BenchmarkContext(image: image, runner: ImageRunner(repository: repository),
                                       makeImage: { _ in image }, progress: { _ in })
        let outcome = BenchmarkSuite.run([Failing(), Fixed()], in: context)
        XCTAssertEqual(outcome.metrics, [Metric(name: "a.b", value: 1, unit: "")])
        XCTAssertEqual(outcome.failures.count, 1)
        XCTAssertTrue(outcome.failures[0].contains("the guest recipe could not be fetched"), outcome.failures[0])
        XCTAssertEqual(BenchmarkSuite.selected("LINUX").map(\.title), LinuxBoot.backends.map(\.title) + LinuxJob.backends.map(\.title))
        XCTAssertEqual(BenchmarkSuite.selected("linux.cpu.ratio.vmx").map(\.title), [LinuxJob.backends[0].title])
        XCTAssertEqual(BenchmarkSuite.selected(nil).count, BenchmarkSuite.all.count)
    }
}
