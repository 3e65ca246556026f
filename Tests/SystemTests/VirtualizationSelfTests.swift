import SwiftletTools
import XCTest

/// The first use of both backends: with `virt_selftest` the kernel runs a three-instruction real-mode
/// guest (CPUID, CPUID, HLT) under nested paging — SVM with NPT, or VMX with EPT and unrestricted guest —
/// and decodes its exits through the neutral layer.
final class VirtualizationSelfTests: SystemTestCase {
    let configuration = ImageConfiguration(commandLine: "virt_selftest", tasks: ["roottask"])

    func check(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "virt: SVM self-test PASS: real-mode guest exited 0x72, 0x72, 0x78 (2 CPUID, then HLT at RIP 0x1004)",
                   in: result, file: file, line: line)
    }

    func testSVMGuestOnQEMU() throws {
        check(try boot(configuration, deterministic: true))
    }

    func testSVMGuestOnBochsRyzen() throws {
        check(try boot(configuration, on: .bochs, cpu: "ryzen", deterministic: true))
    }

    func testVMXGuestOnBochsHaswell() throws {
        let result = try boot(configuration, on: .bochs, deterministic: true)
        assertCleanBoot(result)
        assertLine(containing: "virt: VMX self-test PASS: real-mode guest exited 10, 10, 12 (2 CPUID, then HLT at RIP 0x1004)",
                   in: result)
        assertLine(containing: "roottask: all done", in: result)
    }

    func testVMXGuestOnBochsSkylake() throws {
        let result = try boot(configuration, on: .bochs, cpu: "corei7_skylake_x", deterministic: true)
        assertCleanBoot(result)
        assertLine(containing: "virt: VMX self-test PASS", in: result)
    }
}
