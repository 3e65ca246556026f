// swift-tools-version: 6.0
// One package, two builds:
//  - host (default): the `swiftlet` command, the portable kernel logic as `KernelCore`, and the tests;
//  - bare metal (SWIFTLET_BAREMETAL=1, --triple x86_64-unknown-none-elf, --scratch-path .build-baremetal):
//    the kernel as Embedded Swift plus a little C and assembly, archived into libKernel.a and linked by
//    `swiftlet build` with Kernel/Platform/kernel.ld.
// Kernel/Core is compiled in both: for the host so it can be unit-tested, into the kernel for the image.
import PackageDescription

let bareMetal = Context.environment["SWIFTLET_BAREMETAL"] == "1"

/// Flags for code that runs in ring 0: no SSE/MMX/x87 (the kernel never touches FPU state that belongs to
/// threads), no red zone (interrupts push onto the kernel stack), no stack protector runtime.
let embeddedSwift: [SwiftSetting] = [
    .enableExperimentalFeature("Embedded"),
    .unsafeFlags([
        "-wmo", "-O", "-parse-as-library",
        // One CPU, interrupts off in the kernel: dynamic exclusivity checks (no-ops in Embedded Swift) only cost calls.
        "-enforce-exclusivity=unchecked",
        "-Xfrontend", "-disable-stack-protector", "-Xfrontend", "-function-sections",
        "-Xcc", "-ffreestanding", "-Xcc", "-mno-red-zone",
        "-Xcc", "-mno-sse", "-Xcc", "-mno-sse2", "-Xcc", "-mno-mmx",
    ]),
]
let freestandingC: [CSetting] = [
    .unsafeFlags([
        "-ffreestanding", "-fno-builtin", "-fno-stack-protector", "-fno-pic", "-mcmodel=kernel",
        "-mno-red-zone", "-mno-sse", "-mno-sse2", "-mno-mmx", "-mno-80387", "-Os",
    ]),
]

/// Native tasks under Guests/, each linked by `swiftlet build` into an ELF boot module.
let nativeTasks = ["RootTask", "Ping", "Pong", "FPUTest", "IPCTest", "AbuseTest", "SchedTest", "MemTest", "SerialDriver", "ConsoleTest", "PortTest", "Sigma0", "RTCTest", "ForgeTest", "FailTest", "PagerTest", "RightsTest", "Heartbeat", "DestroyTest", "CrashTest", "SupervisionTest", "BlockDriver", "BlockTest", "RamDiskServer"]
/// Native tasks that also use the drivers' pure logic.
let driverCoreTasks: Set<String> = ["BlockDriver", "BlockTest"]
let freestandingUserC: [CSetting] = [
    .unsafeFlags(["-ffreestanding", "-fno-builtin", "-fno-stack-protector", "-fno-pic", "-mno-sse", "-mno-mmx", "-Os"]),
]

let package: Package
if bareMetal {
    package = Package(
        name: "Swiftlet",
        products: [.library(name: "Kernel", type: .static, targets: ["Kernel"])]
            + nativeTasks.map { .library(name: $0, type: .static, targets: [$0]) }
            + [.library(name: "VMM", type: .static, targets: ["VMM"]), .library(name: "VMMTest", type: .static, targets: ["VMMTest"])],
        targets: [
            .target(name: "KernelPlatform", path: "Kernel/Platform", exclude: ["kernel.ld", "memory_functions.inc"],
                    cSettings: freestandingC),
            .target(name: "SwiftletABI", path: "Kernel/Interface", swiftSettings: embeddedSwift),
            .target(name: "Kernel", dependencies: ["KernelPlatform", "SwiftletABI"], path: "Kernel",
                    exclude: ["Platform", "Interface", "User", "Core/IPC/IPC.pml", "Core/Memory/MappingDatabase.pml"],
                    sources: ["Core", "Machine"],
                    swiftSettings: embeddedSwift),
            // The user library every native task links (like seL4's libsel4).
            .target(name: "UserPlatform", path: "Kernel/User/Platform", cSettings: freestandingUserC),
            .target(name: "SwiftletUser", dependencies: ["SwiftletABI", "UserPlatform"], path: "Kernel/User",
                    exclude: ["Platform", "user.ld"], swiftSettings: embeddedSwift),
            // The VMM's pure logic (exit message view, boot protocol, ACPI, devices, policies), unit-tested on the host too.
            .target(name: "VMMCore", dependencies: ["SwiftletABI"], path: "VMM/Core", swiftSettings: embeddedSwift),
            // The driver tasks' pure logic (ATA command blocks, bus-master DMA tables), unit-tested on the host too.
            .target(name: "DriverCore", path: "Guests/DriverCore", swiftSettings: embeddedSwift),
            // The VMM product: runs the VMs its configuration describes (a Linux guest).
            .target(name: "VMM", dependencies: ["SwiftletUser", "SwiftletABI", "VMMCore"], path: "VMM",
                    exclude: ["Core", "Test"], swiftSettings: embeddedSwift),
            // The test VMM (task `vmmtest`) and the 64-bit test guests it runs (flat images in its read-only data).
            .target(name: "TestGuest", path: "Guests/TestGuest", cSettings: freestandingUserC),
            .target(name: "VMMTest", dependencies: ["SwiftletUser", "SwiftletABI", "VMMCore", "TestGuest"], path: "VMM/Test",
                    swiftSettings: embeddedSwift),
        ] + nativeTasks.map {
            .target(name: $0, dependencies: (["SwiftletUser", "SwiftletABI"] as [Target.Dependency]) + (driverCoreTasks.contains($0) ? ["DriverCore"] : []),
                    path: "Guests/\($0)", swiftSettings: embeddedSwift)
        })
} else {
    package = Package(
        name: "Swiftlet",
        platforms: [.macOS(.v13)],
        products: [.executable(name: "swiftlet", targets: ["SwiftletCommand"])],
        dependencies: [
            .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        ],
        targets: [
            .target(name: "SwiftletABI", path: "Kernel/Interface"),
            // The Promela models beside the code they describe are checked by Spin, not compiled.
            .target(name: "KernelCore", dependencies: ["SwiftletABI"], path: "Kernel/Core",
                    exclude: ["IPC/IPC.pml", "Memory/MappingDatabase.pml"]),
            .target(name: "VMMCore", dependencies: ["SwiftletABI"], path: "VMM/Core"),
            .target(name: "DriverCore", path: "Guests/DriverCore"),
            // The ABI's power-off reasons and task names: the harness reads the kernel's lines by them.
            .target(name: "SwiftletTools", dependencies: ["SwiftletABI"], path: "tools/SwiftletTools"),
            .executableTarget(
                name: "SwiftletCommand",
                dependencies: ["SwiftletTools", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                path: "tools/SwiftletCommand"),
            // libfdt from Debian, to cross-check the device-tree reader the root task uses.
            .systemLibrary(name: "CLibFDT", path: "Tests/CLibFDT", providers: [.apt(["libfdt-dev"])]),
            .testTarget(name: "KernelCoreTests", dependencies: ["KernelCore", "SwiftletABI", "CLibFDT"], path: "Tests/KernelCoreTests"),
            .testTarget(name: "VMMCoreTests", dependencies: ["VMMCore", "KernelCore", "SwiftletABI"], path: "Tests/VMMCoreTests"),
            .testTarget(name: "DriverCoreTests", dependencies: ["DriverCore"], path: "Tests/DriverCoreTests"),
            .testTarget(name: "SystemTests", dependencies: ["SwiftletTools", "SwiftletABI", "VMMCore", "DriverCore"], path: "Tests/SystemTests"),
        ])
}
