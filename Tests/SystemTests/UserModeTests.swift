import SwiftletABI
import SwiftletTools
import XCTest

/// Native tasks in user mode: the root task starting the others, the IPC ping-pong across address
/// spaces, and FPU/SSE/AVX state kept per thread, on both emulators.
final class UserModeTests: SystemTestCase {
    /// The standard image: the root task starts pong and ping, ping checks pong's answers and measures.
    func checkPingPong(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "roottask: running in user mode", in: result, file: file, line: line)
        assertLine(containing: "roottask: started pong", ": ok", in: result, file: file, line: line)
        assertLine(containing: "roottask: started ping", ": ok", in: result, file: file, line: line)
        assertLine(containing: "bench: ipc.roundtrip.instructions", in: result, file: file, line: line)
        XCTAssertFalse(result.console.contains("FAILED"), "a check failed", file: file, line: line)
        // Every task reports when done, except the serial driver, which serves until power-off.
        let started = result.consoleLines.filter {
            $0.contains("roottask: started") && !$0.contains("started serial") && $0.hasSuffix(": ok")
        }.count
        XCTAssertGreaterThanOrEqual(started, 2, file: file, line: line)
        XCTAssertEqual(result.consoleLines.filter { $0.contains("roottask: task") && $0.contains("done, passed") }.count, started,
                       "every task started reports success", file: file, line: line)
        assertLine(containing: "[roottask] roottask: all done (", "pages paged in on demand); powering off: all \(started) tasks passed",
                   in: result, file: file, line: line)
    }

    func testPingPongOnQEMU() throws {
        checkPingPong(try boot())
    }

    func testPingPongOnBochsVMXModel() throws {
        checkPingPong(try boot(on: .bochs, deterministic: true))
    }

    /// The fast path is deterministic: the same round-trip count on every run and on both emulators.
    func testRoundTripCountIsTheSameOnBothEmulators() throws {
        let bochs = try boot(on: .bochs, deterministic: true)
        let qemu = try boot(on: .qemu, deterministic: true)
        let metric = "ipc.roundtrip.instructions"
        let bochsValue = DeterministicRun.reportedMetrics(in: bochs.console).first { $0.name == metric }?.value
        let qemuValue = DeterministicRun.reportedMetrics(in: qemu.console).first { $0.name == metric }?.value
        XCTAssertNotNil(bochsValue)
        XCTAssertEqual(bochsValue, qemuValue)
    }

    func checkFPU(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "fpu: PASS", "0 corrupted values", in: result, file: file, line: line)
        assertLine(containing: "roottask: task", "done, passed", in: result, file: file, line: line)
    }

    func testVectorRegistersAreThreadStateLazily() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "fputest"]))
        checkFPU(result)
        assertLine(containing: "fpu: x87, SSE and AVX state per thread (XSAVE), switched lazily", in: result)
        assertLine(containing: "XMM3 and YMM5", in: result)
    }

    func testVectorRegistersAreThreadStateEagerlyOnBochsRyzen() throws {
        let result = try boot(ImageConfiguration(commandLine: "fpu=eager", tasks: ["roottask", "fputest"]),
                              on: .bochs, cpu: "ryzen", deterministic: true)
        checkFPU(result)
        assertLine(containing: "switched eagerly (fpu=eager)", in: result)
    }

    func testMissingRootTaskIsReportedAndTheSystemPowersOff() throws {
        let result = try boot(ImageConfiguration(tasks: []))
        assertRefusedBoot(result, reason: .taskNotStarted, status: 6)
        assertLine(containing: "roottask: not started: no boot module named 'roottask'", in: result)
    }

    func testCorruptRootTaskIsRejected() throws {
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-junk-roottask")
        try Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: junk)
        let result = try boot(ImageConfiguration(tasks: [], modules: [try BootModule(source: junk, name: "roottask")]))
        assertRefusedBoot(result, reason: .taskNotStarted, status: 6)
        assertLine(containing: "roottask: not started: not an ELF file", in: result)
    }
}
