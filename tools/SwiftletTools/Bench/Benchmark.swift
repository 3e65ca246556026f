import Foundation

/// A source of metrics. `swiftlet bench` runs every benchmark in `BenchmarkSuite.all` and reports the
/// union of their metrics; adding a measurement means adding a type here and listing it there.
public protocol Benchmark: Sendable {
    /// What it measures, for progress messages.
    var title: String { get }
    func measure(in context: BenchmarkContext) throws -> [Metric]
}

/// What benchmarks share: the built standard image, a way to boot it, and a place to say what is going on.
public struct BenchmarkContext: Sendable {
    public let image: BootImage
    public let runner: ImageRunner
    /// Builds (around the same kernel) an image with another configuration, for benchmarks that need one.
    public let makeImage: @Sendable (ImageConfiguration) throws -> BootImage
    /// Progress messages (the command sends them to stderr, keeping stdout for the report).
    public let progress: @Sendable (String) -> Void

    public init(image: BootImage, runner: ImageRunner, makeImage: @escaping @Sendable (ImageConfiguration) throws -> BootImage,
                progress: @escaping @Sendable (String) -> Void) {
        self.image = image
        self.runner = runner
        self.makeImage = makeImage
        self.progress = progress
    }
}

public enum BenchmarkSuite {
    /// Every benchmark, in the order their metrics are reported.
    public static let all: [any Benchmark] = [
        KernelImageSize(),
        DeterministicRun(emulator: .bochs),
        DeterministicRun(emulator: .qemu),
        FPUSwitching(),
        ObjectLifecycle(),
        InKernelExits(),
        UserLevelExits(),
    ] + LinuxBoot.backends + LinuxJob.backends

    /// The benchmarks whose title contains `filter` (case-insensitive), e.g. "linux"; all of them for nil.
    public static func selected(_ filter: String?) -> [any Benchmark] {
        guard let filter, !filter.isEmpty else { return all }
        return all.filter { $0.title.localizedCaseInsensitiveContains(filter) }
    }

    /// What a suite run measured, and the benchmarks that could not measure (each with its reason).
    public struct Outcome: Sendable {
        public var metrics: [Metric] = []
        public var failures: [String] = []
    }

    /// Runs `benchmarks` one after another (the machine has two cores and an emulator wants one). A
    /// benchmark that fails (a guest that cannot be fetched, a boot that never reaches its marker) loses
    /// only its own metrics: the reason is kept and the others still run.
    public static func run(_ benchmarks: [any Benchmark] = all, in context: BenchmarkContext) -> Outcome {
        var outcome = Outcome()
        for benchmark in benchmarks {
            context.progress("bench: \(benchmark.title)")
            do {
                outcome.metrics += try benchmark.measure(in: context)
            } catch {
                context.progress("bench: FAILED: \(benchmark.title): \(error)")
                outcome.failures.append("\(benchmark.title): \(error)")
            }
        }
        return outcome
    }
}
