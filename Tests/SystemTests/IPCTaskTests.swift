import SwiftletTools
import XCTest

/// The `ipctest` task: IPC inside one task between its main thread and an echo server thread — every
/// message length 0...64 by call and send, wait and reply-wait, badges, capability transfer, zero, relative
/// and infinite timeouts — and user faults delivered to an exception handler or, without one, stopping
/// the thread with a kernel report.
///
/// QEMU runs with -icount: without it, on a busy host, QEMU delivers late timer ticks in a burst, and a
/// timeout then seems to fire early when measured with the TSC.
final class IPCTaskTests: SystemTestCase {
    func checkIPCTest(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertTasksPassed(["ipctest"], in: result, file: file, line: line)
        assertLine(containing: "ipctest: PASS call: all 65 lengths 0...64 words round-trip", in: result, file: file, line: line)
        assertLine(containing: "ipctest: PASS send: all 65 lengths 0...64 words arrive intact", in: result, file: file, line: line)
        assertLine(containing: "ipctest: PASS the transferred endpoint is in slot", "rights masked to send", in: result,
                   file: file, line: line)
        assertLine(containing: "ipctest: PASS sender's endpoint capability without grant: transferFailed", in: result,
                   file: file, line: line)
        assertLine(containing: "ipctest: PASS relative timeouts (5 ms, 20 ms) never fire early", in: result, file: file, line: line)
        assertLine(containing: "ipctest: PASS infinite wait, woken by a send", in: result, file: file, line: line)
        assertLine(containing: "ipctest: PASS exception message received: label 0xffffffff0001, 6 words", in: result,
                   file: file, line: line)
        assertLine(containing: "ipctest: PASS #PF: vector 14", "CR2 0xdeadb000", in: result, file: file, line: line)
        assertLine(containing: "ipctest: PASS #GP: vector 13", in: result, file: file, line: line)
        assertLine(containing: "fault: thread 0x", "stopped: #UD invalid opcode (vector 6)", "no exception handler", in: result,
                   file: file, line: line)
        assertLine(containing: "ipctest: PASS the callee is stopped while the caller waits for its reply: aborted", in: result,
                   file: file, line: line)
    }

    func testIPCOnQEMU() throws {
        checkIPCTest(try bootTasks(["ipctest"], deterministic: true))
    }

    func testIPCOnBochsVMXModel() throws {
        checkIPCTest(try bootTasks(["ipctest"], on: .bochs))
    }
}
