import SwiftletTools
import XCTest

/// The standard image on Bochs, which emulates both VT-x (Intel models) and SVM (AMD models).
final class BochsBootTests: SystemTestCase {
    func testHaswellOffersVMXWithEPTAndVPID() throws {
        let result = try boot(on: .bochs, cpu: "corei7_haswell_4770")
        assertCleanBoot(result)
        assertLine(containing: "virt: VMX", "EPT yes", "VPID yes", "unrestricted guest yes", in: result)
    }

    func testRyzenOffersSVMWithNPTAndNRIPS() throws {
        let result = try boot(on: .bochs, cpu: "ryzen")
        assertCleanBoot(result)
        assertLine(containing: "virt: SVM", "NPT yes", "NRIPS yes", in: result)
    }

    /// Bochs with `clock: sync=none` is the project's instruction-count yardstick: the same image must
    /// report the same boot path length on every run.
    func testDeterministicBootPathLengthIsRepeatable() throws {
        let first = try boot(on: .bochs, deterministic: true)
        let second = try boot(on: .bochs, deterministic: true)
        assertCleanBoot(first)
        assertCleanBoot(second)
        let firstCount = DeterministicRun.instructionCount(in: first.console)
        XCTAssertNotNil(firstCount, "no 'boot: kernel path <N> instructions' line")
        XCTAssertEqual(firstCount, DeterministicRun.instructionCount(in: second.console))
    }
}
