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

    @Option(name: .customLong("seed"),
            help: ArgumentHelp("Write SEED into the image of native task TASK (e.g. abusetest=0x5eed: replays a fuzzer run). Repeatable.",
                               valueName: "TASK=SEED"))
    var seeds: [String] = []

    @Option(name: .customLong("guest"),
            help: ArgumentHelp("Run FILE in the configuration's VM instead of its kernel: a Multiboot (v1) ELF kernel, as QEMU's -kernel takes it, or a bzImage.",
                               valueName: "FILE"))
    var guest: String?

    @Option(name: .customLong("guest-cmdline"), help: ArgumentHelp("The --guest kernel's command line.", valueName: "STR"))
    var guestCommandLine: String?

    @Option(name: .customLong("guest-module"),
            help: ArgumentHelp("A Multiboot module for the --guest kernel, which gets NAME (default: the file's name) as its string. Repeatable, at most 8.",
                               valueName: "FILE[=NAME]"))
    var guestModules: [String] = []

    @Option(name: .customLong("bootargs"), help: ArgumentHelp("The configured VM's command line, for this run.", valueName: "STR"))
    var bootargs: String?

    @Option(name: .customLong("guest-memory"), help: ArgumentHelp("The VM's RAM in MiB, for this run (an even number, at least 16).", valueName: "MiB"))
    var guestMemory: Int?

    @Option(name: .customLong("kill-every"),
            help: ArgumentHelp("Have the root task kill the task of configuration node NODE on purpose every MS milliseconds (the node needs restart-on-failure: the root task restarts it). Repeatable.",
                               valueName: "NODE=MS"))
    var killEvery: [String] = []

    var isStandard: Bool {
        commandLine.isEmpty && modules.isEmpty && tasks.isEmpty && systemConfiguration == nil && seeds.isEmpty && virtualMachineOverride == nil
            && killEvery.isEmpty
    }

    /// What --guest, --guest-cmdline, --guest-module, --bootargs and --guest-memory change; nil: nothing.
    var virtualMachineOverride: VirtualMachineOverride? {
        guard guest != nil || guestCommandLine != nil || !guestModules.isEmpty || bootargs != nil || guestMemory != nil else { return nil }
        return VirtualMachineOverride(bootargs: guestCommandLine ?? bootargs, memoryMiB: guestMemory)
    }

    func validateGuestOptions() throws {
        if guest == nil && (guestCommandLine != nil || !guestModules.isEmpty) {
            throw ValidationError("--guest-cmdline and --guest-module go with --guest FILE")
        }
        if guestCommandLine != nil && bootargs != nil {
            throw ValidationError("give --guest-cmdline (for --guest) or --bootargs (for the configured VM), not both")
        }
    }

    func parsedSeeds() throws -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for argument in seeds {
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let text = parts.count == 2 ? parts[1].lowercased() : ""
            let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
            guard parts.count == 2, let value, value != 0 else {
                throw SwiftletError.invalidArgument("--seed \(argument): expected TASK=SEED with a non-zero decimal or 0x hex seed")
            }
            result[parts[0]] = value
        }
        return result
    }

    func configuration() throws -> ImageConfiguration {
        let base = CallerDirectory.url
        var change = virtualMachineOverride
        if let guest {
            let kernel = try BootModule(argument: guest + "=" + VirtualMachineOverride.guestModuleName, relativeTo: base)
            change?.guest = VirtualMachineOverride.Guest(kernel: kernel, modules: try guestModules.map { try BootModule(argument: $0, relativeTo: base) })
        }
        try change?.validate()
        return ImageConfiguration(
            commandLine: commandLine,
            tasks: tasks.isEmpty ? NativeTask.standardSet : tasks,
            modules: try modules.map { try BootModule(argument: $0, relativeTo: base) },
            configuration: systemConfiguration.map { $0.hasPrefix("/") ? $0 : base.appendingPathComponent($0).path }
                ?? (tasks.isEmpty ? ImageConfiguration.standardConfiguration : nil),
            seeds: try parsedSeeds(),
            virtualMachineOverride: change,
            kills: try killEvery.map { try KillOverride(argument: $0) })
    }
}
