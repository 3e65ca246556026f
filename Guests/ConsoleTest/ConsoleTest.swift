import SwiftletABI
import SwiftletUser

/// A console client: prints through the serial driver, then reads a line typed on the console (input
/// arrives by interrupt and is handed to this task, the reader with focus) and prints it back.
@_cdecl("task_main")
func consoleTestMain(tscKHz: UInt64, utcb: UInt64) {
    var failures: UInt64 = 0
    if ConsoleClient.write("ready: type a line") != .ok { failures += 1 }
    var line = LogLine()
    var done = false
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
                break
            }
            line.append(byte)
        }
    }
    if ConsoleClient.write("you typed: \(line)") != .ok { failures += 1 }
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}
