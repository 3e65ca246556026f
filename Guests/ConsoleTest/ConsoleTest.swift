import SwiftletABI
import SwiftletUser

/// A console client: prints through the serial driver, then reads a line typed on the console (input
/// arrives by interrupt and is handed to this task, the reader with focus) and prints it back, with its
/// length and the byte that ended it, so a test sees control bytes and line ends arrive unchanged. Between
/// the two it prints 40 lines, so a line typed at once arrives while the driver is busy sending.
let busyLines = 40

@_cdecl("task_main")
func consoleTestMain(tscKHz: UInt64, utcb: UInt64) {
    var failures: UInt64 = 0
    if ConsoleClient.write("ready: type a line") != .ok { failures += 1 }
    // Output while the line is typed: the driver sends it byte by byte at the line's rate (about 2400 bytes,
    // 200 ms at 115200 baud on Bochs), and what arrives meanwhile must not overrun the UART's receive FIFO.
    for index in 1...busyLines {
        if ConsoleClient.write("output while you type, line \(index) of \(busyLines): 0123456789abcdefghijklmnop") != .ok { failures += 1 }
    }
    var line = LogLine()
    var done = false
    var terminator: UInt8 = 0
    while !done && line.count < 200 {
        let (error, bytes, count) = ConsoleClient.read()
        if error != .ok {
            failures += 1
            break
        }
        for index in 0..<count {
            let byte = ConsoleProtocol.byte(bytes, index)
            if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                done = true
                terminator = byte
                break
            }
            line.append(byte)
        }
    }
    if ConsoleClient.write("you typed: \(line) (\(line.count) bytes, then \(hex: terminator))") != .ok { failures += 1 }
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}
