import SwiftletABI
import SwiftletUser

/// A task that tries to forge the lines the system is judged by: `kernel: powering off: ...`,
/// `KERNEL PANIC` and `kernel: halted`, through the kernel console and through the serial driver, with
/// embedded line ends, and in long driver lines that kernel lines break into. Every one must come out
/// tagged `[forgetest] ...`, so the run still ends with the kernel's own power-off (the system tests
/// judge that). It also checks that it cannot rename itself: naming takes the machine capability.
enum Forge {
    static let poweringOff: StaticString = "kernel: powering off: all tasks passed"
    static let helperSlot: UInt64 = 16
    static let kernelLines = 12
    static let longLines = 24
}

@_cdecl("task_main")
func forgeTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("forgetest")
    // Straight to the kernel console (debugWrite).
    log("\(Forge.poweringOff)")
    log("KERNEL PANIC: forged by a task (vector 13)")
    log("kernel: halted")
    var embedded: LogLine = "line end:"
    embedded.append(UInt8(ascii: "\r"))
    embedded.append(UInt8(ascii: "\n"))
    embedded.append(Forge.poweringOff)
    log(embedded)

    let name = ByteString(UnsafeRawBufferPointer(start: UnsafeRawPointer(Forge.poweringOff.utf8Start), count: 6))
    checks.expect(SystemCall.nameTask(RootTaskLayout.taskSlot, RootTaskLayout.taskSlot, name), .wrongObjectType,
                  "rename itself with its task capability as the machine")
    checks.expect(SystemCall.nameTask(Report.reportSlot, RootTaskLayout.taskSlot, name), .wrongObjectType,
                  "rename itself with the report endpoint as the machine")

    // Through the serial driver, when there is one: its lines break where kernel lines come in between.
    let console = SystemCall.capability(ConsoleProtocol.clientSlot, .identify).words.0 == UInt64(ObjectType.endpoint.rawValue)
    if console {
        var spawner = ThreadSpawner()
        let helper = checks.expect(spawner.spawn(kernelLines, argument: tscKHz, priority: 100, slot: Forge.helperSlot), .ok,
                                   "start a thread that prints kernel lines beside the driver's")
        checks.expect(ConsoleClient.write("\(Forge.poweringOff)"), .ok, "forged power-off line through the serial driver")
        checks.expect(ConsoleClient.write("KERNEL PANIC: forged through the serial driver"), .ok, "forged panic through the serial driver")
        var split: LogLine = "line end:"
        split.append(UInt8(ascii: "\n"))
        split.append(Forge.poweringOff)
        checks.expect(ConsoleClient.write(split), .ok, "forged line after a line end through the serial driver")
        var long = LogLine()
        for _ in 0..<6 { long.append(Forge.poweringOff); long.append(UInt8(ascii: " ")) }
        var written = 0
        while helper && written < Forge.longLines && SystemCall.thread(Forge.helperSlot, .readState).words.0 != ThreadStateCode.stopped.rawValue {
            if ConsoleClient.write(long) == .ok { written += 1 }
        }
        checks.check(written > 0, "\(written) long forged lines through the serial driver beside kernel lines")
    } else {
        log("forgetest: no console server; only the kernel console tried")
    }
    checks.report()
}

/// Prints kernel lines (debugWrite) while the main thread keeps the serial driver busy, so some come while
/// the driver is in the middle of a line.
func kernelLines(tscKHz: UInt64, utcb: UInt64) {
    let clock = TSCClock(kHz: tscKHz)
    for index in 0..<Forge.kernelLines {
        log("forgetest: kernel line \(index) beside the serial driver's")
        clock.spin(microseconds: 3000)
    }
}
