import Foundation

/// Lazy against eager FPU switching, side by side: the same image (the IPC ping-pong and the FPU test)
/// booted under Bochs, deterministic, once with `fpu=lazy` and once with `fpu=eager`. Every `bench:` line
/// becomes `<metric>.fpu_lazy` or `<metric>.fpu_eager`.
///
/// In this yardstick XSAVE and XRSTOR count one instruction each, so eager switching looks cheaper than it
/// is on hardware, where saving 832 bytes of AVX state costs far more than a few instructions.
public struct FPUSwitching: Benchmark {
    public init() {}

    public var title: String { "FPU switching, lazy and eager, under bochs (deterministic)" }

    static let tasks = ["roottask", "pong", "ping", "fputest"]

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        var metrics: [Metric] = []
        for mode in ["lazy", "eager"] {
            let image = try context.makeImage(ImageConfiguration(commandLine: "fpu=\(mode)", tasks: Self.tasks))
            let result = try context.runner.run(
                iso: image.iso, configuration: RunConfiguration(emulator: .bochs, deterministic: true, timeout: 300))
            guard result.outcome == .poweredOff else {
                throw SwiftletError.measurementFailed(
                    "fpu=\(mode): the system did not power off (\(result.outcome.summary)); console in \(result.runDirectory.path)")
            }
            metrics += DeterministicRun.reportedMetrics(in: result.console).map {
                Metric(name: "\($0.name).fpu_\(mode)", value: $0.value, unit: "instructions")
            }
        }
        return metrics
    }
}
