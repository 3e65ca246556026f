import Foundation
import SwiftletTools
import VMMCore
import XCTest

/// The Multiboot test kernel (Guests/MultibootTest) written for the project. Its reference is QEMU's own
/// Multiboot loader (`-kernel`, with `isa-debug-exit`): what it reports there is what a guest of other
/// people's making sees, and the VMM's Multiboot loader must give it the same.
final class MultibootGuestTests: SystemTestCase {
    static let moduleText = "hello from a module\nsecond line\n"

    /// The default system with the test kernel in its VM (`--guest`, `--guest-cmdline`, `--guest-module`).
    func image(commandLine: String = "multiboot-test exit=5", memoryMiB: Int = 32) throws -> ImageConfiguration {
        let kernel = try MultibootTestGuest.build(in: SystemImages.repository)
        let module = SystemImages.repository.root.appendingPathComponent(".build/guest/multiboot-module.txt")
        if (try? String(contentsOf: module, encoding: .utf8)) != Self.moduleText { try Data(Self.moduleText.utf8).write(to: module) }
        let guest = VirtualMachineOverride.Guest(kernel: try BootModule(source: kernel, name: VirtualMachineOverride.guestModuleName),
                                                 modules: [try BootModule(source: module, name: "the-module")])
        return ImageConfiguration(configuration: ImageConfiguration.standardConfiguration,
                                  virtualMachineOverride: VirtualMachineOverride(guest: guest, bootargs: commandLine, memoryMiB: memoryMiB))
    }

    /// What the test kernel reports under the VMM's loader: the same as under QEMU's, with the VMM's name,
    /// its memory and map, and its ACPI tables; then its debug-exit status is what the run returns.
    func checkInTheVMM(on emulator: Emulator, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try boot(try image(), on: emulator)
        for expected in ["multiboot-test: entered with EAX 0x2badb002, CR0 0x", "multiboot-test: loader \"Swiftlet VMM\"",
                         "multiboot-test: command line \"multiboot-test exit=5\"",
                         "multiboot-test: memory 639 KiB low, 31744 KiB high; map of 3 regions, 32383 KiB available",
                         "multiboot-test: module 0 \"the-module\": 32 bytes at 0x00103000, first line \"hello from a module\"",
                         "multiboot-test: ACPI RSDP at 0x000e0000", "multiboot-test: 0 checks failed; writing 5 to the debug-exit port",
                         "[vmm] vmm: /tasks/vmm/vm@0: Multiboot kernel (ELF, 3 segments",
                         "[vmm] vmm: /tasks/vmm/vm@0: the guest wrote 5 to the debug-exit port (0xf4) after ",
                         "[roottask] roottask: a guest exited with status 11 through its debug-exit port"] {
            assertLine(containing: expected, in: result, file: file, line: line)
        }
        XCTAssertFalse(result.console.contains("FAILED"), "a check failed", file: file, line: line)
        XCTAssertEqual(result.verdictLines, ["kernel: powering off: all tasks passed; the guest exited with status 11"], file: file, line: line)
        XCTAssertEqual(result.outcome, .guestExited(status: 11), file: file, line: line)
        XCTAssertEqual(result.outcome.exitStatus, 11, "swiftlet run returns (5 << 1) | 1", file: file, line: line)
        if result.outcome.exitStatus == 11 {
            print("multiboot: the test kernel passed under the VMM on \(emulator.rawValue) and the run returned 11 after \(String(format: "%.1f", result.duration)) s")
        }
    }

    func testTheTestKernelInTheVMMOnQEMUSVM() throws {
        try checkInTheVMM(on: .qemu)
    }

    func testTheTestKernelInTheVMMOnBochsVMX() throws {
        try checkInTheVMM(on: .bochs)
    }

    /// A damaged Multiboot kernel (its header's checksum broken) is refused before it starts, naming the
    /// node and the reason, and the system goes on (the VMM reports the failure).
    func testADamagedMultibootKernelIsRefusedNamingTheNode() throws {
        let kernel = try MultibootTestGuest.build(in: SystemImages.repository)
        var bytes = try Data(contentsOf: kernel)
        let header = try XCTUnwrap(bytes.withUnsafeBytes { MultibootImage.findHeader(in: $0) })
        bytes[header + 8] ^= 0xFF                                            // the checksum
        let damaged = SystemImages.repository.root.appendingPathComponent(".build/guest/multiboot-damaged.elf")
        try bytes.write(to: damaged)
        let guest = VirtualMachineOverride.Guest(kernel: try BootModule(source: damaged, name: VirtualMachineOverride.guestModuleName), modules: [])
        let result = try boot(ImageConfiguration(configuration: ImageConfiguration.standardConfiguration,
                                                 virtualMachineOverride: VirtualMachineOverride(guest: guest, memoryMiB: 16)))
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        assertLine(containing: "[vmm] vmm: /tasks/vmm/vm@0: refused: the Multiboot kernel: the Multiboot header's checksum is wrong", in: result)
        XCTAssertFalse(result.console.contains("multiboot-test:"), "the guest ran")
    }

    func testTheTestKernelPassesOnQEMUsOwnMultibootLoaderAndExitsWithItsStatus() throws {
        let kernel = try MultibootTestGuest.build(in: SystemImages.repository)
        let module = FileManager.default.temporaryDirectory.appendingPathComponent("multiboot-module-\(getpid()).txt")
        try Data("hello from a module\nsecond line\n".utf8).write(to: module)
        defer { try? FileManager.default.removeItem(at: module) }
        let process = Process()
        process.executableURL = try HostTool.qemu.locate()
        process.arguments = ["-accel", "tcg", "-kernel", kernel.path, "-append", "exit=5", "-initrd", "\(module.path) the-module",
                             "-display", "none", "-nodefaults", "-serial", "stdio", "-no-reboot",
                             "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        watchdog.cancel()
        XCTAssertTrue(text.contains("multiboot-test: entered with EAX 0x2badb002, CR0 0x00000011, EFLAGS 0x00000002"), text)
        XCTAssertTrue(text.contains("multiboot-test: command line \"\(kernel.path) exit=5\""), text)
        XCTAssertTrue(text.contains("multiboot-test: module 0 \"\(module.path) the-module\": 32 bytes at "), text)
        XCTAssertTrue(text.contains("first line \"hello from a module\""), text)
        XCTAssertTrue(text.contains("multiboot-test: 0 checks failed; writing 5 to the debug-exit port"), text)
        // isa-debug-exit: the status is (value << 1) | 1.
        XCTAssertEqual(process.terminationStatus, 11, text)
        if process.terminationStatus == 11 { print("multiboot: the test kernel passed on QEMU's loader and exited with status 11 (5 << 1 | 1)") }
    }
}
