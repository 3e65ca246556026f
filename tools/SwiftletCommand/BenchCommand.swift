import ArgumentParser
import Foundation
import SwiftletTools

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Swiftlet: deterministic instruction counts and sizes.",
        discussion: """
            Boots the standard image without the Linux VM (Guests/native.dts) with the guest TSC counting \
            instructions (Bochs clock sync=none, \
            QEMU -icount shift=0,align=off) and reports what the kernel measured. Instruction counts are \
            path lengths, not times: a VM exit or entry counts as one instruction. \
            The Linux benchmarks boot the default system's guest under Swiftlet and the same guest directly \
            from a GRUB ISO, per backend, and report the ratio. A benchmark that fails loses only its own \
            metrics; the command then exits non-zero.
            With --json, stdout holds exactly one JSON object {"metric.name": number, ...}; progress \
            goes to stderr.
            """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Run only the benchmarks whose title contains this text (case-insensitive), e.g. `linux`.")
    var filter: String?

    @Flag(help: "List the benchmarks (their titles) and exit.")
    var list = false

    func run() throws {
        try reportingFailures {
            let benchmarks = BenchmarkSuite.selected(filter)
            if list {
                benchmarks.forEach { Console.output($0.title) }
                return
            }
            guard !benchmarks.isEmpty else {
                throw SwiftletError.invalidArgument("no benchmark's title contains '\(filter ?? "")' (see --list)")
            }
            let repository = try Repository.locate()
            try HostTool.requireAll(HostTool.all)
            // The standard tasks without the Linux VM (Guests/native.dts): the figures below are theirs.
            Console.error("bench: building the standard image without the Linux VM")
            let image = try SystemBuild(repository: repository).build(.native)
            let builder = ImageBuilder(repository: repository)
            let context = BenchmarkContext(
                image: image, runner: ImageRunner(repository: repository),
                makeImage: { try builder.buildImage(kernel: image.kernel, configuration: $0) },
                progress: { Console.error($0) })
            let outcome = BenchmarkSuite.run(benchmarks, in: context)
            if json { Console.error("bench: \(MetricsReport.yardstick)") }
            Console.output(json ? MetricsReport.json(outcome.metrics) : MetricsReport.table(outcome.metrics))
            // The metrics measured are printed either way; a failed benchmark still fails the command.
            guard outcome.failures.isEmpty else {
                throw SwiftletError.measurementFailed(
                    "\(outcome.failures.count) benchmark(s) failed:\n" + outcome.failures.joined(separator: "\n"))
            }
        }
    }
}
