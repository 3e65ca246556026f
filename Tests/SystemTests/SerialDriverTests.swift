import Foundation
import SwiftletTools
import XCTest

/// The serial driver task: the only holder of COM1's ports and interrupt, serving the console to the
/// other tasks (output tagged per client, interrupt-driven input to the reader).
final class SerialDriverTests: SystemTestCase {
    func testOutputOfSeveralClientsIsTaggedPerClient() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "pong", "ping"]))
        assertCleanBoot(result)
        assertLine(containing: "roottask: started serial", "with ports 0x3f8+8 and IRQ 4: ok", in: result)
        assertLine(containing: "[serial] console service on COM1", "interrupt bound: ok", in: result)
        assertLine(containing: "[ping] IPC round trip", "0 failures", in: result)
        assertLine(containing: "roottask: all done", in: result)
    }

    func testTypedInputReachesTheReadingClientByInterrupt() throws {
        checkTypedInput(on: .qemu)
    }

    /// Bochs's COM1 is a pseudo-terminal the runner writes into (Bochs `mode=term`), on both its CPU
    /// families: the default Haswell (VT-x) and Ryzen (SVM).
    func testTypedInputReachesTheReadingClientByInterruptOnBochs() throws {
        checkTypedInput(on: .bochs)
        checkTypedInput(on: .bochs, cpu: "ryzen")
    }

    /// A 120-byte line typed at once (a paste) while the driver sends 40 lines of output arrives whole: the
    /// driver takes what the receiver holds while it waits for the transmitter. Before, it read only on the
    /// receive interrupt, after the output; Bochs's 16-byte FIFO overran and the line lost all but its start.
    func testALineTypedWhileOutputGoesOutArrivesWholeOnBochs() throws {
        let typed = String(repeating: "0123456789", count: 12)
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "consoletest"]), on: .bochs,
                              input: ConsoleInput(after: "[consoletest] ready", type: typed + "\r"))
        assertCleanBoot(result)
        let busy = result.consoleLines.filter { $0.hasPrefix("[consoletest] output while you type") }.count
        XCTAssertEqual(busy, 40, "the output the line was typed into")
        if assertLine(containing: "[consoletest] you typed: \(typed) (120 bytes, then 0xd)", in: result) != nil {
            print("serial: a 120-byte line typed during 40 lines of output arrived whole on bochs")
        }
    }

    private func checkTypedInput(on emulator: Emulator, cpu: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let result: RunResult
        do {
            result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "consoletest"]), on: emulator, cpu: cpu,
                              input: ConsoleInput(after: "[consoletest] ready", type: "hello\u{03}swiftlet\r"))
        } catch {
            return XCTFail("\(error)", file: file, line: line)
        }
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "[consoletest] ready: type a line", in: result, file: file, line: line)
        // Ctrl-C arrives as a byte (shown as '?', the console prints no control bytes), not as a signal
        // that drops it, and the CR that ends the line as a CR.
        assertLine(containing: "[consoletest] you typed: hello?swiftlet (14 bytes, then 0xd)", in: result, file: file, line: line)
        assertLine(containing: "roottask: task", "done, passed", in: result, file: file, line: line)
        // The serial line echoes nothing back: the typed bytes show only as the task's report of them.
        XCTAssertNil(Data(result.console.utf8).range(of: Data("hello\u{03}".utf8)), "the typed bytes were echoed",
                     file: file, line: line)
    }

    func testTheDriverWorksOnBochs() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "pong", "ping"]), on: .bochs, deterministic: true)
        assertCleanBoot(result)
        assertLine(containing: "[serial] console service on COM1", "interrupt bound: ok", in: result)
        assertLine(containing: "[ping] IPC round trip", "0 failures", in: result)
    }

    /// Rights not given cannot be used: COM1's ports are the driver's (another task's access faults),
    /// interrupts need the controller, unmapped memory faults — each reported, nothing worse.
    func testPortsInterruptsAndMemoryNotGivenCannotBeUsed() throws {
        for emulator in [Emulator.qemu, .bochs] {
            let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "porttest"]), on: emulator, deterministic: true)
            assertCleanBoot(result)
            for fragment in ["COM1's data port is not this task's", "it cannot give itself ports it does not hold",
                             "an interrupt needs the interrupt controller", "faults with vector 13 (got 13)",
                             "faults with vector 14 (got 14)"] {
                assertLine(containing: "porttest: PASS", fragment, in: result)
            }
            assertLine(containing: "porttest: 0 failures", in: result)
        }
    }
}
