import Foundation
import SwiftletTools
import XCTest

/// The root task removes a task it started (`restart-after-report`: after each report) and starts it
/// again from its module with the same configuration; each incarnation runs and reports, and the root
/// task's factory quota and the kernel's free frames are the same after every restart.
final class RestartTests: SystemTestCase {
    func configuration(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/\(name).dts").path
    }

    func testATaskIsRemovedAndRestartedFromItsModuleWithNothingLost() throws {
        try checkRestartsAfterReports(on: .qemu)
    }

    /// The same on Bochs (VT-x model), a few seconds.
    func testRestartsOnBochs() throws {
        try checkRestartsAfterReports(on: .bochs)
        try checkRestartsAfterFaults(on: .bochs)
    }

    private func checkRestartsAfterReports(on emulator: Emulator) throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "fputest"], configuration: configuration("restart")), on: emulator)
        assertCleanBoot(result)
        // Four incarnations, each started with its ports and IRQ and each running its checks to the end.
        let starts = lines(of: "roottask", in: result).filter { $0.hasPrefix("roottask: started fputest (") && $0.hasSuffix("with ports 0x2f8+8 and IRQ 3: ok") }
        XCTAssertEqual(starts.count, 4, "\(starts)")
        let passes = lines(of: "fputest", in: result).filter { $0.hasPrefix("fpu: PASS 500 switches each way") }
        XCTAssertEqual(passes.count, 4, "each incarnation reports: \(passes)")
        XCTAssertEqual(result.consoleLines.filter { $0.contains(": FAIL ") }, [])
        for incarnation in 1...3 {
            assertLine(containing: "roottask: task 1 done, passed (incarnation \(incarnation)); restarting it", in: result)
        }
        var removed: [[Int]] = [], started: [[Int]] = []
        for restart in 1...3 {
            assertLine(containing: "roottask: restart \(restart) of fputest (cause: it reported, restart-after-report): removed in ",
                       " us, started again in ", in: result)
            let removal = figures("restart \(restart) of fputest: removed: quota (\\d+), free frames (\\d+) \\(before its first start (\\d+), (\\d+)\\)", result)
            let start = figures("restart \(restart) of fputest: started: quota (\\d+), free frames (\\d+) \\(after its first start (\\d+), (\\d+)\\)", result)
            guard removal.count == 4, start.count == 4 else { continue }
            removed.append(removal)
            started.append(start)
            // After each start, the quota and free frames are exactly those after the first start.
            XCTAssertEqual(start[0], start[2], "quota after restart \(restart)")
            XCTAssertEqual(start[1], start[3], "free frames after restart \(restart)")
            // The removal gives the whole quota back (the kernel's mapping nodes keep the frames they grew to).
            XCTAssertEqual(removal[0], removal[2], "quota after removal \(restart)")
        }
        XCTAssertEqual(removed.count, 3)
        XCTAssertEqual(Set(removed.map { [$0[0], $0[1]] }).count, 1, "every removal leaves the same figures: \(removed)")
        XCTAssertFalse(result.console.contains("restart 4 of fputest"))
        assertLine(containing: "roottask: fputest restarted 3 times; factory quota and free frames after each start as after its first (",
                   ") and after each removal as after its first: yes", in: result)
        assertLine(containing: "roottask: task 1 done, passed (1/1)", in: result)
        assertLine(containing: "[roottask] roottask: all done (", "powering off: all 1 tasks passed", in: result)
    }

    /// A task that faults (past its paging budget) is removed and started again too, with the same
    /// budget in the same pages, until its restarts are used: then it is stopped as before.
    func testATaskThatFaultsIsRestartedUntilItsRestartsAreUsed() throws {
        try checkRestartsAfterFaults(on: .qemu)
    }

    private func checkRestartsAfterFaults(on emulator: Emulator) throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "pagertest"], configuration: configuration("restart-after-fault")), on: emulator)
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        let faults = lines(of: "roottask", in: result).filter { $0.hasPrefix("roottask: task 0 faulted at 0x100000110000") }
        XCTAssertEqual(faults.count, 3, "each incarnation faults at its 17th page: \(faults)")
        XCTAssertEqual(faults.filter { $0.hasSuffix("budget of 16 pages used; restarting it") }.count, 2, "\(faults)")
        XCTAssertTrue(faults.last?.hasSuffix("budget of 16 pages used; stopped") ?? false, "\(faults)")
        for restart in 1...2 {
            assertLine(containing: "roottask: restart \(restart) of greedy (cause: it faulted): removed in ", in: result)
            let start = figures("restart \(restart) of greedy: started: quota (\\d+), free frames (\\d+) \\(after its first start (\\d+), (\\d+)\\)", result)
            XCTAssertEqual(start.count, 4)
            if start.count == 4 { XCTAssertEqual([start[0], start[1]], [start[2], start[3]], "figures after restart \(restart)") }
        }
        XCTAssertFalse(result.console.contains("restart 3 of greedy"))
        assertLine(containing: "roottask: greedy restarted 2 times; ", "after each removal as after its first: yes", in: result)
        // Each incarnation paged its 16 pages in from the same budget: 48 in all, the pool no poorer.
        assertLine(containing: "roottask: 0 of 1 tasks passed: 1 failed", "(48 pages paged in on demand)", in: result)
    }

    /// What a task made from its own factory (rightstest makes an endpoint, which does not die with its
    /// task) goes with that factory: the root task restarts it, and the removal gives back the whole quota.
    func testWhatATaskMadeFromItsFactoryGoesWithItsRemoval() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "rightstest"], configuration: configuration("restart-leaves-object")))
        assertCleanBoot(result)
        XCTAssertEqual(lines(of: "rightstest", in: result).filter { $0.hasPrefix("rightstest: 8 checks, 8 passed, 0 failed") }.count, 2,
                       "both incarnations report")
        assertLine(containing: "roottask: restart 1 of rightstest (cause: it reported, restart-after-report): removed in ", in: result)
        let removal = figures("restart 1 of rightstest: removed: quota (\\d+), free frames (\\d+) \\(before its first start (\\d+), (\\d+)\\)", result)
        XCTAssertEqual(removal.count, 4)
        if removal.count == 4 { XCTAssertEqual(removal[0], removal[2], "the root task's quota after the removal, against before the first start") }
        XCTAssertFalse(result.console.contains("not restarted"))
        assertLine(containing: "roottask: rightstest restarted 1 times; ", in: result)
    }

    /// Supervision: a service (a driver's stand-in) killed on purpose every 100 ms (`--kill-every`) is restarted from its
    /// module each time, with the root task's figures the same after every start, while the task the run
    /// waits for runs on and reports.
    func testAKilledServiceIsRestartedEachTimeWithNothingLost() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "crashtest", "supervisiontest"], configuration: configuration("supervised"),
                                                 kills: [KillOverride(node: "driver", milliseconds: 100)]))
        assertCleanBoot(result)
        let kills = lines(of: "roottask", in: result).filter { $0.hasPrefix("roottask: killing task 1 (driver) on purpose (kill-every-ms)") }
        let restarts = lines(of: "roottask", in: result).filter {
            $0.hasPrefix("roottask: restart ") && $0.contains(" of driver (cause: killed on purpose (kill-every-ms)): removed in ")
        }
        XCTAssertGreaterThan(kills.count, 0, "the service was killed while its client ran")
        XCTAssertEqual(restarts.count, kills.count, "each kill was followed by a restart: \(restarts)")
        let ups = lines(of: "driver", in: result).filter { $0 == "crashtest: up, serving" }
        XCTAssertGreaterThanOrEqual(ups.count, kills.count, "each incarnation came up")
        var unchanged = true
        for restart in restarts.indices.map({ $0 + 1 }) {
            let start = figures("restart \(restart) of driver: started: quota (\\d+), free frames (\\d+) \\(after its first restart (\\d+), (\\d+)\\)", result)
            XCTAssertEqual(start.count, 4)
            unchanged = unchanged && start.count == 4 && [start[0], start[1]] == [start[2], start[3]]
            if start.count == 4 { XCTAssertEqual([start[0], start[1]], [start[2], start[3]], "figures after restart \(restart)") }
        }
        assertLine(containing: "supervisiontest: PASS ", " requests over 3000 ms, each answered right in the end (0 wrong, 0 unanswered); ", in: result)
        assertLine(containing: "[roottask] roottask: all done (", "powering off: all 1 tasks passed", in: result)
        XCTAssertFalse(result.console.contains("not restarted"))
        let summary = assertLine(containing: "roottask: driver restarted \(restarts.count) times; ", "after each removal as after its first: yes", in: result)
        if !kills.isEmpty, restarts.count == kills.count, unchanged, summary != nil { print("supervision: the service was killed \(kills.count) times and restarted each time, figures unchanged") }
    }

    /// A service that crashes (an exception, the root task its handler) is restarted until its restarts
    /// are used; then it stays stopped and the run's verdict counts it as failed.
    func testACrashingServiceIsRestartedThenCountedAsFailed() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "crashtest", "supervisiontest"], configuration: configuration("supervised-crash")))
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        let exceptions = lines(of: "roottask", in: result).filter { $0.hasPrefix("roottask: task 1 took exception 6 (error 0x0) at RIP ") }
        XCTAssertEqual(exceptions.count, 4, "four incarnations, each crashed: \(exceptions)")
        XCTAssertEqual(exceptions.filter { $0.hasSuffix("; restarting it") }.count, 3, "\(exceptions)")
        XCTAssertTrue(exceptions.last?.hasSuffix("; stopped") ?? false, "\(exceptions)")
        for restart in 1...3 {
            assertLine(containing: "roottask: restart \(restart) of driver (cause: an exception): removed in ", in: result)
        }
        XCTAssertFalse(result.console.contains("restart 4 of driver"))
        assertLine(containing: "roottask: service driver failed with no restart left; it stays stopped", in: result)
        assertLine(containing: "supervisiontest: PASS no service to call: waited 2000 ms", in: result)
        assertLine(containing: "roottask: 1 of 2 tasks passed: 1 failed, 0 did not report, 0 not started", in: result)
    }

    func testAnAbsurdRestartCountStopsTheBootNamingTheNode() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "fputest"], configuration: configuration("restart-too-often")))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        assertLine(containing: "roottask: configuration error at /tasks/fputest: restart-after-report must be one cell, 1 to 1000 restarts; nothing started",
                   in: result)
        XCTAssertFalse(result.console.contains("roottask: started"))
    }

    /// The integers of the first console line matching `pattern`'s groups.
    private func figures(_ pattern: String, _ result: RunResult) -> [Int] {
        guard let regex = try? Regex(pattern),
              let match = result.consoleLines.lazy.compactMap({ $0.firstMatch(of: regex) }).first else {
            XCTFail("no console line matches \(pattern)")
            return []
        }
        return (1..<match.count).compactMap { match[$0].substring.flatMap { Int($0) } }
    }
}
