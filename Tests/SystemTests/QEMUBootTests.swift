import SwiftletTools
import XCTest

/// The standard image on QEMU TCG with `-cpu max`: AMD SVM with nested paging, no VT-x.
final class QEMUBootTests: SystemTestCase {
    func testBootsAndPowersOff() throws {
        let result = try boot(on: .qemu)
        assertCleanBoot(result)
        assertLine(containing: "virt: SVM", "NPT yes", in: result)
        XCTAssertEqual(result.outcome.exitStatus, 0)
    }

    /// The yardstick `swiftlet bench` reads: with -icount the kernel reports its boot path length.
    func testDeterministicBootReportsKernelPathLength() throws {
        let result = try boot(on: .qemu, deterministic: true)
        assertCleanBoot(result)
        let count = DeterministicRun.instructionCount(in: result.console)
        XCTAssertNotNil(count, "no 'boot: kernel path <N> instructions' line")
        XCTAssertGreaterThan(count ?? 0, 0)
    }
}
