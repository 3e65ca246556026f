import Foundation

/// The Linux guest booted under Swiftlet (the default system, Guests/system.dts: the native tasks and the
/// VMM's vm@0) beside the same kernel, initramfs and command line booted directly from a GRUB ISO on the
/// same emulator, both deterministic, per backend — `vmx` on Bochs corei7_haswell_4770, `svm-qemu` on
/// QEMU -icount:
///  - `linux.direct.instructions.<emulator>`: the direct boot, power-on to the marker (LinuxDirectBoot);
///  - `linux.boot.instructions.<backend>`: the Swiftlet boot, power-on to the marker. The guest reads the
///    host's TSC (neither backend sets a TSC offset), so the marker's TSC counts from power-on as in the
///    direct boot; both go through the same firmware and GRUB;
///  - `linux.boot.ratio.<backend>`: the one divided by the other;
///  - `linux.boot.exits.<backend>` and `linux.boot.exits.<reason>.<backend>`: the VMM's exit statistics;
///  - `linux.boot.seconds.<backend>`: wall time of the whole Swiftlet run (informational);
///  - `linux.boot.alone.instructions|ratio.<backend>`: the same with the guest alone (no ping, pong,
///    memtest or heartbeat: they outrank the VMM, so in the default system their tests run before the guest does).
/// Both sides get the VM's RAM and command line, and `swiftlet.poweroff` (the initramfs powers off after
/// its marker instead of starting its shell); on QEMU both add `tsc_early_khz=1000000` (the -icount
/// TSC runs at 1 GHz of instructions and a direct boot cannot calibrate it).
/// A VM exit or entry counts as one instruction in this yardstick.
public struct LinuxBoot: Benchmark {
    public let backend: String
    public let emulator: Emulator
    public let cpuModel: String?

    public static let backends = [
        LinuxBoot(backend: "vmx", emulator: .bochs, cpuModel: "corei7_haswell_4770"),
        LinuxBoot(backend: "svm-qemu", emulator: .qemu, cpuModel: nil),
    ]

    public init(backend: String, emulator: Emulator, cpuModel: String?) {
        self.backend = backend
        self.emulator = emulator
        self.cpuModel = cpuModel
    }

    public var title: String {
        "Linux under Swiftlet and directly, \(backend) (\(emulator.rawValue)\(cpuModel.map { " \($0)" } ?? ""), deterministic)"
    }

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let repository = context.runner.repository
        let guest: LinuxGuest
        do {
            guest = try LinuxGuest.prepare(in: repository, progress: context.progress)
        } catch {
            throw SwiftletError.measurementFailed("linux.boot.\(backend): the guest recipe could not be prepared (\(error))")
        }
        context.progress("bench: guest Linux \(guest.release) (package \(guest.packageVersion))")
        let vm = try DefaultVM.read(from: repository.root.appendingPathComponent(ImageConfiguration.standardConfiguration))
        guard vm.bootargs == LinuxDirectImage.commandLine else {
            throw SwiftletError.measurementFailed(
                "linux.boot.\(backend): the default vm@0's bootargs '\(vm.bootargs)' differ from the direct boot's '\(LinuxDirectImage.commandLine)'")
        }
        let direct = try LinuxDirectBoot.measure(guest, on: emulator, cpuModel: cpuModel, memoryMiB: vm.memoryMiB, in: context)

