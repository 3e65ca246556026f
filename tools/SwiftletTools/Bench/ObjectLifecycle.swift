import Foundation

/// What a create and destroy of each object type costs: the destroy test (destroytest, with a short soak)
/// booted deterministically under Bochs (VMX) and QEMU -icount (SVM), reporting
/// `object.create_destroy.<type>.instructions` and `vm.create_destroy.instructions` (under QEMU with
/// `.qemu` appended, as DeterministicRun names them).
public struct ObjectLifecycle: Benchmark {
    public init() {}

    public var title: String { "object create/destroy (destroytest), under bochs and qemu (deterministic)" }

    /// The soak's cycles per type in this image (the bench's own 1,000 cycles per figure are fixed).
    static let soakCycles: UInt64 = 1_000

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let image = try context.makeImage(ImageConfiguration(tasks: ["roottask", "destroytest"], seeds: ["destroytest": Self.soakCycles]))
        var metrics: [Metric] = []
        for emulator in [Emulator.bochs, .qemu] {
            let result = try context.runner.run(
                iso: image.iso, configuration: RunConfiguration(emulator: emulator, deterministic: true, timeout: 600))
            let reported = DeterministicRun.reportedMetrics(in: result.console).filter {
                $0.name.hasPrefix("object.create_destroy.") || $0.name.hasPrefix("vm.create_destroy.")
            }
            guard result.outcome == .poweredOff, !reported.isEmpty else {
                throw SwiftletError.measurementFailed(
                    "destroytest under \(emulator.rawValue) reported no create/destroy figures (\(result.outcome.summary)); console in \(result.runDirectory.path)")
            }
            let suffix = emulator == .bochs ? "" : ".\(emulator.rawValue)"
            metrics += reported.map { Metric(name: $0.name + suffix, value: $0.value, unit: "instructions") }
        }
        return metrics
    }
}
