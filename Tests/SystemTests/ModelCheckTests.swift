import Foundation
@testable import SwiftletTools
import XCTest

/// The Promela models (Kernel/Core/IPC/IPC.pml, Kernel/Core/Memory/MappingDatabase.pml) checked with Spin:
/// every property over the whole bounded state space, and a broken variant of each model caught.
final class ModelCheckTests: XCTestCase {
    let repository = try! Repository.locate(from: URL(fileURLWithPath: #filePath))

    func verify(_ model: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let checks = ModelCheck.all.filter { $0.model == model }
        XCTAssertFalse(checks.isEmpty, file: file, line: line)
        for check in checks {
            let result = try check.run(in: repository)
            XCTAssertEqual(result.errors, 0, "\(check.name): \(result.violation ?? "no report")\n\(result.output)", file: file, line: line)
            XCTAssertTrue(result.complete, "\(check.name): the search did not complete\n\(result.output)", file: file, line: line)
            if result.verified {
                print("spin verified \(check.name): \(check.properties): \(result.figures), 0 errors")
            }
        }
    }

    func testTheIPCModelVerifies() throws {
        try verify(ModelCheck.ipcModel)
    }

    func testTheMappingDatabaseModelVerifies() throws {
        try verify(ModelCheck.mappingModel)
    }

    /// A model that cannot fail proves nothing: one broken variant of each (`swiftlet check-models --broken`
    /// runs them all) must be caught.
    func testABrokenVariantOfEachModelIsCaught() throws {
        for bug in ["BUG_DETACH_CLEARS_ANY_CALLER", "BUG_REVOKE_ONE_LEVEL"] {
            let check = try XCTUnwrap(ModelCheck.brokenVariants.first { $0.defines == [bug] })
            let result = try check.run(in: repository)
            XCTAssertGreaterThan(result.errors ?? 0, 0, "\(check.name) was not caught\n\(result.output)")
            if let violation = result.violation, (result.errors ?? 0) > 0 {
                print("spin caught \(check.name) (\(check.properties)): \(violation), depth \(result.depth ?? 0)")
            }
        }
    }

    /// The verdict is read from pan's report: a search cut short is no proof even with 0 errors.
    func testPanReportsAreRead() {
        let complete = ModelCheckResult(output: """
            State-vector 116 byte, depth reached 325, errors: 0
              4480627 states, stored
            pan: elapsed time 18.9 seconds
            """)
        XCTAssertEqual(complete.errors, 0)
        XCTAssertEqual(complete.statesStored, 4_480_627)
        XCTAssertEqual(complete.depth, 325)
        XCTAssertEqual(complete.seconds, 18.9)
        XCTAssertTrue(complete.verified)
        let cut = ModelCheckResult(output: "error: max search depth too small\nWarning: Search not completed\n"
                                   + "State-vector 64 byte, depth reached 99999, errors: 0\n")
        XCTAssertFalse(cut.verified)
        let failed = ModelCheckResult(output: "pan:1: assertion violated  !(lost) (at depth 64)\nWarning: Search not completed\n"
                                      + "State-vector 116 byte, depth reached 313, errors: 1\n")
        XCTAssertEqual(failed.errors, 1)
        XCTAssertEqual(failed.violation, "pan:1: assertion violated  !(lost) (at depth 64)")
        XCTAssertFalse(ModelCheckResult(output: "spin: IPC.pml:90, Error: syntax error").verified)
    }
}
