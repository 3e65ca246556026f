import SwiftletTools
import XCTest

/// sigma0, the root pager: the RAM the kernel does not keep and the device memory, each frame handed out
/// once; the root task's memory and page faults come from it.
final class Sigma0Tests: SystemTestCase {
    func check(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "sigma0: ", "owns", "MiB) of RAM", in: result, file: file, line: line)
        // What the native plan needs (its tasks' heaps and budgets, the heartbeat's among them), in 2 MiB steps.
        assertLine(containing: "roottask: 4608 pages of memory from sigma0; device page 0xb8000 given once: yes, a second request was refused",
                   in: result, file: file, line: line)
        assertLine(containing: "roottask: a page fault at 0x6f0000000000 was answered by sigma0 (read back 0x600d)",
                   in: result, file: file, line: line)
        assertLine(containing: "roottask: all done", in: result, file: file, line: line)
    }

    func testTheStandardSystemGetsItsMemoryFromSigma0OnQEMU() throws {
        check(try boot())
    }

    func testTheStandardSystemGetsItsMemoryFromSigma0OnBochsRyzen() throws {
        check(try boot(on: .bochs, cpu: "ryzen", deterministic: true))
    }
}
