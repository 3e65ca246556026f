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
        for reason in PowerOffReason.allCases {
            var monitor = ConsoleMonitor()
            monitor.append(Data("kernel: powering off: \(reason.description)\r\n".utf8))
            XCTAssertEqual(monitor.powerOffReason, reason)
            XCTAssertEqual(RunOutcome(emulatorExitStatus: 0, console: monitor),
                           reason == .allPassed ? .poweredOff : .poweredOffAfterFailure(reason))
        }
        for line in ["kernel: powering off", "kernel: powering off: all tasks passed, honestly", "kernel: powering off: "] {
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
                           + "-serial stdio -icount shift=0,align=off")
    }

    func testBochsConfigurationSelectsClock() {
        var configuration = BochsConfiguration(
            iso: URL(fileURLWithPath: "/x.iso"), cpuModel: "ryzen", memoryMiB: 64, deterministic: true,
            serialFile: URL(fileURLWithPath: "/run/com1"), logFile: URL(fileURLWithPath: "/run/log"))
        XCTAssertTrue(configuration.text.contains("clock: sync=none, time0=946684800"))
        XCTAssertTrue(configuration.text.contains("cpu: model=ryzen, count=1"))
        XCTAssertTrue(configuration.text.contains("memory: guest=64, host=64"))
        configuration.deterministic = false
        XCTAssertTrue(configuration.text.contains("clock: sync=slowdown"))
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
        XCTAssertEqual(BenchmarkSuite.selected("LINUX").map(\.title), LinuxBoot.backends.map(\.title))
        XCTAssertEqual(BenchmarkSuite.selected(nil).count, BenchmarkSuite.all.count)
    }
}
