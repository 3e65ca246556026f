import Foundation

/// VM exits through the user-level VMM, per backend — `vmx` and `svm` under Bochs, `svm-qemu` under QEMU
/// -icount: the test guest times `rdtsc; cpuid; rdtsc` and `rdtsc; out; rdtsc` (exit → kernel → IPC to the
/// VMM's handler → reply → VM entry), and the two halves: exit → VMM handler entry (`tohandler`) and VMM
/// reply → back in the guest (`fromhandler`). Set them beside `exit.cpuid.inkernel.instructions.*`.
/// A VM exit or entry counts as one instruction in this yardstick.
public struct UserLevelExits: Benchmark {
    public init() {}

    public var title: String {
        "VM exits through the user-level VMM, VMX and SVM (a VM exit or entry counts as one instruction)"
    }

    static let runs: [(suffix: String, emulator: Emulator, cpu: String?)] = [
        ("vmx", .bochs, "corei7_haswell_4770"), ("svm", .bochs, "ryzen"), ("svm-qemu", .qemu, nil),
    ]

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        var metrics: [Metric] = []
        let image = try context.makeImage(.vmmTest)          // the test VMM's guest times the exits
        for run in Self.runs {
            let result = try context.runner.run(
                iso: image.iso, configuration: RunConfiguration(emulator: run.emulator, cpuModel: run.cpu, deterministic: true, timeout: 300))
            let reported = Self.exitMetrics(in: result.console)
            guard result.outcome == .poweredOff, reported.count == 6 else {
                throw SwiftletError.measurementFailed("the VMM on \(run.suffix) reported \(reported.count) of 6 exit metrics; console in \(result.runDirectory.path)")
            }
            metrics += reported.map { Metric(name: "\($0.name).\(run.suffix)", value: $0.value, unit: "instructions") }
        }
        return metrics
    }

    /// The VMM's `bench: exit.<kind>.instructions.<vmx|svm> N` lines, without the backend suffix.
    static func exitMetrics(in console: String) -> [(name: String, value: Double)] {
        DeterministicRun.reportedMetrics(in: console).compactMap { metric in
            guard metric.name.hasPrefix("exit."), !metric.name.contains(".inkernel."),
                  let dot = metric.name.lastIndex(of: ".") else { return nil }
            return (String(metric.name[..<dot]), metric.value)
        }
    }
}
