import Foundation

/// A CPU- and memory-bound job in the Linux guest under Swiftlet and directly on the same emulator, both
/// deterministic (Bochs `sync=none` on `vmx`, QEMU -icount on `svm-qemu`), and the heartbeat's lateness
/// beside it:
///  - `linux.cpu.instructions.direct|swiftlet.<backend>`: /init's `swiftlet.job=sha256` (Guests/Linux/init):
///    busybox `sha256sum` of 64 MiB in RAM: a 16 MiB file of zeros, hashed four times by one sha256sum
///    (64 MiB at once does not fit beside the kernel in the VM's 128 MiB: the OOM killer stopped `dd`),
///    that `dd` wrote to a ramfs before the timed part — so only the hashing is timed, reading the file
///    from the page cache and hashing it, not the zero-filling of `/dev/zero` — timed with `tsc` before
///    and after (instructions when deterministic);
///  - `linux.cpu.ratio.<backend>`: Swiftlet's count divided by the direct one (goal ≤ 1.05);
///  - `linux.heartbeat.jitter.us.<backend>` (and `.mean.us`, `.beats`): the heartbeat's worst lateness
///    while the guest boots and runs the job (its beats between the VMM's setup line and the guest's
///    power-off; the whole run's summary, which also covers the reports after it, is in the progress
///    output), with a 250 ms period (the default system's 2 s
///    gives too few beats; each beat preempts the guest, so the job's count includes them). The
///    heartbeat measures with the TSC and the kernel's calibrated frequency, so in these deterministic
///    runs its microseconds are emulated time: instructions / 100 on Bochs (ips 10^8), / 1000 on QEMU
///    -icount (1 GHz of instructions).
/// Both sides boot the same kernel, initramfs, command line (the default vm@0's, plus the job) and RAM.
/// A VM exit or entry counts as one instruction in this yardstick.
public struct LinuxJob: Benchmark {
    public let boot: LinuxBoot

    public static let backends = LinuxBoot.backends.map { LinuxJob(boot: $0) }
    /// SHA-256 of 16 MiB of zeros: both sides must have hashed the whole file, four times.
    static let expectedSum = "080acf35a507ac9849cfcba47dc2ad83e01b75663a516279c8b9d243b719643e"
    static let jobOption = "swiftlet.job=sha256"
    /// The heartbeat's period in the Swiftlet run (LinuxGuestTests' too): the default system's 2 s gave
    /// only 2 beats in a QEMU run, too few to say anything about jitter.
    static let heartbeatPeriodMs = 250

    public var title: String {
        "Linux sha256 job and heartbeat under Swiftlet and directly: linux.cpu.ratio.\(boot.backend), linux.heartbeat.jitter.us.\(boot.backend) (\(boot.emulator.rawValue)\(boot.cpuModel.map { " \($0)" } ?? ""), deterministic)"
    }

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let backend = boot.backend, emulator = boot.emulator
        let repository = context.runner.repository
        let guest = try LinuxGuest.prepare(in: repository, progress: context.progress)
        let vm = try DefaultVM.read(from: repository.root.appendingPathComponent(ImageConfiguration.standardConfiguration))
        let extra = [LinuxDirectBoot.extraCommandLine(on: emulator), Self.jobOption].filter { !$0.isEmpty }.joined(separator: " ")

        let iso = try LinuxDirectImage.build(guest, in: repository, label: "\(emulator.rawValue)-job", extraCommandLine: extra)
        let directRun = try context.runner.run(iso: iso, configuration: RunConfiguration(
            emulator: emulator, cpuModel: boot.cpuModel, memoryMiB: vm.memoryMiB, deterministic: true, timeout: 1200))
        let direct = try job(in: directRun, metric: "linux.cpu.instructions.direct.\(backend)")

