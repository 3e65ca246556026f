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
            path lengths, not times: a VM exit or entry counts as one instruction.
            With --json, stdout holds exactly one JSON object {"metric.name": number, ...}; progress \
            goes to stderr.
            """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        try reportingFailures {
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
            let metrics = try BenchmarkSuite.run(in: context)
            if json { Console.error("bench: \(MetricsReport.yardstick)") }
            Console.output(json ? MetricsReport.json(metrics) : MetricsReport.table(metrics))
        }
    }
}
