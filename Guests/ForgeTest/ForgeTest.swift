import SwiftletABI
import SwiftletUser

/// A task that tries to forge the lines the system is judged by: `kernel: powering off: ...`,
/// `KERNEL PANIC` and `kernel: halted`, through the kernel console and through the serial driver, with
/// embedded line ends, and in long driver lines that kernel lines break into. Every one must come out
/// tagged `[forgetest] ...`, so the run still ends with the kernel's own power-off (the system tests
/// judge that). It also checks that it cannot rename itself: naming takes the machine capability, and it
/// writes a forged power-off line on a line of its own through the console's raw stream: refused unless
/// its configuration says `console-raw`; if allowed, only the verdict token keeps the harness from
/// believing it (VerdictTests).
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
        // Naming is the root task's: a client's name message, for any badge and asking for the raw
        // stream, changes no name and gives no raw stream.
        let fakeName: LogLine = "forged"
        var fake: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for index in 0..<fakeName.count { ConsoleProtocol.setByte(&fake, 8 + index, fakeName[index]) }
        for badge: UInt64 in 0...16 {
            fake.0 = badge
            _ = SystemCall.send(ConsoleProtocol.clientSlot, MessageTag(label: ConsoleProtocol.label(ConsoleProtocol.name, count: ConsoleProtocol.rawAllowed), words: 4),
                                fake, timeout: .microseconds(100_000))
        }
        checks.expect(ConsoleClient.write("still named forgetest after renaming itself"), .ok, "a line after name messages of its own")
        var raw: LogLine = "\r\n"
        raw.append(Forge.poweringOff)
        raw.append("\r\n")
        let rawResult = writeRaw(raw)
        checks.check(rawResult == .ok || rawResult == .missingRight, "forged power-off line through the raw stream answered ok or missing right")
        log("forgetest: raw stream -> \(rawResult.name)")
        if rawResult == .ok {
            // A prompt without a line end, then a tagged line: it must go on a line of its own, and the
            // prompt come again before the rest of the raw line. Then the same with a kernel line
            // (debugWrite), which breaks in by the scratch register (VerdictTests).
            let prompt: LogLine = "forgetest$ "
            let first = writeRaw(prompt)
            let tagged = ConsoleClient.write("a tagged line while the raw stream is mid-line")
            let rest = writeRaw("typed\r\n")
            let second = writeRaw(prompt)
            log("forgetest: a kernel line while the raw stream is mid-line")
            let again = writeRaw("again\r\n")
            checks.check(first == .ok && tagged == .ok && rest == .ok && second == .ok && again == .ok,
                         "a raw prompt with a tagged and a kernel line in the middle")
        }
    } else {
        log("forgetest: no console server; only the kernel console tried")
    }
    checks.report()
}

/// `line` through the console's raw stream, 32 bytes a message; the first refusal ends it.
func writeRaw(_ line: LogLine) -> SyscallError {
    var start = 0
    while start < line.count {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let count = min(line.count - start, ConsoleProtocol.chunk)
        for index in 0..<count { ConsoleProtocol.setByte(&words, index, line[start + index]) }
        let error = ConsoleClient.writeRaw(words, count: count)
        if error != .ok { return error }
        start += count
    }
    return .ok
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
