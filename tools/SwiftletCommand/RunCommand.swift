import ArgumentParser
import Foundation
import SwiftletTools

extension Emulator: ExpressibleByArgument {}

/// The vCPU backend a run should give the VMM: picks the emulator and CPU model that offer it.
enum VirtBackend: String, ExpressibleByArgument, CaseIterable {
    case vmx, svm
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Build the image and boot it, with the serial console on stdout.",
        discussion: """
            The run ends when the guest powers off, when the kernel halts after a panic, when the \
            emulator exits, or at the timeout. On a terminal, QEMU connects your keyboard to the serial \
            port (Ctrl-A x quits, Ctrl-A c opens QEMU's monitor).

            The run is judged by the kernel's own console lines; task output is tagged '[name] ' and \
            counts for nothing. Exit status:
              0    every task passed and the system powered off
              3    kernel panic: the kernel printed 'KERNEL PANIC' and halted
              4    the emulator exited without a power-off (reset, triple fault, error)
              5    the configuration was rejected; nothing was started
              6    a task (or the root task) could not be started
              7    tasks failed their checks, were stopped after a fault, or did not report
              124  the timeout passed and the emulator was stopped
              130  interrupted (Ctrl-C, SIGTERM, or stdout closed)
              64   an invalid option or option value
              2    a tool or package is missing
              1    the build failed
            """)

    @Option(help: "The emulator: qemu (SVM with -cpu max) or bochs (VT-x with its default CPU).")
    var emulator: Emulator = .qemu

    @Option(help: ArgumentHelp(
        "The emulated CPU model (default: max for QEMU, corei7_haswell_4770 for Bochs; ryzen gives SVM in Bochs).",
        valueName: "MODEL"))
    var cpu: String?

    @Option(help: ArgumentHelp(
        "The vCPU backend for the VMM: vmx (Bochs corei7_haswell_4770) or svm (QEMU -cpu max, or Bochs ryzen with --emulator bochs).",
        valueName: "BACKEND"))
    var virt: VirtBackend?

    @Flag(help: "Make the guest TSC count instructions (Bochs clock sync=none, QEMU -icount shift=0).")
    var deterministic = false

    @Option(help: ArgumentHelp("Stop the emulator after this many seconds.", valueName: "SECONDS"))
    var timeout: Int = 60

    @Option(help: ArgumentHelp("Guest memory in MiB.", valueName: "MiB"))
    var memory: Int = 256

    @OptionGroup var image: ImageOptions

    @Option(help: ArgumentHelp("Boot this ISO instead of building one.", valueName: "PATH"))
    var iso: String?

    func validate() throws {
        if iso != nil && !image.isStandard {
            throw ValidationError("--iso boots a finished image; --cmdline and --module need a build")
        }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if memory < 16 { throw ValidationError("--memory must be at least 16 (MiB)") }
        if virt == .vmx && emulatorGiven && emulator == .qemu {
            throw ValidationError("--virt vmx needs Bochs: QEMU's TCG emulates SVM but not VT-x")
        }
        if virt != nil && cpu != nil {
            throw ValidationError("--virt chooses the CPU model; give --virt or --cpu, not both")
        }
    }

    /// Whether --emulator was on the command line (--virt vmx switches the default to Bochs).
    private var emulatorGiven: Bool { CommandLine.arguments.contains { $0 == "--emulator" || $0.hasPrefix("--emulator=") } }

    /// The emulator and CPU model after --virt.
    private var machine: (emulator: Emulator, cpu: String?) {
        switch virt {
        case .vmx: return (.bochs, "corei7_haswell_4770")
        case .svm: return emulator == .bochs ? (.bochs, "ryzen") : (.qemu, cpu)
        case nil: return (emulator, cpu)
        }
    }

    func run() throws {
        let result = try reportingFailures { () -> RunResult in
            let repository = try Repository.locate()
            let (emulator, cpu) = machine
            try HostTool.requireAll([emulator.tool])
            let isoURL: URL
            if let iso {
                isoURL = CallerDirectory.resolve(iso)
            } else {
                isoURL = try SystemBuild(repository: repository).build(try image.configuration()).iso
            }
            let interruption = Interruption()
            let configuration = RunConfiguration(
                emulator: emulator, cpuModel: cpu, memoryMiB: memory, deterministic: deterministic,
                timeout: TimeInterval(timeout), interactive: true,
                consoleSink: StandardOutput.sink(stoppingOnClose: interruption.request),
                stopRequest: interruption.request)
            Console.error("swiftlet: booting \(CallerDirectory.display(isoURL)) on \(emulator.rawValue) "
                + "(cpu \(configuration.effectiveCPUModel), \(memory) MiB"
                + (deterministic ? ", deterministic)" : ")"))
            let result = try ImageRunner(repository: repository).run(iso: isoURL, configuration: configuration)
            withExtendedLifetime(interruption) {}
            return result
        }
        Console.error(result.summaryLine)
        if case .emulatorExited = result.outcome, !result.emulatorMessages.isEmpty {
            Console.error("swiftlet: the emulator said:\n\(result.emulatorMessages)")
        }
        if result.outcome != .poweredOff {
            Console.error("swiftlet: run files in \(CallerDirectory.display(result.runDirectory))")
        }
        if result.outcome.exitStatus != 0 {
            throw ExitCode(result.outcome.exitStatus)
        }
    }
}
