import Foundation

/// What goes into a boot image besides the kernel: its command line, the native tasks (by name, see
/// NativeTask) and any further modules.
///
/// Each distinct configuration gets its own image file, so tests booting differently configured
/// systems in parallel never overwrite each other's ISO.
public struct ImageConfiguration: Sendable, Hashable {
    public var commandLine: String
    public var tasks: [String]
    public var modules: [BootModule]
    /// Device-tree source of the system configuration (relative to the repository or absolute), compiled
    /// with dtc into the module `config`; nil: no configuration, the root task starts every module.
    public var configuration: String?
    /// Seeds written into native tasks' images (TaskParameters), by task name.
    public var seeds: [String: UInt64]
    /// The configuration's VM changed for this image (`--guest`, `--bootargs`, `--guest-memory`).
    public var virtualMachineOverride: VirtualMachineOverride?
    /// Tasks the root task kills on purpose in this image (`--kill-every`).
    public var kills: [KillOverride]

    public init(commandLine: String = "", tasks: [String] = NativeTask.standardSet, modules: [BootModule] = [],
                configuration: String? = nil, seeds: [String: UInt64] = [:], virtualMachineOverride: VirtualMachineOverride? = nil,
                kills: [KillOverride] = []) {
        self.commandLine = commandLine
        self.tasks = tasks
        self.modules = modules
        self.configuration = configuration
        self.seeds = seeds
        self.virtualMachineOverride = virtualMachineOverride
        self.kills = kills
    }

    /// The standard system: the tasks and rights of Guests/system.dts, with the Linux VM under the VMM (the
    /// build adds the guest's kernel and initramfs as modules).
    public static let standard = ImageConfiguration(configuration: standardConfiguration)
    public static let standardConfiguration = "Guests/system.dts"
    /// The same tasks without the Linux VM (Guests/native.dts): what the system tests boot unless they
    /// test the VM.
    public static let native = ImageConfiguration(configuration: nativeConfiguration)
    public static let nativeConfiguration = "Guests/native.dts"

    /// The test VMM's system (Guests/vmmtest.dts): the standard tasks with the test VMM and its test
    /// guests in place of the VMM product.
    public static let vmmTest = ImageConfiguration(tasks: NativeTask.standardSet.map { $0 == "vmm" ? "vmmtest" : $0 },
                                                   configuration: "Guests/vmmtest.dts")
    /// The same with the debug-loop guest (task parameter 1): an endless #DB chain during delivery
    /// (CVE-2015-8104). Only Bochs runs it: QEMU 7.2 TCG aborts when a data breakpoint hits while it
    /// delivers an exception (`cpus.c:502 ... !qemu_mutex_iothread_locked()`), which is what that guest does.
    public static let vmmTestWithDebugLoop = ImageConfiguration(tasks: vmmTest.tasks, configuration: vmmTest.configuration,
                                                                seeds: ["vmmtest": 1])

    /// "swiftlet" for the standard image; otherwise "swiftlet-" and a hash of the configuration.
    public var variantName: String {
        if self == .standard { return "swiftlet" }
        var text = "cmdline=\(commandLine)\n"
        if tasks != NativeTask.standardSet { text += "tasks=\(tasks.joined(separator: ","))\n" }
        if let configuration { text += "config=\(configuration)\n" }
        for module in modules {
            text += "module=\(module.name)@\(module.source.path)\n"
        }
        for (task, seed) in seeds.sorted(by: { $0.key < $1.key }) {
            text += "seed=\(task)=\(seed)\n"
        }
        if let change = virtualMachineOverride {
            text += "vm=\(change.bootargs ?? "-")|\(change.memoryMiB ?? 0)|"
            text += change.addedModules.map { "\($0.name)@\($0.source.path)" }.joined(separator: ",") + "\n"
        }
        for kill in kills { text += "kill=\(kill.node)=\(kill.milliseconds)\n" }
        return "swiftlet-" + StableHash.hex(of: text)
    }
}

/// A hash that is the same in every process (Swift's Hasher is seeded per process), for file names.
enum StableHash {
    /// 64-bit FNV-1a, in 16 hex digits.
    static func hex(of text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
