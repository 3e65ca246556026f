import SwiftletTools
import XCTest

/// The first use of the SVM backend: with `virt_selftest` the kernel runs a three-instruction real-mode
/// guest under nested paging and decodes its exits through the neutral layer (CPUID, CPUID, HLT).
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

    /// On a VMX model the SVM test has nothing to run on, and says so.
    func testVMXModelSkipsTheSVMTest() throws {
        let result = try boot(configuration, on: .bochs, deterministic: true)
        assertCleanBoot(result)
        assertLine(containing: "virt: self-test skipped (no usable SVM with nested paging)", in: result)
    }
}
