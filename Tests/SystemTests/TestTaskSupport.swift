import Foundation
import SwiftletTools
import XCTest

/// Booting the native test tasks (Guests/IPCTest, AbuseTest, SchedTest) and judging their console: each
/// prints `<task>: PASS ...` or `<task>: FAIL ...` per check and reports its failure count to the root
/// task, which prints `[roottask] roottask: task N done, passed` or `FAILED` and powers off when all have reported.
extension SystemTestCase {
    /// Boots the root task and `tasks`.
    func bootTasks(_ tasks: [String], on emulator: Emulator = .qemu, cpu: String? = nil,
                   deterministic: Bool = false) throws -> RunResult
    {
        try boot(ImageConfiguration(tasks: ["roottask"] + tasks), on: emulator, cpu: cpu, deterministic: deterministic)
    }

    /// Every task in the image started, reported success with no failed check, and the system powered off cleanly.
    /// `startedWith`: how the root task's start line ends for a task given more than memory
    /// (") with ports 0x2f8+8 and IRQ 3: ok").
    func assertTasksPassed(_ tasks: [String], in result: RunResult, startedWith ending: String = "): ok",
                           file: StaticString = #filePath, line: UInt = #line) {
        for task in tasks {
            assertLine(containing: "roottask: started \(task) (", ending, in: result, file: file, line: line)
        }
        let failedChecks = result.consoleLines.filter { $0.contains(": FAIL ") }
        XCTAssertEqual(failedChecks, [], "checks failed", file: file, line: line)
        // Only the root task's own lines count: every task's output is tagged with its name.
        let passedTasks = lines(of: "roottask", in: result).filter { $0.hasPrefix("roottask: task ") && $0.contains(" done, passed") }
        XCTAssertEqual(passedTasks.count, tasks.count, "tasks reporting success: \(passedTasks)", file: file, line: line)
        XCTAssertFalse(result.console.contains(" done, FAILED"), "a task reported failures", file: file, line: line)
        assertLine(containing: "[roottask] roottask: all done (", "pages paged in on demand); powering off: all \(tasks.count) tasks passed",
                   in: result, file: file, line: line)
        assertCleanBoot(result, file: file, line: line)
    }

    /// The first capture group of `pattern` in any console line, as an integer.
    func integer(matching pattern: String, in result: RunResult, file: StaticString = #filePath, line: UInt = #line) -> Int? {
        guard let regex = try? Regex(pattern) else {
            XCTFail("bad pattern \(pattern)", file: file, line: line)
            return nil
        }
        for consoleLine in result.consoleLines {
            if let match = consoleLine.firstMatch(of: regex), match.count > 1,
               let captured = match[1].substring, let value = Int(captured)
            {
                return value
            }
        }
        XCTFail("no console line matches \(pattern)", file: file, line: line)
        return nil
    }
}
