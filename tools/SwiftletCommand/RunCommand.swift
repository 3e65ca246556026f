import ArgumentParser
import Foundation
import SwiftletTools

extension Emulator: ExpressibleByArgument {}

extension VirtBackend: ExpressibleByArgument {}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Build the image and boot it, with the serial console on stdout.",
        discussion: """
            The run ends when the guest powers off, when the kernel halts after a panic, when the \
            emulator exits, or at the timeout (none on a terminal unless --timeout). On a terminal, your \
            keyboard is connected to the serial port: every key goes to the system, Ctrl-C too (to the \
            guest's shell, as on a serial line); in QEMU Ctrl-A x quits and Ctrl-A c opens QEMU's monitor, \
            in Bochs Ctrl-A x ends the run. Otherwise stdin's bytes go to the serial port, from the Linux \
            shell's first prompt on in the default system: printf 'uname -r\\npoweroff\\n' | swiftlet run.

            The run is judged by the kernel's own console lines, which end with the build's secret verdict \
            token; task output (tagged '[name] ') and the guest's raw output count for nothing. Exit status:
              0    every task passed and the system powered off
              3    kernel panic: the kernel printed 'KERNEL PANIC' and halted
              4    the emulator exited without a power-off (reset, triple fault, error)
              5    the configuration was rejected; nothing was started
              6    a task (or the root task) could not be started
              7    tasks failed their checks, were stopped after a fault, or did not report
              124  the timeout passed and the emulator was stopped
              130  interrupted (SIGTERM, SIGHUP, or stdout closed; Ctrl-C when no emulator has the keyboard; Ctrl-A x on Bochs)
              64   an invalid option or option value
              2    a tool or package is missing
              1    the build failed
            """)

    @Option(help: "The emulator: qemu (SVM with -cpu max) or bochs (VT-x with its default CPU). Default: chosen with --virt.")
    var emulator: Emulator?

    @Option(help: ArgumentHelp(
        "The emulated CPU model (default: max for QEMU, corei7_haswell_4770 for Bochs; ryzen gives SVM in Bochs).",
        valueName: "MODEL"))
    var cpu: String?

    @Option(help: ArgumentHelp(
        "The vCPU backend for the VMM: vmx (QEMU with KVM if the host nests VT-x, else Bochs corei7_haswell_4770) or svm (QEMU TCG -cpu max, or Bochs ryzen with --emulator bochs). Default: vmx through KVM if the host offers it, else svm.",
        valueName: "BACKEND"))
    var virt: VirtBackend?

    @Flag(help: "Make the guest TSC count instructions (Bochs clock sync=none, QEMU -icount shift=0).")
    var deterministic = false

    @Option(help: ArgumentHelp(
        "Stop the emulator after this many seconds (default: none on a terminal, where you end the run; otherwise 60, or 600 on Bochs).",
        valueName: "SECONDS"))
    var timeout: Int?

    @Option(help: ArgumentHelp("The emulated machine's memory in MiB (default 256, or the VM's --guest-memory and 128 more).", valueName: "MiB"))
    var memory: Int?

    /// The machine's memory: what was asked, else enough for the VM's RAM beside the native tasks.
    private var machineMiB: Int { memory ?? max(256, (image.guestMemory ?? 0) + 128) }

    @OptionGroup var image: ImageOptions

    @Option(help: ArgumentHelp("Boot this ISO instead of building one.", valueName: "PATH"))
    var iso: String?

    @Option(help: ArgumentHelp(
        "Attach this raw disk image as the primary IDE master (created sparse and zero-filled if missing).",
        valueName: "FILE"))
    var disk: String?

    @Option(name: .customLong("disk-size"), help: ArgumentHelp(
        "The size of a --disk image created now, in MiB (1-\(DiskImage.maximumMiB), default \(DiskImage.defaultMiB)); an existing image must have it.",
        valueName: "MiB"))
    var diskSize: Int?

    func validate() throws {
        if diskSize != nil && disk == nil { throw ValidationError("--disk-size needs --disk FILE") }
        if let diskSize {
            do { try DiskImage.checkSize(diskSize) } catch { throw ValidationError("\(error)") }
        }
        if iso != nil && !image.isStandard {
            throw ValidationError("--iso boots a finished image; --cmdline, --module, --guest and the other image options need a build")
        }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if let memory, memory < 16 { throw ValidationError("--memory must be at least 16 (MiB)") }
        try image.validateGuestOptions()
        if virt == .vmx && emulator == .qemu && !HostVirtualization.probe().offersVMX {
            throw ValidationError("--virt vmx with QEMU needs KVM with nested VT-x, which this host does not offer (\(HostVirtualization.probe().reasonWithoutVMX)); without --emulator it runs on Bochs")
        }
        if virt == .vmx && emulator == .qemu && deterministic {
            throw ValidationError("--virt vmx with QEMU runs under KVM, which cannot count instructions (--deterministic): use Bochs")
        }
        if virt != nil && cpu != nil {
            throw ValidationError("--virt chooses the CPU model; give --virt or --cpu, not both")
        }
    }

    func run() throws {
        let result = try reportingFailures { () -> RunResult in
            let repository = try Repository.locate()
            let choice = BackendChoice.choose(virt: virt, emulator: emulator, cpu: cpu, deterministic: deterministic,
                                              host: HostVirtualization.probe())
            let emulator = choice.emulator
            try HostTool.requireAll([emulator.tool])
            // Before the build, so a disk image that cannot be used stops the run at once.
            let diskImage = try disk.map { try DiskImage.prepare(at: CallerDirectory.resolve($0), mebibytes: diskSize) }
            let isoURL: URL
            if let iso {
                isoURL = CallerDirectory.resolve(iso)
            } else {
                isoURL = try SystemBuild(repository: repository).build(try image.configuration()).iso
            }
            if VerdictTokenFile.read(besideISO: isoURL) == nil {
                Console.error("swiftlet: no verdict token beside \(CallerDirectory.display(isoURL)) (\(VerdictTokenFile.url(besideISO: isoURL).lastPathComponent)): "
                    + "the run is judged by untagged kernel lines, which a guest's raw console output can forge")
            }
            let interruption = Interruption()
            // On a terminal the person ends the run (poweroff in the guest's shell, Ctrl-A x); otherwise
            // stdin's bytes are the guest's console input, from its shell's first prompt on, and a timeout
            // ends a run that never powers off.
            let terminal = isatty(STDIN_FILENO) == 1
            let seconds = timeout.map { TimeInterval($0) } ?? (terminal ? .infinity : emulator == .bochs ? 600 : 60)
            var configuration = RunConfiguration(
                emulator: emulator, cpuModel: choice.cpuModel, memoryMiB: machineMiB, deterministic: deterministic,
                timeout: seconds, interactive: true,
                consoleSink: StandardOutput.sink(stoppingOnClose: interruption.request),
                stopRequest: interruption.request)
            configuration.kvm = choice.kvm
            configuration.disk = diskImage
            if !terminal {
                configuration.forwardedInput = (STDIN_FILENO, image.isStandard && iso == nil ? LinuxGuest.prompt : nil)
            }
            if let explanation = choice.explanation { Console.error("swiftlet: \(explanation)") }
            Console.error("swiftlet: booting \(CallerDirectory.display(isoURL)) on \(emulator.rawValue)\(choice.kvm ? " with KVM" : "") "
                + "(cpu \(configuration.effectiveCPUModel), \(machineMiB) MiB"
                + (deterministic ? ", deterministic)" : ")")
                + (configuration.disk.map { ", disk \(CallerDirectory.display($0.path)) (\($0.bytes >> 20) MiB)" } ?? ""))
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
