import Foundation

/// The number of instructions the kernel executes from its entry point to the end of boot, as the kernel
/// itself measures it with the TSC in a deterministic run (where the TSC counts instructions).
///
/// The kernel reports it in the line `boot: kernel path <N> instructions ...`.
/// A VM exit or entry would count as one instruction here: this is path length, not time.
public struct BootPathLength: Benchmark {
    public let emulator: Emulator

    public init(emulator: Emulator) {
        self.emulator = emulator
    }

    public var title: String { "boot path length under \(emulator.rawValue) (deterministic)" }

    public var metricName: String { "boot.kernel.instructions.\(emulator.rawValue)" }

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        let configuration = RunConfiguration(emulator: emulator, deterministic: true, timeout: 180)
        let result = try context.runner.run(iso: context.image.iso, configuration: configuration)
        guard result.outcome == .poweredOff else {
            throw SwiftletError.measurementFailed(
                "\(metricName): the boot did not power off (\(result.outcome.summary)); "
                    + "console in \(result.runDirectory.path)")
        }
        guard let count = Self.instructionCount(in: result.console) else {
            throw SwiftletError.measurementFailed(
                "\(metricName): no 'boot: kernel path <N> instructions' line on the console; "
                    + "console in \(result.runDirectory.path)")
        }
        return [Metric(name: metricName, value: Double(count), unit: "instructions")]
    }

    /// The count from the kernel's `boot: kernel path <N> instructions` line, if there is one.
    public static func instructionCount(in console: String) -> Int? {
        guard let match = console.firstMatch(of: /boot: kernel path (\d+) instructions/) else { return nil }
        return Int(match.1)
    }
}
