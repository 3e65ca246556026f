import SwiftletTools
import XCTest

/// The `schedtest` task: a periodic priority-100 thread beside a spinning priority-20 thread wakes within
/// one timeslice (10 ticks of 1 ms) of its requested time, equal priorities share the CPU round-robin,
/// and a 100 µs timeout ends after about 100 µs, not at a tick.
/// Deterministic runs: the measured times are then the guest's own, whatever the host's load.
final class SchedulingTaskTests: SystemTestCase {
    static let timesliceMicroseconds = 10_000

    func checkSchedTest(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertTasksPassed(["schedtest"], in: result, file: file, line: line)
        let lateness = integer(matching: #"^\[schedtest\] sched: max lateness (-?\d+) us"#, in: result, file: file, line: line)
        XCTAssertLessThan(lateness ?? Int.max, Self.timesliceMicroseconds, "max lateness beside the spinner",
                          file: file, line: line)
        assertLine(containing: "schedtest: PASS the low-priority thread spun while the high-priority thread slept", in: result,
                   file: file, line: line)
        assertLine(containing: "schedtest: PASS round robin: each ran in several slices", in: result, file: file, line: line)
        // Sub-millisecond timeouts: a 100 µs wait is not rounded to the 1 ms tick.
        assertLine(containing: "schedtest: PASS 100 us waits: none ended before 100 us", in: result, file: file, line: line)
        assertLine(containing: "schedtest: PASS 100 us waits: the shortest took", in: result, file: file, line: line)
    }

    func testPeriodicThreadBesideSpinnerOnQEMU() throws {
        checkSchedTest(try bootTasks(["schedtest"], deterministic: true))
    }

    func testPeriodicThreadBesideSpinnerOnBochsVMXModel() throws {
        checkSchedTest(try bootTasks(["schedtest"], on: .bochs, deterministic: true))
    }
}
