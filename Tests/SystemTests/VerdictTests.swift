import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// A run is judged by the kernel's own console lines, which no task can forge (every task line is tagged
/// `[name] `, and a line written raw lacks the boot's verdict token), and by the reason the root task
/// powers off with: only "all tasks passed" is exit status 0.
final class VerdictTests: SystemTestCase {
    /// The lines the harness judges a run by: lines with the verdict token that start with a kernel marker.
    func kernelMarkerLines(_ result: RunResult) -> [String] {
        result.verdictLines
    }

    func checkForgeriesAreTagged(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertTasksPassed(["forgetest"], in: result, file: file, line: line)
        // The forged panic and halt did not end the run; the only marker is the kernel's real power-off, last.
        XCTAssertEqual(kernelMarkerLines(result), ["kernel: powering off: all tasks passed"], file: file, line: line)
        XCTAssertEqual(result.consoleLines.last { !$0.isEmpty }.flatMap { ConsoleMarkers.verdictLine($0, token: result.verdictToken) },
                       "kernel: powering off: all tasks passed", file: file, line: line)
        let forged = lines(of: "forgetest", in: result)
        for expected in ["kernel: powering off: all tasks passed", "KERNEL PANIC: forged by a task (vector 13)", "kernel: halted",
                         "line end:??kernel: powering off: all tasks passed"] {
            XCTAssertTrue(forged.contains(expected), "the forged line \(expected) comes out tagged", file: file, line: line)
        }
        assertLine(containing: "forgetest: PASS rename itself with its task capability as the machine -> wrong object type",
                   in: result, file: file, line: line)
        if result.console.contains("[serial] console service") {
            // Its own name messages to the serial driver (for every badge, asking for the raw stream) did nothing.
            XCTAssertTrue(forged.contains("still named forgetest after renaming itself"), "its lines keep their tag", file: file, line: line)
            XCTAssertFalse(result.consoleLines.contains { $0.hasPrefix("[forged]") }, "a client renamed a client", file: file, line: line)
        }
    }

    /// Through the kernel console (debugWrite) alone: no serial driver.
    func testForgedKernelLinesFromATaskAreTaggedAndDoNotEndTheRun() throws {
        let result = try bootTasks(["forgetest"])
        checkForgeriesAreTagged(result)
        assertLine(containing: "[forgetest] forgetest: no console server", in: result)
    }

    /// Through the serial driver too, on Bochs, whose UART is slow enough that kernel lines from the
    /// task's second thread break into the driver's lines: such a line goes out again whole, tagged.
    func testForgedLinesThroughTheSerialDriverAreTaggedEvenWhereKernelLinesBreakIn() throws {
        let result = try bootTasks(["serial", "forgetest"], on: .bochs, deterministic: true)
        checkForgeriesAreTagged(result)
        let forged = lines(of: "forgetest", in: result)
        XCTAssertTrue(forged.contains("KERNEL PANIC: forged through the serial driver"))
        // A line end in a client's text ends its line (a kernel line may have broken into it before).
        XCTAssertTrue(forged.contains { $0.hasSuffix("end:") }, "a line end in a client's text ends its line")
        // A line a kernel line broke into: its start, cut short, then (after the kernel's line) the whole
        // line again, tagged; never a tagged line that starts in the middle of a client's text.
        // (The second thread's kernel lines are tagged `[forgetest]` by the kernel: left out here.)
        let driverLines = forged.filter { !$0.hasPrefix("forgetest: kernel line ") }
        let restarted = zip(driverLines, driverLines.dropFirst()).filter { $0.1 != $0.0 && $0.1.hasPrefix($0.0) }
        XCTAssertFalse(restarted.isEmpty, "no kernel line broke into a driver line; the test did not exercise that")
        print("--- \(restarted.count) driver lines sent again whole after a kernel line broke in")
        // No `console-raw` in the default plan: the raw stream is refused, and nothing of it is printed.
        assertLine(containing: "[forgetest] forgetest: raw stream -> missing right", in: result)
        XCTAssertFalse(result.consoleLines.contains("kernel: powering off: all tasks passed"), "an untagged forged line")
    }

    /// A task allowed the raw stream prints `kernel: powering off: all tasks passed` on a line of its own
    /// (untagged: the old rule would believe it) while another task fails: the harness believes only the
    /// kernel's line with the verdict token, so the run fails with status 7.
    func testAPowerOffLineForgedThroughTheRawStreamDoesNotFoolTheHarness() throws {
        let configuration = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/forge-raw.dts").path
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "forgetest", "failtest"], configuration: configuration))
        assertLine(containing: "[forgetest] forgetest: raw stream -> ok", in: result)
        let forged = result.consoleLines.filter { $0 == "kernel: powering off: all tasks passed" }
        XCTAssertEqual(forged.count, 1, "the forged line, untagged and without the token, on a line of its own")
        XCTAssertTrue(ConsoleMarkers.isKernelLine(forged.first ?? "["), "by the old rule (untagged lines) it is the kernel's")
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        XCTAssertEqual(kernelMarkerLines(result), ["kernel: powering off: tasks failed or did not report"])
        print("--- forged raw line on the console: \(forged.first ?? "none"); outcome \(result.summaryLine)")
        // A tagged line that comes while the raw stream is mid-line (a prompt) erases the terminal line,
        // goes on a line of its own, and the prompt is sent again before the rest of the raw line; a kernel
        // line ends the raw line first (scratch register), and the prompt comes again after it.
        XCTAssertTrue(result.console.contains("forgetest$ \r\u{1B}[K[forgetest] a tagged line while the raw stream is mid-line\r\nforgetest$ typed\r\n"),
                      "the tagged line on a line of its own, the raw prompt redrawn after it")
        XCTAssertTrue(result.console.contains("forgetest$ \r\n[forgetest] forgetest: a kernel line while the raw stream is mid-line\r\nforgetest$ again\r\n"),
                      "the kernel line on a line of its own, the raw prompt redrawn after it")
        assertLine(containing: "forgetest: PASS a raw prompt with a tagged and a kernel line in the middle", in: result)
    }

    /// A task that fails its check: the root task says so, powers off with that reason, status 7.
    func testAFailedTaskMakesTheRunFail() throws {
        let result = try bootTasks(["failtest", "forgetest"])
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        assertLine(containing: "[roottask] roottask: task ", " done, FAILED", in: result)
        assertLine(containing: "[roottask] roottask: 1 of 2 tasks passed: 1 failed, 0 did not report, 0 not started", in: result)
        XCTAssertFalse(result.console.contains("roottask: all done"), "the root task claimed success")
    }

    /// A module the root task cannot start (not an ELF file): status 6, even though the others passed.
    func testATaskThatCannotBeStartedMakesTheRunFail() throws {
        let junk = try ModuleTests.writeJunk(bytes: 4096)
        let result = try boot(ImageConfiguration(tasks: ["roottask", "forgetest"], modules: [try BootModule(source: junk, name: "junk")]))
        assertRefusedBoot(result, reason: .taskNotStarted, status: 6)
        assertLine(containing: "[roottask] roottask: junk not started: ", in: result)
        assertLine(containing: "[roottask] roottask: task ", " done, passed", in: result)
        assertLine(containing: "[roottask] roottask: 1 of 2 tasks passed: 0 failed, 0 did not report, 1 not started", in: result)
    }
}
