import Foundation

/// One deterministic boot of the standard image (Bochs `clock: sync=none` or QEMU `-icount`, where the TSC
/// counts instructions) and every number the system reports in it:
///  - the kernel's own boot path, from `boot: kernel path <N> instructions`, as `boot.kernel.instructions.<emulator>`;
///  - each `bench: <metric> <N>` line a task prints (the IPC ping-pong, for one): under Bochs as `<metric>`,
///    the project's yardstick, and under QEMU as `<metric>.qemu`.
/// A VM exit or entry, like a SYSCALL, counts as one instruction here: this is path length, not time.
public struct DeterministicRun: Benchmark {
    public let emulator: Emulator

    public init(emulator: Emulator) {
        self.emulator = emulator
    }

    public var title: String { "deterministic boot under \(emulator.rawValue)" }

    public var bootMetricName: String { "boot.kernel.instructions.\(emulator.rawValue)" }

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let configuration = RunConfiguration(emulator: emulator, deterministic: true, timeout: 300)
        let result = try context.runner.run(iso: context.image.iso, configuration: configuration)
        guard result.outcome == .poweredOff else {
            throw SwiftletError.measurementFailed(
                "\(bootMetricName): the boot did not power off (\(result.outcome.summary)); "
                    + "console in \(result.runDirectory.path)")
        }
        guard let count = Self.instructionCount(in: result.console) else {
            throw SwiftletError.measurementFailed(
                "\(bootMetricName): no 'boot: kernel path <N> instructions' line on the console; "
                    + "console in \(result.runDirectory.path)")
        }
        let suffix = emulator == .bochs ? "" : ".\(emulator.rawValue)"
        return [Metric(name: bootMetricName, value: Double(count), unit: "instructions")]
            // The VMM's exit figures are named per backend by UserLevelExits.
            + Self.reportedMetrics(in: result.console).filter { !$0.name.hasPrefix("exit.") }.map {
                Metric(name: $0.name + suffix, value: $0.value, unit: $0.name.hasSuffix(".instructions") ? "instructions" : "")
            }
    }

    /// The count from the kernel's `boot: kernel path <N> instructions` line, if there is one.
    public static func instructionCount(in console: String) -> Int? {
        guard let match = console.firstMatch(of: /boot: kernel path (\d+) instructions/) else { return nil }
        return Int(match.1)
    }

    /// Every `bench: <metric> <number>` line, in console order.
    public static func reportedMetrics(in console: String) -> [(name: String, value: Double)] {
        console.matches(of: /bench: ([a-z0-9_.]+) (\d+)/).compactMap { match in
            Double(match.2).map { (String(match.1), $0) }
        }
    }
}
