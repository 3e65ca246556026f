import SwiftletTools
import XCTest

/// `crash=...` on the command line makes the kernel fault on purpose after boot; the panic report must
/// name the exception and the machine state, and the run must end as a panic (exit status 3).
final class PanicTests: SystemTestCase {
    func testPageFaultPanicReportsFaultAddress() throws {
        let result = try boot(ImageConfiguration(commandLine: "crash=pagefault"))
        assertLine(containing: ConsoleMarkers.panic, in: result)
        assertLine(containing: "#PF", in: result)
        assertLine(containing: "CR2=", in: result)
        assertLine(containing: "RIP=", in: result)
        assertLine(containing: ConsoleMarkers.halted, in: result)
        assertOutcome(.panicked, of: result)
        XCTAssertEqual(result.outcome.exitStatus, 3)
    }

    func testInvalidOpcodePanic() throws {
        let result = try boot(ImageConfiguration(commandLine: "crash=ud"))
        assertLine(containing: ConsoleMarkers.panic, in: result)
        assertLine(containing: "#UD", in: result)
        assertLine(containing: "RIP=", in: result)
        assertOutcome(.panicked, of: result)
    }
}
