import SwiftletABI

/// The kernel's verdict lines (power-off, panic, halt), ended with the boot's verdict token so the run
/// harness can tell them from lines a guest writes through the console's raw stream (VerdictToken.swift).
enum VerdictLine {
    /// From the command line's `verdict=`; without one the lines go out as they are.
    nonisolated(unsafe) static var token: UInt64?

    /// Prints `line` on a line of its own, then the token, past the LogLine's capacity (a long panic
    /// message never cuts it off).
    static func log(_ line: LogLine) {
        SerialPort.startLine()
        line.forEachByte(SerialPort.write)
        if let token { VerdictToken.forEachSuffixByte(token, SerialPort.write) }
        SerialPort.write(UInt8(ascii: "\r"))
        SerialPort.write(UInt8(ascii: "\n"))
    }
}
