import Foundation
import SwiftletABI
@testable import SwiftletTools
import XCTest

/// `--guest`, `--guest-module`, `--bootargs`/`--guest-cmdline` and `--guest-memory`: an overlay over the
/// configuration that dtc compiles and the root task's reader takes, with the VM changed as asked.
final class VirtualMachineOverrideTests: XCTestCase {
    func compiled(_ change: VirtualMachineOverride, over base: String = "Guests/system.dts") throws -> SystemConfiguration.VirtualMachine? {
        let repository = SystemImages.repository
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-override-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let overlay = directory.appendingPathComponent("overlay.dts"), blob = directory.appendingPathComponent("overlay.dtb")
        try change.overlay(including: repository.root.appendingPathComponent(base).path, task: "vmm").write(to: overlay, atomically: true, encoding: .utf8)
        try ExternalCommand(try HostTool.dtc.locate(), ["-q", "-I", "dts", "-O", "dtb", "-o", blob.path, overlay.path]).runQuietly()
        var found: SystemConfiguration.VirtualMachine?
        GuestModules.read(try Data(contentsOf: blob)) { configuration in
            for index in 0..<configuration.taskCount where configuration.tasks[index].virtualMachine != nil {
                found = configuration.tasks[index].virtualMachine
            }
        }
        return found
    }

    func text(_ bytes: ByteString) -> String { String(decoding: bytes.bytes, as: UTF8.self) }

    func testAGuestOfTheUsersReplacesTheConfiguredKernelInitrdAndCommandLine() throws {
        let file = URL(fileURLWithPath: #filePath)
        let change = VirtualMachineOverride(guest: .init(kernel: try BootModule(source: file, name: "guest"),
                                                         modules: [try BootModule(source: file, name: "one"), try BootModule(source: file, name: "two")]),
                                            memoryMiB: 32)
        let vm = try XCTUnwrap(compiled(change))
        XCTAssertEqual(text(vm.kernel), "guest")
        XCTAssertEqual(vm.initrd.bytes.count, 0, "the configured initrd is gone")
        XCTAssertEqual(vm.moduleCount, 2)
        XCTAssertEqual(text(vm.modules[0]), "one")
        XCTAssertEqual(text(vm.modules[1]), "two")
        XCTAssertEqual(vm.bootargs.bytes.count, 0, "the configured Linux command line is not the new guest's")
        XCTAssertEqual(vm.memoryMiB, 32)
        XCTAssertEqual(change.addedModules.map(\.name), ["guest", "one", "two"])
    }

    func testTheConfiguredGuestWithAnotherCommandLineAndMemory() throws {
        let vm = try XCTUnwrap(compiled(VirtualMachineOverride(bootargs: "console=ttyS0 \"quoted\" back\\slash", memoryMiB: 256)))
        XCTAssertEqual(text(vm.kernel), "linux")
        XCTAssertEqual(text(vm.initrd), "initramfs")
        XCTAssertEqual(text(vm.bootargs), "console=ttyS0 \"quoted\" back\\slash")
        XCTAssertEqual(vm.memoryMiB, 256)
    }

    func testWhatTheRootTaskWouldRefuseIsRefusedNamingTheOption() throws {
        let file = URL(fileURLWithPath: #filePath)
        func message(_ change: VirtualMachineOverride) -> String {
            do { try change.validate() } catch { return "\(error)" }
            return ""
        }
        XCTAssertTrue(message(VirtualMachineOverride(bootargs: "a\nb")).contains("--bootargs/--guest-cmdline: only printable ASCII"))
        XCTAssertTrue(message(VirtualMachineOverride(bootargs: String(repeating: "x", count: 2048))).contains("2048 bytes; at most 2047"))
        XCTAssertTrue(message(VirtualMachineOverride(memoryMiB: 15)).contains("--guest-memory must be an even number"))
        XCTAssertTrue(message(VirtualMachineOverride(memoryMiB: 33)).contains("--guest-memory must be an even number"))
        let twice = VirtualMachineOverride(guest: .init(kernel: try BootModule(source: file, name: "guest"),
                                                        modules: [try BootModule(source: file, name: "guest")]))
        XCTAssertTrue(message(twice).contains("two modules have the same name"))
        XCTAssertEqual(message(VirtualMachineOverride(bootargs: "quiet\tloglevel=3", memoryMiB: 64)), "")
    }
}
