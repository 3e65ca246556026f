import Foundation

/// The Linux guest booted directly on an emulator from a GRUB ISO, deterministically: instructions from
/// power-on to the guest's marker line, `linux.direct.instructions.<emulator>` — the denominator of the
/// boot ratio of a Linux guest under Swiftlet. LinuxBoot runs it beside the Swiftlet boot on the same
/// emulator and CPU model.
enum LinuxDirectBoot {
    /// The extra command line both sides of a timed boot on `emulator` get: `swiftlet.poweroff` (the
    /// initramfs powers off after its marker instead of starting the shell), and on QEMU the TSC's rate:
    /// -icount's TSC ticks at 1 GHz of instructions, which Linux cannot calibrate without being told;
    /// Bochs' PIT lets Linux calibrate its own.
    static func extraCommandLine(on emulator: Emulator) -> String {
        emulator == .qemu ? "swiftlet.poweroff tsc_early_khz=1000000" : "swiftlet.poweroff"
    }

    /// One deterministic direct boot to the marker with `memoryMiB` of RAM (the VM's, so both sides of
    /// the ratio boot the same machine size).
    static func measure(_ guest: LinuxGuest, on emulator: Emulator, cpuModel: String?, memoryMiB: Int,
                        in context: BenchmarkContext) throws -> Metric {
        let repository = context.runner.repository
        let iso = try LinuxDirectImage.build(guest, in: repository, label: emulator.rawValue,
                                             extraCommandLine: extraCommandLine(on: emulator))
        let configuration = RunConfiguration(emulator: emulator, cpuModel: cpuModel, memoryMiB: memoryMiB,
                                             deterministic: true, timeout: 600)
        let result = try context.runner.run(iso: iso, configuration: configuration)
        let name = "linux.direct.instructions.\(emulator.rawValue)"
        guard let tsc = LinuxDirectImage.markerTSC(in: result.console) else {
            throw SwiftletError.measurementFailed("\(name): no marker line (\(result.outcome.summary)); console in \(result.runDirectory.path)")
        }
        context.progress("bench: \(name) \(tsc) (\(String(format: "%.1f", result.duration)) s)")
        return Metric(name: name, value: Double(tsc), unit: "instructions")
    }
}
