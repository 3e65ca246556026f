import Foundation

/// The in-kernel baseline for VM exits: the `virt_selftest` guest's CPUID exit handled inside the kernel
/// by the backend every vCPU uses (entry, exit, decode, RIP read and advanced), per backend — `vmx` and `svm` under Bochs, `svm-qemu`
/// under QEMU -icount. Issue 5's exits through a user-level VMM are to be set beside these.
/// A VM exit or entry counts as one instruction in this yardstick.
public struct InKernelExits: Benchmark {
    public init() {}

    public var title: String { "in-kernel CPUID exit round trip (virt_selftest), VMX and SVM" }

    static let runs: [(suffix: String, emulator: Emulator, cpu: String?)] = [
        ("vmx", .bochs, "corei7_haswell_4770"), ("svm", .bochs, "ryzen"), ("svm-qemu", .qemu, nil),
    ]

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let image = try context.makeImage(ImageConfiguration(commandLine: "virt_selftest", tasks: ["roottask"]))
        var metrics: [Metric] = []
        for run in Self.runs {
            let result = try context.runner.run(
                iso: image.iso, configuration: RunConfiguration(emulator: run.emulator, cpuModel: run.cpu, deterministic: true, timeout: 300))
            guard result.outcome == .poweredOff,
                  let value = DeterministicRun.reportedMetrics(in: result.console).first(where: { $0.name == "exit.cpuid.inkernel.instructions" })
            else {
                throw SwiftletError.measurementFailed("virt_selftest on \(run.suffix) reported no exit round trip; console in \(result.runDirectory.path)")
            }
            metrics.append(Metric(name: "exit.cpuid.inkernel.instructions.\(run.suffix)", value: value.value, unit: "instructions"))
        }
        return metrics
    }
}
