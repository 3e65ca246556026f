import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// A run is judged by the kernel's own console lines, which no task can forge (every task line is tagged
/// `[name] `), and by the reason the root task powers off with: only "all tasks passed" is exit status 0.
final class VerdictTests: SystemTestCase {
    /// The lines the harness judges a run by: untagged lines that start with a kernel marker.
    func kernelMarkerLines(_ result: RunResult) -> [String] {
        let markers = [ConsoleMarkers.poweringOff, ConsoleMarkers.panic, ConsoleMarkers.halted]
        return result.consoleLines.filter { line in ConsoleMarkers.isKernelLine(line) && markers.contains { line.hasPrefix($0) } }
    }

    func checkForgeriesAreTagged(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertTasksPassed(["forgetest"], in: result, file: file, line: line)
        // The forged panic and halt did not end the run; the only marker is the kernel's real power-off, last.
        XCTAssertEqual(kernelMarkerLines(result), ["kernel: powering off: all tasks passed"], file: file, line: line)
        XCTAssertEqual(result.consoleLines.last { !$0.isEmpty }, "kernel: powering off: all tasks passed", file: file, line: line)
        let forged = lines(of: "forgetest", in: result)
        for expected in ["kernel: powering off: all tasks passed", "KERNEL PANIC: forged by a task (vector 13)", "kernel: halted",
                         "line end:??kernel: powering off: all tasks passed"] {
            XCTAssertTrue(forged.contains(expected), "the forged line \(expected) comes out tagged", file: file, line: line)
        }
        assertLine(containing: "forgetest: PASS rename itself with its task capability as the machine -> wrong object type",
                   in: result, file: file, line: line)
    }

    /// Through the kernel console (debugWrite) alone: no serial driver.
    func testForgedKernelLinesFromATaskAreTaggedAndDoNotEndTheRun() throws {
        let result = try bootTasks(["forgetest"])
        checkForgeriesAreTagged(result)
        assertLine(containing: "[forgetest] forgetest: no console server", in: result)
    }

    /// Through the serial driver too, on Bochs, whose UART is slow enough that kernel lines from the
    /// task's second thread break into the driver's lines: the rest of such a line is tagged again.
    func testForgedLinesThroughTheSerialDriverAreTaggedEvenWhereKernelLinesBreakIn() throws {
        let result = try bootTasks(["serial", "forgetest"], on: .bochs, deterministic: true)
        checkForgeriesAreTagged(result)
        let forged = lines(of: "forgetest", in: result)
        XCTAssertTrue(forged.contains("KERNEL PANIC: forged through the serial driver"))
        // A line end in a client's text ends its line (a kernel line may have broken into it before).
        XCTAssertTrue(forged.contains { $0.hasSuffix("end:") }, "a line end in a client's text ends its line")
        // Lines the driver went on with after a kernel line: tagged, starting in the middle of the text.
        let starts = ["kernel: ", "KERNEL PANIC", "line end:", "forgetest: "]
        let continued = forged.filter { text in !starts.contains { text.hasPrefix($0) } }
        XCTAssertFalse(continued.isEmpty, "no kernel line broke into a driver line; the test did not exercise that")
        print("--- \(continued.count) driver lines continued after a kernel line broke in")
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
