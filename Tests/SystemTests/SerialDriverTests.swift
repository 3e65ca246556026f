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
        let result = try boot(ImageConfiguration(tasks: ["roottask", "serial", "consoletest"]),
                              input: ConsoleInput(after: "[consoletest] ready", type: "hello swiftlet\r"))
        assertCleanBoot(result)
        assertLine(containing: "[consoletest] ready: type a line", in: result)
        assertLine(containing: "[consoletest] you typed: hello swiftlet", in: result)
        assertLine(containing: "roottask: task", "done, passed", in: result)
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
