import Foundation

/// A native L4 task under Guests/: a SwiftPM product of the bare-metal build, linked into an ELF that
/// the image carries as a multiboot2 module. The kernel starts the one named `roottask`; the root task
/// starts the others.
public struct NativeTask: Sendable, Hashable {
    /// The module name the system sees.
    public let name: String
    /// The static-library product in Package.swift (its target lives in Guests/<product>).
    public let product: String

    public static let rootTask = NativeTask(name: "roottask", product: "RootTask")
    public static let all: [NativeTask] = [
        rootTask,
        NativeTask(name: "ping", product: "Ping"),
        NativeTask(name: "pong", product: "Pong"),
        NativeTask(name: "fputest", product: "FPUTest"),
        NativeTask(name: "memtest", product: "MemTest"),
        NativeTask(name: "serial", product: "SerialDriver"),
        NativeTask(name: "consoletest", product: "ConsoleTest"),
        NativeTask(name: "porttest", product: "PortTest"),
        NativeTask(name: "sigma0", product: "Sigma0"),
        NativeTask(name: "rtctest", product: "RTCTest"),
        NativeTask(name: "ipctest", product: "IPCTest"),
        NativeTask(name: "abusetest", product: "AbuseTest"),
        NativeTask(name: "schedtest", product: "SchedTest"),
        NativeTask(name: "pagertest", product: "PagerTest"),
        NativeTask(name: "rightstest", product: "RightsTest"),
        NativeTask(name: "destroytest", product: "DestroyTest"),
        NativeTask(name: "vmm", product: "VMM"),
        NativeTask(name: "vmmtest", product: "VMMTest"),
        NativeTask(name: "forgetest", product: "ForgeTest"),
        NativeTask(name: "failtest", product: "FailTest"),
        NativeTask(name: "crashtest", product: "CrashTest"),
        NativeTask(name: "supervisiontest", product: "SupervisionTest"),
        NativeTask(name: "heartbeat", product: "Heartbeat"),
        NativeTask(name: "ata", product: "BlockDriver"),
        NativeTask(name: "blocktest", product: "BlockTest"),
        // Test scaffolding: a block service from RAM for the VMM's virtio-blk (never in the product).
        NativeTask(name: "ramdisk", product: "RamDiskServer"),
    ]

    /// The tasks a standard image boots: sigma0 (the root pager), the root task, the serial driver (every other task's console),
    /// the IPC ping-pong pair and the memory test (whose figures `swiftlet bench` reports), the VMM (which runs
    /// the VM the configuration describes; the test VMM `vmmtest` and its test guests run in `ImageConfiguration.vmmTest`),
    /// and the heartbeat (a periodic daemon that shows native tasks run on beside the guest).
    public static let standardSet: [String] = ["sigma0", "roottask", "serial", "pong", "ping", "memtest", "vmm", "heartbeat"]

    public static func named(_ name: String) -> NativeTask? {
        all.first { $0.name == name }
    }
}
