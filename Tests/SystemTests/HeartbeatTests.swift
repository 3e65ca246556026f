import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// The heartbeat (Guests/Heartbeat): a native periodic daemon. It prints one line per beat with how late
/// it woke, the root task stops it when every other task has reported, and it answers with a summary and
/// its report, which the root task counts.
final class HeartbeatTests: SystemTestCase {
    func configuration(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/\(name).dts").path
    }

    /// Beats every 20 ms while the native tasks run (memtest at the same priority for most of it).
    func testTheHeartbeatBeatsWithItsLatenessAndIsStoppedAtTheEnd() throws {
        let result = try boot(ImageConfiguration(configuration: configuration("heartbeat-fast")))
        assertCleanBoot(result)
        assertLine(containing: "roottask: started heartbeat (", "priority 100): ok", in: result)
        let beats = checkBeats(result, period: 20, tasks: 5)
        XCTAssertGreaterThanOrEqual(beats.count, 3, "beats while the other tasks ran")
        if let summary = lines(of: "heartbeat", in: result).last, beats.count >= 3 {
            print("heartbeat: \(beats.count) beats of 20 ms on QEMU beside the native tasks, lateness \(beats.map(\.late).min()!)-\(beats.map(\.late).max()!) us; \(summary)")
        }
    }

    /// The native image (a 2 s period, longer than its whole run): stopped, summarized, counted.
    func testTheNativeImageStopsItsHeartbeatAndCountsIt() throws {
        let result = try boot(.native)
        assertCleanBoot(result)
        checkBeats(result, period: 2000, tasks: 5)
    }

    func testABadPeriodStopsTheBootNamingTheNode() throws {
        let result = try boot(ImageConfiguration(configuration: configuration("heartbeat-bad-period")))
        assertRefusedBoot(result, reason: .configurationRejected, status: 5)
        assertLine(containing: "roottask: configuration error at /tasks/heartbeat: period-ms must be one cell, 1 to 3600000 milliseconds; nothing started",
                   in: result)
        XCTAssertFalse(result.console.contains("roottask: started"))
    }

    /// A daemon that never takes its stop (pong, serving an endpoint nobody calls) counts as a task that did
    /// not report; the other daemon is still stopped and counted.
    func testADaemonThatDoesNotAnswerCountsAsNotReporting() throws {
        let result = try boot(ImageConfiguration(configuration: configuration("daemon-silent")))
        assertRefusedBoot(result, reason: .tasksFailed, status: 7)
        assertLine(containing: "[roottask] roottask: daemon pong did not take its stop: timeout", in: result)
        assertLine(containing: "[roottask] roottask: 1 daemons did not report: timeout", in: result)
        assertLine(containing: "[heartbeat] heartbeat: ", " beats in ", in: result)
        assertLine(containing: "[roottask] roottask: task 2 done, passed (1/2)", in: result)
        assertLine(containing: "[roottask] roottask: 1 of 2 tasks passed: 0 failed, 1 did not report, 0 not started", in: result)
    }
}

/// The heartbeat's lines, for every test whose image runs it (the Linux guest's tests too).
extension SystemTestCase {
    struct Beat: Equatable {
        var number: Int, atMilliseconds: Int, late: Int, worst: Int
    }

    /// The beat lines, in order: `heartbeat N at S.mmm s: L us late (worst W us)` (also those drawn over
    /// the raw stream's partial line: RunResult.consoleLines shows them as the terminal does).
    func heartbeats(in lines: [String]) -> [Beat] {
        lines.compactMap { line in
            // Not anchored at the start: a kernel line that breaks into the driver's line between its check and
            // its next byte leaves that one byte before the line the driver then sends again whole.
            guard let match = line.firstMatch(of: /\[heartbeat\] heartbeat (\d+) at (\d+)\.(\d{3}) s: (\d+) us late \(worst (\d+) us\)$/),
                  let number = Int(match.1), let seconds = Int(match.2), let thousandths = Int(match.3),
                  let late = Int(match.4), let worst = Int(match.5) else { return nil }
            return Beat(number: number, atMilliseconds: seconds * 1000 + thousandths, late: late, worst: worst)
        }
    }

    /// The beats are numbered from 1 at the period's multiples, each worst the running maximum, and the
    /// summary, after the root task's stop, counts them with their worst and mean lateness; the root task
    /// counts the heartbeat passed. Returns the beats.
    @discardableResult
    func checkBeats(_ result: RunResult, period: Int, tasks: Int, file: StaticString = #filePath, line: UInt = #line) -> [Beat] {
        let lines = result.consoleLines
        let beats = heartbeats(in: lines)
        var worst = 0
        for (index, beat) in beats.enumerated() {
            worst = max(worst, beat.late)
            XCTAssertEqual(beat, Beat(number: index + 1, atMilliseconds: (index + 1) * period, late: beat.late, worst: worst),
                           "beat \(index + 1)", file: file, line: line)
        }
        XCTAssertFalse(lines.contains { $0.hasPrefix("[heartbeat] ") && $0.contains("FAILED") }, "the heartbeat failed", file: file, line: line)
        let stop = lines.firstIndex { $0 == "[roottask] roottask: every other task reported; stopping daemon heartbeat" }
        let summary = lines.firstIndex { $0.hasPrefix("[heartbeat] heartbeat: ") && $0.contains(" beats in ") }
        guard let stop, let summary else {
            XCTFail("no stop (\(stop as Any)) or no summary (\(summary as Any))", file: file, line: line)
            return beats
        }
        XCTAssertLessThan(stop, summary, "the summary answers the stop", file: file, line: line)
        XCTAssertFalse(lines[(summary + 1)...].contains { $0.hasPrefix("[heartbeat] heartbeat ") }, "a beat after the summary", file: file, line: line)
        let total = beats.reduce(0) { $0 + $1.late }
        if let figures = lines[summary].firstMatch(of: /heartbeat: (\d+) beats in (\d+)\.(\d) s, worst (\d+) us late, mean (\d+) us$/) {
            XCTAssertEqual(Int(figures.1), beats.count, "beats in the summary", file: file, line: line)
            XCTAssertEqual(Int(figures.4), worst, "worst in the summary", file: file, line: line)
            XCTAssertEqual(Int(figures.5), beats.isEmpty ? 0 : total / beats.count, "mean in the summary", file: file, line: line)
            let tenths = (Int(figures.2) ?? 0) * 10 + (Int(figures.3) ?? 0)
            XCTAssertGreaterThanOrEqual(tenths, beats.count * period / 100, "the time covers the beats", file: file, line: line)
        } else {
            XCTFail("summary: \(lines[summary])", file: file, line: line)
        }
        if let done = lines.firstIndex(where: { $0.hasPrefix("[roottask] roottask: task ") && $0.contains(" done, passed (\(tasks)/\(tasks))") }) {
            XCTAssertLessThan(summary, done, "the heartbeat reports last", file: file, line: line)
        } else {
            XCTFail("the heartbeat's report is not the last", file: file, line: line)
        }
        assertLine(containing: "[roottask] roottask: all done (", "powering off: all \(tasks) tasks passed", in: result, file: file, line: line)
        return beats
    }
}
