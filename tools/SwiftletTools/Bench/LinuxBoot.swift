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
///  - `linux.boot.seconds.<backend>`: wall time of the whole Swiftlet run (informational).
/// Both sides get the VM's RAM and command line; on QEMU both add `tsc_early_khz=1000000` (the -icount
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

        let configuration = try vmConfiguration(extraCommandLine: LinuxDirectBoot.extraCommandLine(on: emulator), in: repository)
        let image = try context.makeImage(ImageConfiguration(configuration: configuration))
        let result = try context.runner.run(iso: image.iso, configuration: RunConfiguration(
            emulator: emulator, cpuModel: cpuModel, deterministic: true, timeout: 1200))
        let failed = "linux.boot.instructions.\(backend)"
        guard let tsc = LinuxDirectImage.markerTSC(in: result.console) else {
            throw SwiftletError.measurementFailed("\(failed): no marker line (\(result.outcome.summary)); console in \(result.runDirectory.path)")
        }
        guard result.outcome == .poweredOff, let exits = Self.exitStatistics(in: result.console) else {
            throw SwiftletError.measurementFailed(
                "\(failed): no clean power-off with the VMM's exit statistics (\(result.outcome.summary)); console in \(result.runDirectory.path)")
        }
        context.progress("bench: \(failed) \(tsc) (\(String(format: "%.1f", result.duration)) s); console in \(result.runDirectory.path)")
        let ratio = (Double(tsc) / direct.value * 1000).rounded() / 1000
        return [direct,
                Metric(name: "linux.boot.instructions.\(backend)", value: Double(tsc), unit: "instructions"),
                Metric(name: "linux.boot.ratio.\(backend)", value: ratio, unit: "×"),
                Metric(name: "linux.boot.exits.\(backend)", value: Double(exits.total), unit: "exits")]
            + exits.byReason.map { Metric(name: "linux.boot.exits.\($0.reason).\(backend)", value: Double($0.count), unit: "exits") }
            + [Metric(name: "linux.boot.seconds.\(backend)", value: (result.duration * 10).rounded() / 10, unit: "s (wall)")]
    }

    /// The default configuration as it is, or (with an extra command line) a copy whose vm@0 bootargs
    /// have it appended, written beside the build's other configurations.
    func vmConfiguration(extraCommandLine: String, in repository: Repository) throws -> String {
        guard !extraCommandLine.isEmpty else { return ImageConfiguration.standardConfiguration }
        let standard = repository.root.appendingPathComponent(ImageConfiguration.standardConfiguration).path
        let source = """
            /* Written by swiftlet bench: the default system, its guest's command line extended for \(backend). */
            /include/ "\(standard)"

            / { tasks { vmm { vm@0 { bootargs = "\(LinuxDirectImage.commandLine) \(extraCommandLine)"; }; }; }; };

            """
        let file = repository.workDirectory.appendingPathComponent("config/linux-boot-\(backend).dts")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try source.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// The VMM's `vmm: /tasks/vmm/vm@0: N exits by reason: NAME N ...` line and its continuations, with
    /// reason names made metric-safe (`interrupt-window` → `interrupt_window`); nil without that line.
    public static func exitStatistics(in console: String) -> (total: Int, byReason: [(reason: String, count: Int)])? {
        guard let head = console.firstMatch(of: /vmm: \/tasks\/vmm\/vm@0: (\d+) exits by reason:([^\n]*)/),
              let total = Int(head.1) else { return nil }
        var text = String(head.2)
        for continued in console.matches(of: /vmm: \/tasks\/vmm\/vm@0: exits by reason \(continued\):([^\n]*)/) {
            text += " " + continued.1
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
