import Foundation

/// The Linux guest booted directly on each emulator from a GRUB ISO, deterministically: instructions from
/// power-on to the guest's marker line, `linux.direct.instructions.<emulator>` — the denominator of the
/// boot ratio of a Linux guest under Swiftlet. (Bochs model corei7_haswell_4770, as the vmx backend's runs.)
public struct LinuxDirectBoot: Benchmark {
    public init() {}

    public var title: String { "Linux booted directly (no Swiftlet) on Bochs and QEMU" }

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let repository = context.runner.repository
        let guest = try LinuxGuest.prepare(in: repository, progress: context.progress)
        context.progress("bench: guest Linux \(guest.release) (package \(guest.packageVersion))")
        var metrics: [Metric] = []
        for emulator in [Emulator.bochs, .qemu] {
            // QEMU's -icount TSC ticks at 1 GHz of instructions; Bochs' PIT lets Linux calibrate its own.
            let iso = try LinuxDirectImage.build(guest, in: repository, label: emulator.rawValue,
                                                 extraCommandLine: emulator == .qemu ? "tsc_early_khz=1000000" : "")
            let configuration = RunConfiguration(emulator: emulator, memoryMiB: 256, deterministic: true, timeout: 600)
            let result = try context.runner.run(iso: iso, configuration: configuration)
            let name = "linux.direct.instructions.\(emulator.rawValue)"
            guard let tsc = LinuxDirectImage.markerTSC(in: result.console) else {
                throw SwiftletError.measurementFailed("\(name): no marker line (\(result.outcome.summary)); console in \(result.runDirectory.path)")
            }
            metrics.append(Metric(name: name, value: Double(tsc), unit: "instructions"))
        }
        return metrics
    }
}