        let extra = LinuxDirectBoot.extraCommandLine(on: emulator)
        let system = try boot(ImageConfiguration(configuration: try vmConfiguration(extraCommandLine: extra, alone: false, in: repository)),
                              metric: "linux.boot.instructions.\(backend)", in: context)
        guard let exits = Self.exitStatistics(in: system.result.console) else {
            throw SwiftletError.measurementFailed(
                "linux.boot.exits.\(backend): no exit statistics from the VMM; console in \(system.result.runDirectory.path)")
        }
        // The guest alone (only the serial driver and the VMM): what Swiftlet itself adds, without the
        // native test tasks, which outrank the VMM and run first in the default system.
        let alone = try boot(ImageConfiguration(tasks: Self.aloneTasks,
                                                configuration: try vmConfiguration(extraCommandLine: extra, alone: true, in: repository)),
                             metric: "linux.boot.alone.instructions.\(backend)", in: context)
        return [direct,
                Metric(name: "linux.boot.instructions.\(backend)", value: Double(system.tsc), unit: "instructions"),
                Metric(name: "linux.boot.ratio.\(backend)", value: Self.ratio(system.tsc, direct.value), unit: "×"),
                Metric(name: "linux.boot.exits.\(backend)", value: Double(exits.total), unit: "exits")]
            + exits.byReason.map { Metric(name: "linux.boot.exits.\($0.reason).\(backend)", value: Double($0.count), unit: "exits") }
            + [Metric(name: "linux.boot.seconds.\(backend)", value: (system.result.duration * 10).rounded() / 10, unit: "s (wall)"),
               Metric(name: "linux.boot.alone.instructions.\(backend)", value: Double(alone.tsc), unit: "instructions"),
               Metric(name: "linux.boot.alone.ratio.\(backend)", value: Self.ratio(alone.tsc, direct.value), unit: "×")]
            + phases(of: alone)
    }

    /// Where the guest-alone boot's instructions go, from the TSCs the kernel (at its entry) and the VMM
    /// (the vCPU's first entry, on its power-off line) print: firmware and GRUB (`loader`), Swiftlet up to
    /// the VM (`swiftlet`: kernel, root task, sigma0, the RAM handoff, the VMM's setup) and the guest to
    /// its marker (`guest`: Linux's own boot and every exit). Missing lines only leave these out.
    func phases(of boot: (tsc: Int, result: RunResult)) -> [Metric] {
        guard let phases = Self.phases(in: boot.result.console, marker: boot.tsc) else { return [] }
        return [("loader", phases.loader), ("swiftlet", phases.swiftlet), ("guest", phases.guest)].map {
            Metric(name: "linux.boot.alone.\($0.0).instructions.\(backend)", value: Double($0.1), unit: "instructions")
        }
    }

    static func phases(in console: String, marker: Int) -> (loader: Int, swiftlet: Int, guest: Int)? {
        guard let entry = console.firstMatch(of: /boot: kernel path \d+ instructions .*; entered at tsc (\d+)/).flatMap({ Int($0.1) }),
              let vm = console.firstMatch(of: /vmm: \/tasks\/vmm\/vm@0: the guest powered off .*\(entered at tsc (\d+),/).flatMap({ Int($0.1) }),
              entry <= vm, vm <= marker else { return nil }
        return (entry, vm - entry, marker - vm)
    }

    /// The tasks of the guest-alone system: the root task, its pager, the console and the VMM.
    static let aloneTasks = ["sigma0", "roottask", "serial", "vmm"]

    static func ratio(_ swiftlet: Int, _ direct: Double) -> Double {
        (Double(swiftlet) / direct * 1000).rounded() / 1000
    }

    /// One deterministic boot of a system with the Linux VM, to a clean power-off; the marker's TSC.
    func boot(_ configuration: ImageConfiguration, metric: String, in context: BenchmarkContext) throws -> (tsc: Int, result: RunResult) {
        let image = try context.makeImage(configuration)
        let result = try context.runner.run(iso: image.iso, configuration: RunConfiguration(
            emulator: emulator, cpuModel: cpuModel, deterministic: true, timeout: 1200))
        guard let tsc = LinuxDirectImage.markerTSC(in: result.console) else {
            throw SwiftletError.measurementFailed("\(metric): no marker line (\(result.outcome.summary)); console in \(result.runDirectory.path)")
        }
        guard result.outcome == .poweredOff else {
            throw SwiftletError.measurementFailed("\(metric): no clean power-off (\(result.outcome.summary)); console in \(result.runDirectory.path)")
        }
        context.progress("bench: \(metric) \(tsc) (\(String(format: "%.1f", result.duration)) s); console in \(result.runDirectory.path)")
        return (tsc, result)
    }

    /// The default configuration as it is, or a copy (written beside the build's other configurations)
    /// whose vm@0 bootargs have `extraCommandLine` appended and, `alone`, without the native test tasks.
    /// `heartbeatPeriodMs` sets the heartbeat's period instead of the default system's.
    func vmConfiguration(extraCommandLine: String, alone: Bool, in repository: Repository, label: String = "boot",
                         heartbeatPeriodMs: Int? = nil) throws -> String {
        guard !extraCommandLine.isEmpty || alone || heartbeatPeriodMs != nil else { return ImageConfiguration.standardConfiguration }
        let standard = repository.root.appendingPathComponent(ImageConfiguration.standardConfiguration).path
        let bootargs = ([LinuxDirectImage.commandLine] + (extraCommandLine.isEmpty ? [] : [extraCommandLine])).joined(separator: " ")
        let source = """
            /* Written by swiftlet bench: the default system for \(backend)\(alone ? ", the guest alone" : ""). */
            /include/ "\(standard)"

            / { tasks {
                \(alone ? "/delete-node/ pong; /delete-node/ ping; /delete-node/ memtest; /delete-node/ heartbeat;" : "")
                vmm { vm@0 { bootargs = "\(bootargs)"; }; };
                \(heartbeatPeriodMs.map { "heartbeat { period-ms = <\($0)>; };" } ?? "")
            }; };

            """
        let file = repository.workDirectory.appendingPathComponent("config/linux-\(label)-\(backend)\(alone ? "-alone" : "").dts")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try source.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// The VMM's `vmm: /tasks/vmm/vm@0: N exits by reason: NAME N ...` line and its continuations, with
    /// reason names made metric-safe (`interrupt-window` → `interrupt_window`); nil without that line.
    /// Read line by line: the console's lines end in CR LF, which Swift takes as one character.
    public static func exitStatistics(in console: String) -> (total: Int, byReason: [(reason: String, count: Int)])? {
        let lines = console.split(whereSeparator: \.isNewline)
        guard let head = lines.lazy.compactMap({ $0.firstMatch(of: /vmm: \/tasks\/vmm\/vm@0: (\d+) exits by reason:(.*)/) }).first,
              let total = Int(head.1) else { return nil }
        var text = String(head.2)
        for line in lines {
            if let continued = line.firstMatch(of: /vmm: \/tasks\/vmm\/vm@0: exits by reason \(continued\):(.*)/) {
                text += " " + continued.1
            }
        }
        var byReason: [(reason: String, count: Int)] = []
        for pair in text.matches(of: /([a-z-]+) (\d+)/) {
            guard let count = Int(pair.2) else { return nil }
            byReason.append((pair.1.replacingOccurrences(of: "-", with: "_"), count))
        }
        return (total, byReason)
    }
}

/// The default configuration's vm@0 as the ratio needs it: its command line and RAM.
struct DefaultVM: Equatable {
    let bootargs: String
    let memoryMiB: Int

    static func read(from file: URL) throws -> DefaultVM {
        let text = try String(contentsOf: file, encoding: .utf8)
        guard let vm = parse(text) else {
            throw SwiftletError.measurementFailed("\(file.path) has no vm@0 with bootargs and memory-mib")
        }
        return vm
    }

    /// The first vm@0 node's `bootargs = "..."` and `memory-mib = <N>` (the properties the VMM reads).
    static func parse(_ source: String) -> DefaultVM? {
        guard let node = source.range(of: "vm@0 {") else { return nil }
        let body = source[node.upperBound...]
        guard let args = body.firstMatch(of: /bootargs\s*=\s*"([^"]*)"\s*;/),
              let memory = body.firstMatch(of: /memory-mib\s*=\s*<\s*(\d+)\s*>\s*;/),
              let mib = Int(memory.1) else { return nil }
        return DefaultVM(bootargs: String(args.1), memoryMiB: mib)
    }
}
