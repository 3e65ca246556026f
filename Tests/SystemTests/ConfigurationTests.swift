import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// The system configuration (device tree, read by the root task): it decides what starts with which
/// rights, and a malformed one stops the boot with a message naming the node.
final class ConfigurationTests: SystemTestCase {
    func configuration(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/\(name).dts").path
    }

    func testTheStandardConfigurationStartsItsTasksWithTheirRights() throws {
        let result = try boot()
        assertCleanBoot(result)
        assertLine(containing: "module config:", "flattened device tree", in: result)
        assertLine(containing: "roottask: configuration: 6 tasks", in: result)
        assertLine(containing: "roottask: started vmm", "priority 90", in: result)
        assertLine(containing: "roottask: started serial", "with ports 0x3f8+8 and IRQ 4: ok", in: result)
        assertLine(containing: "[ping] IPC round trip", in: result)
    }

    func testAnotherConfigurationGivesOtherPriorities() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "pong", "ping"],
                                                 configuration: configuration("two-consoles")))
        assertCleanBoot(result)
        assertLine(containing: "roottask: configuration: 3 tasks", in: result)
        assertLine(containing: "roottask: started ping", "priority 120", in: result)
        XCTAssertFalse(result.console.contains("started memtest"))
    }

    func testABadPriorityStopsTheBootNamingTheNode() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "pong", "ping"], configuration: configuration("bad-priority")))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        assertLine(containing: "roottask: configuration error at /tasks/ping: priority must be one cell, at most 200; nothing started",
                   in: result)
        XCTAssertFalse(result.console.contains("roottask: started"))
    }

    func testAMissingModuleStopsTheBootNamingTheNode() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask"], configuration: configuration("missing-module")))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        assertLine(containing: "roottask: configuration error at /tasks/network: its module is not among the boot modules", in: result)
    }

    /// Each task pages from its own budget (`memory-pages`): a task that touches more is stopped with the
    /// real cause, and the next task still gets all the pages it asks for.
    func testAPagingBudgetStopsOnlyTheTaskThatExceedsIt() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "pagertest"], configuration: configuration("paging-budget")))
        // The greedy task was stopped, so the run does not count as passed (status 7).
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        assertLine(containing: "roottask: configuration: 2 tasks", in: result)
        // greedy is task 0: its 17th page is past its budget (the first page past the heap is 0x100000100000).
        assertLine(containing: "roottask: task 0 faulted at 0x100000110000", "budget of 16 pages used; stopped", in: result)
        XCTAssertFalse(result.console.contains("outside what it may have"), "the cause is the budget")
        assertLine(containing: "pagertest: PASS 2048 pages paged in on demand, 2048 read back intact", in: result)
        assertLine(containing: "roottask: task 1 done, passed", in: result)
        XCTAssertFalse(result.console.contains(" done, FAILED"))
        assertLine(containing: "roottask: 1 of 2 tasks passed: 1 failed, 0 did not report, 0 not started (2064 pages paged in on demand); powering off",
                   in: result)
    }

    func testSourceDtcCannotReadIsABuildError() throws {
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-broken.dts")
        try "/dts-v1/;\n/ { tasks { ping { module = \"ping\" } };\n".write(to: broken, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SystemImages.image(ImageConfiguration(tasks: ["roottask"], configuration: broken.path))) { error in
            XCTAssertTrue("\(error)".contains("dtc"), "the error names the tool: \(error)")
        }
    }
}
