import ArgumentParser
import Foundation
import SwiftletTools

/// The options that say what goes into a boot image, shared by `build` and `run`.
struct ImageOptions: ParsableArguments {
    @Option(name: .customLong("cmdline"), help: ArgumentHelp("The kernel command line.", valueName: "STR"))
    var commandLine: String = ""

    @Option(name: .customLong("module"),
            help: ArgumentHelp("Load FILE as a multiboot2 module named NAME (default: the file's name). Repeatable.",
                               valueName: "FILE[=NAME]"))
    var modules: [String] = []

    @Option(name: .customLong("task"),
            help: ArgumentHelp("Boot this native task (from Guests/) instead of the standard set. Repeatable.",
                               valueName: "NAME"))
    var tasks: [String] = []

    @Option(name: .customLong("config"),
            help: ArgumentHelp("The system configuration (device-tree source; default Guests/system.dts, or none with --task).",
                               valueName: "DTS"))
    var systemConfiguration: String?

    var isStandard: Bool { commandLine.isEmpty && modules.isEmpty && tasks.isEmpty && systemConfiguration == nil }

    func configuration() throws -> ImageConfiguration {
        let base = CallerDirectory.url
        return ImageConfiguration(
            commandLine: commandLine,
            tasks: tasks.isEmpty ? NativeTask.standardSet : tasks,
            modules: try modules.map { try BootModule(argument: $0, relativeTo: base) },
            configuration: systemConfiguration.map { $0.hasPrefix("/") ? $0 : base.appendingPathComponent($0).path }
                ?? (tasks.isEmpty ? ImageConfiguration.standardConfiguration : nil))
    }
}