        let system = try boot.boot(ImageConfiguration(configuration: try boot.vmConfiguration(extraCommandLine: extra, alone: false,
                                                                                             in: repository, label: "job",
                                                                                             heartbeatPeriodMs: Self.heartbeatPeriodMs)),
                                   metric: "linux.cpu.instructions.swiftlet.\(backend)", in: context)
        let swiftlet = try job(in: system.result, metric: "linux.cpu.instructions.swiftlet.\(backend)")
        guard let heartbeat = Self.heartbeatsWhileTheGuestRan(in: system.result.console) else {
            throw SwiftletError.measurementFailed(
                "linux.heartbeat.jitter.us.\(backend): no heartbeat between the VMM's setup and the guest's power-off; console in \(system.result.runDirectory.path)")
        }
        let summary = Self.heartbeatSummary(in: system.result.console)
        context.progress("bench: \(backend): sha256 job \(direct) directly, \(swiftlet) under Swiftlet; \(heartbeat.beats) heartbeats while the guest ran, worst \(heartbeat.worst) us, mean \(heartbeat.mean) us; the whole run: \(summary.map { "\($0.beats) beats, worst \($0.worst) us, mean \($0.mean) us" } ?? "no summary")")
        return [Metric(name: "linux.cpu.instructions.direct.\(backend)", value: Double(direct), unit: "instructions"),
                Metric(name: "linux.cpu.instructions.swiftlet.\(backend)", value: Double(swiftlet), unit: "instructions"),
                Metric(name: "linux.cpu.ratio.\(backend)", value: LinuxBoot.ratio(swiftlet, Double(direct)), unit: "×"),
                Metric(name: "linux.heartbeat.jitter.us.\(backend)", value: Double(heartbeat.worst), unit: "µs (emulated)"),
                Metric(name: "linux.heartbeat.mean.us.\(backend)", value: Double(heartbeat.mean), unit: "µs (emulated)"),
                Metric(name: "linux.heartbeat.beats.\(backend)", value: Double(heartbeat.beats), unit: "beats")]
    }

    /// The job's TSC ticks from its line, after checking it hashed all 64 MiB (a direct boot has no
    /// Swiftlet power-off to check; `LinuxBoot.boot` checks the Swiftlet run's).
    func job(in result: RunResult, metric: String) throws -> Int {
        guard let line = Self.jobLine(in: result.console) else {
            throw SwiftletError.measurementFailed("\(metric): no job line (\(result.outcome.summary)); console in \(result.runDirectory.path)")
        }
        guard line.sums == Array(repeating: Self.expectedSum, count: 4) else {
            throw SwiftletError.measurementFailed("\(metric): the job's sums \(line.sums) are not four of 16 MiB of zeros; console in \(result.runDirectory.path)")
        }
        return line.ticks
    }

    /// `swiftlet-guest: job sha256 of 4 x 16 MiB: N tsc ticks (tsc A to B), sums S1 S2 S3 S4`.
    static func jobLine(in console: String) -> (ticks: Int, sums: [String])? {
        guard let match = console.firstMatch(of: /swiftlet-guest: job sha256 of 4 x 16 MiB: (\d+) tsc ticks \(tsc \d+ to \d+\), sums ([0-9a-f ]+)/),
              let ticks = Int(match.1) else { return nil }
        return (ticks, match.2.split(separator: " ").map(String.init))
    }

    /// The beats (`heartbeat N at T s: L us late (worst W us)`, anywhere in a line: a beat may cut into the
    /// guest's raw output) between the VMM's setup line and the guest's power-off line: their count, the
    /// worst and the mean lateness; nil without such beats.
    static func heartbeatsWhileTheGuestRan(in console: String) -> (beats: Int, worst: Int, mean: Int)? {
        let lines = console.split(whereSeparator: \.isNewline)
        guard let setup = lines.firstIndex(where: { $0.contains("vmm: /tasks/vmm/vm@0: Linux boot protocol") }),
              let off = lines.firstIndex(where: { $0.contains("vmm: /tasks/vmm/vm@0: the guest powered off") }),
              setup < off else { return nil }
        let late = lines[setup..<off].compactMap { line in
            line.firstMatch(of: /heartbeat \d+ at [0-9.]+ s: (\d+) us late/).flatMap { Int($0.1) }
        }
        guard let worst = late.max() else { return nil }
        return (late.count, worst, late.reduce(0, +) / late.count)
    }

    /// The heartbeat's `heartbeat: N beats in T s, worst W us late, mean M us` (possibly tagged).
    static func heartbeatSummary(in console: String) -> (beats: Int, worst: Int, mean: Int)? {
        guard let match = console.firstMatch(of: /heartbeat: (\d+) beats in [0-9.]+ s, worst (\d+) us late, mean (\d+) us/),
              let beats = Int(match.1), let worst = Int(match.2), let mean = Int(match.3) else { return nil }
        return (beats, worst, mean)
    }
}
