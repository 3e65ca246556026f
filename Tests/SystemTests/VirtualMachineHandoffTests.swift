import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// A VM in the configuration (`vm@0` under the VMM's node): the root task hands the VMM its modules, its
/// guest RAM in bulk and a description page before the VMM starts; a VM it cannot honour is refused before
/// anything starts, with a message naming the node.
final class VirtualMachineHandoffTests: SystemTestCase {
    func configuration(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/\(name).dts").path
    }

    /// The standard image: the Linux guest's kernel and initramfs are in it as modules, and the VMM gets
    /// 128 MiB of RAM in 8 mapPages calls of 4096 pages, read back with the rights handed over.
    func testTheStandardImageHandsTheVMMItsLinuxVM() throws {
        let guest = try LinuxGuest.prepare(in: SystemImages.repository) { print($0) }
        let kernelBytes = try FileManager.default.attributesOfItem(atPath: guest.kernel.path)[.size] as! Int
        let initrdBytes = try FileManager.default.attributesOfItem(atPath: guest.initramfs.path)[.size] as! Int
        // The standard guest ends in its shell: `poweroff` there ends the run.
        let result = try boot(.standard, input: ConsoleInput(steps: [.init(after: LinuxGuest.prompt, type: "poweroff\r", delay: 1, atPrompt: true)]))
        assertCleanBoot(result)
        assertLine(containing: "module linux: \(kernelBytes) bytes", in: result)
        assertLine(containing: "module initramfs: \(initrdBytes) bytes", in: result)
        assertLine(containing: "roottask: vmm: VM /tasks/vmm/vm@0: 128 MiB of guest RAM in 8 mapPages calls, kernel \(kernelBytes) bytes, initrd \(initrdBytes) bytes",
                   "RAM rwx, modules and description read-only", in: result)
        let timing = assertLine(containing: "roottask: vmm: VM handoff took ", in: result)
        let cost = assertLine(containing: "roottask: vmm: mapping them cost the root task's factory ", in: result)
        // The kernel memory the mapping really took never exceeds what mappingFrames says (which sizes the VMM's half).
        if let cost, let match = cost.firstMatch(of: /factory (\d+) frames \((\d+) by mappingFrames\)/) {
            XCTAssertLessThanOrEqual(Int(match.1)!, Int(match.2)!, cost)
            XCTAssertGreaterThan(Int(match.1)!, 0, cost)
        } else {
            XCTFail("no cost figures: \(cost ?? "")")
        }
        print("handoff (QEMU, TSC ticks): \(timing ?? "")")
        print("handoff kernel memory: \(cost ?? "")")
        XCTAssertFalse(result.console.contains("roottask: configuration error"))
    }

    func testAVMWhoseKernelModuleIsMissingIsRefusedNamingTheNode() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "vmm"], configuration: configuration("vm-missing-kernel")))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        assertLine(containing: "roottask: configuration error at /tasks/vmm/vm@0: its kernel module \"bzImage\" is not among the boot modules; nothing started",
                   in: result)
        XCTAssertFalse(result.console.contains("roottask: started"))
    }

    func testAVMWithMoreRAMThanThePoolHoldsIsRefusedNamingTheNode() throws {
        let result = try boot(ImageConfiguration(tasks: ["sigma0", "roottask", "vmm"], configuration: configuration("vm-too-much-memory")))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        let line = assertLine(containing: "roottask: configuration error at /tasks/vmm/vm@0: 1024 MiB of guest RAM and the tasks'",
                              "are more than the memory pool holds (", "MiB); nothing started", in: result)
        print("refusal: \(line ?? "")")
        XCTAssertFalse(result.console.contains("roottask: started"))
    }

    func testAVMWithOverlongBootargsIsRefusedNamingTheNode() throws {
        // 2048 bytes: one more than Linux's command line holds (written here: a dts line that long is unreadable).
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-vm-long-bootargs.dts")
        try """
            /dts-v1/;
            / { compatible = "swiftlet,system";
                tasks { vmm { module = "vmm"; vm@0 { kernel = "vmm"; memory-mib = <64>; bootargs = "\(String(repeating: "q", count: 2048))"; }; }; }; };
            """.write(to: source, atomically: true, encoding: .utf8)
        let result = try boot(ImageConfiguration(tasks: ["roottask", "vmm"], configuration: source.path))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        assertLine(containing: "roottask: configuration error at /tasks/vmm/vm@0: bootargs is 2048 bytes; at most 2047; nothing started", in: result)
        XCTAssertFalse(result.console.contains("roottask: started"))
    }
}
