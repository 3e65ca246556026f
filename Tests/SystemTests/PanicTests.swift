import SwiftletTools
import XCTest

/// `crash=...` on the command line makes the kernel fault on purpose after boot; the panic report must
/// name the exception and the machine state, and the run must end as a panic (exit status 3).
final class PanicTests: SystemTestCase {
    /// Boots with `crash=kind` and checks the report: its first line names the exception and vector in
    /// kernel mode, the error code and every register line follow, the CPU halts, and the status is 3.
    @discardableResult
    func checkPanic(_ kind: String, firstLine: String, file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let result = try boot(ImageConfiguration(commandLine: "crash=\(kind)"))
        assertLine(containing: "kernel: crash=", "requested", in: result, file: file, line: line)
        let reports = result.verdictLines.filter { $0.hasPrefix(ConsoleMarkers.panic) }
        XCTAssertEqual(reports, ["\(ConsoleMarkers.panic): \(firstLine)"], "the report's first line", file: file, line: line)
        assertLine(containing: "  error code 0x", in: result, file: file, line: line)
        for registers in [["RIP=", "CS=", "RFLAGS="], ["RSP=", "SS=", "CR2=", "CR3="], ["RAX=", "RBX=", "RCX="],
                          ["RDX=", "RSI=", "RDI="], ["RBP=", "R8=", "R9="], ["R10=", "R11=", "R12="], ["R13=", "R14=", "R15="]] {
            let found = result.consoleLines.first { candidate in candidate.hasPrefix("  ") && registers.allSatisfy(candidate.contains) }
            XCTAssertNotNil(found, "no register line with \(registers)", file: file, line: line)
        }
        XCTAssertTrue(result.verdictLines.contains(ConsoleMarkers.halted), "the CPU halted", file: file, line: line)
        XCTAssertFalse(result.consoleLines.contains { $0.hasPrefix(ConsoleMarkers.poweringOff) }, file: file, line: line)
        assertOutcome(.panicked, of: result, file: file, line: line)
        XCTAssertEqual(result.outcome.exitStatus, 3, file: file, line: line)
        return result
    }

    func testPageFaultPanicReportsFaultAddress() throws {
        let result = try checkPanic("pagefault", firstLine: "#PF page fault (vector 14) in kernel mode")
        assertLine(containing: "  error code 0x", "not present, write, supervisor", in: result)
        assertLine(containing: "CR2=0x00000000deadb000", in: result)
    }

    func testInvalidOpcodePanic() throws {
        try checkPanic("ud", firstLine: "#UD invalid opcode (vector 6) in kernel mode")
    }

    func testGeneralProtectionPanic() throws {
        try checkPanic("gp", firstLine: "#GP general protection (vector 13) in kernel mode")
    }

    func testDivideErrorPanic() throws {
        try checkPanic("de", firstLine: "#DE divide error (vector 0) in kernel mode")
    }

    /// A kernel stack overflow runs into the guard page; the #PF cannot push there, so it escalates to #DF,
    /// taken on its own stack, and the report says what happened.
    func testKernelStackOverflowIsReportedAsDoubleFault() throws {
        let result = try checkPanic("stack", firstLine: "#DF double fault (vector 8) in kernel mode")
        assertLine(containing: "the fault address is in the guard page below the kernel stack: kernel stack overflow", in: result)
    }
}
