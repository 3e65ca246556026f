import Foundation

/// Packs a linked kernel and its modules into a GRUB multiboot2 ISO with grub-mkrescue.
public struct ImageBuilder: Sendable {
    public let repository: Repository

    public init(repository: Repository) {
        self.repository = repository
    }

    /// The ISO a configuration is written to unless the caller names one.
    public func defaultISO(for configuration: ImageConfiguration) -> URL {
        repository.workDirectory.appendingPathComponent("\(configuration.variantName).iso")
    }

    /// The modules an image carries: its native tasks (linked by KernelBuild), then the extra modules.
    public func modules(for configuration: ImageConfiguration) throws -> [BootModule] {
        let tasks = try configuration.tasks.map { name -> BootModule in
            guard let task = NativeTask.named(name) else {
                let known = NativeTask.all.map(\.name).joined(separator: ", ")
                throw SwiftletError.invalidArgument("no native task named '\(name)' (known: \(known))")
            }
            guard let seed = configuration.seeds[name] else { return try BootModule(source: repository.taskELF(task), name: name) }
            let seeded = repository.workDirectory.appendingPathComponent("tasks/\(configuration.variantName)-\(name).elf")
            try TaskParameters.write(seed: seed, into: repository.taskELF(task), output: seeded)
            return try BootModule(source: seeded, name: name)
        }
        var config: [BootModule] = []
        var guest: [BootModule] = []
        if configuration.configuration == nil && !configuration.kills.isEmpty {
            throw SwiftletError.invalidArgument("--kill-every changes a task node of the configuration, and this image has none (give --config DTS)")
        }
        if let source = configuration.configuration {
            var blob = try compileConfiguration(source, variant: configuration.variantName)
            var changed = source.hasPrefix("/") ? source : repository.root.appendingPathComponent(source).path
            if let change = configuration.virtualMachineOverride {
                blob = try compileOverride(change, over: source, compiled: blob, variant: configuration.variantName)
                changed = repository.workDirectory.appendingPathComponent("config/\(configuration.variantName)-overlay.dts").path
            }
            if !configuration.kills.isEmpty {
                let overlay = repository.workDirectory.appendingPathComponent("config/\(configuration.variantName)-kills.dts")
                try KillOverride.overlay(including: changed, kills: configuration.kills).write(to: overlay, atomically: true, encoding: .utf8)
                blob = try compileConfiguration(overlay.path, variant: configuration.variantName)
            }
            config = [try BootModule(source: blob, name: "config")]
            // A VM that names the Linux guest's modules gets them (fetched or from the cache).
            guest = try GuestModules.modules(requested: GuestModules.requested(by: try Data(contentsOf: blob)),
                                             present: configuration.modules, repository: repository)
        }
        return tasks + config + configuration.modules + (configuration.virtualMachineOverride?.addedModules ?? []) + guest
    }

    /// The configuration with its VM changed: an overlay that includes it, compiled in its place. The VM
    /// is the `vm@0` of the task that has one (read from the compiled configuration).
    func compileOverride(_ change: VirtualMachineOverride, over source: String, compiled: URL, variant: String) throws -> URL {
        try change.validate()
        guard let task = GuestModules.virtualMachineTask(in: try Data(contentsOf: compiled)) else {
            throw SwiftletError.invalidArgument("--guest, --bootargs and --guest-memory change a configuration's VM, and \(source) has none (no task with a vm@0 node; Guests/system.dts has one)")
        }
        let base = source.hasPrefix("/") ? source : repository.root.appendingPathComponent(source).path
        let overlay = repository.workDirectory.appendingPathComponent("config/\(variant)-overlay.dts")
        try change.overlay(including: base, task: task).write(to: overlay, atomically: true, encoding: .utf8)
        return try compileConfiguration(overlay.path, variant: variant)
    }

    /// dtc turns the configuration's device-tree source into the blob the root task reads; its errors
    /// (with line numbers) stop the build.
    func compileConfiguration(_ source: String, variant: String) throws -> URL {
        let input = source.hasPrefix("/") ? URL(fileURLWithPath: source) : repository.root.appendingPathComponent(source)
        guard FileManager.default.fileExists(atPath: input.path) else {
            throw SwiftletError.invalidArgument("configuration \(input.path) does not exist")
        }
        let output = repository.workDirectory.appendingPathComponent("config/\(variant).dtb")
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ExternalCommand(try HostTool.dtc.locate(), ["-q", "-I", "dts", "-O", "dtb", "-o", output.path, input.path]).runQuietly()
        return output
    }

    /// Builds the ISO for `configuration` around `kernel`, at `output` or the default place.
    public func buildImage(kernel: URL, configuration: ImageConfiguration, output: URL? = nil) throws -> BootImage {
        try HostTool.requireAll(HostTool.imageTools)
        var configuration = configuration
        let requested = configuration
        configuration.modules = try modules(for: configuration)
        let iso = output ?? defaultISO(for: requested)
        let name = requested.variantName
        let tree = repository.workDirectory.appendingPathComponent("iso-\(name)")
        let lock = FileLock(url: repository.workDirectory.appendingPathComponent("iso-\(name).lock"))
        let token = VerdictTokenFile.fresh()
        try lock.withLock {
            try layOutTree(at: tree, kernel: kernel, configuration: configuration, verdictToken: token)
            try makeISO(from: tree, at: iso)
            try VerdictTokenFile.write(token, besideISO: iso)
        }
        return BootImage(iso: iso, kernel: kernel, configuration: requested)
    }

    /// Writes the folder that becomes the ISO's file system, replacing what an earlier build left.
    func layOutTree(at tree: URL, kernel: URL, configuration: ImageConfiguration, verdictToken: String) throws {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: tree.path) {
            try fileManager.removeItem(at: tree)
        }
        let grubFolder = tree.appendingPathComponent("boot/grub")
        try fileManager.createDirectory(at: grubFolder, withIntermediateDirectories: true)
        try fileManager.copyItem(at: kernel, to: tree.appendingPathComponent(GrubConfiguration.kernelPath))
        if !configuration.modules.isEmpty {
            let moduleFolder = tree.appendingPathComponent("boot/modules")
            try fileManager.createDirectory(at: moduleFolder, withIntermediateDirectories: true)
            for module in configuration.modules {
                try fileManager.copyItem(at: module.source,
                                         to: tree.appendingPathComponent(GrubConfiguration.modulePath(module)))
            }
        }
        try GrubConfiguration.text(for: configuration, verdictToken: verdictToken)
            .write(to: grubFolder.appendingPathComponent("grub.cfg"), atomically: true, encoding: .utf8)
    }

    func makeISO(from tree: URL, at iso: URL) throws {
        try FileManager.default.createDirectory(at: iso.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        let temporary = FileReplacement.temporarySibling(of: iso)
        let command = ExternalCommand(try HostTool.grubMkrescue.locate(), ["-o", temporary.path, tree.path])
        do {
            try command.runQuietly()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        try FileReplacement.move(temporary, over: iso)
    }
}
