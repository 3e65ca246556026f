import Foundation

/// Everything a finished run leaves behind.
public struct RunResult: Sendable {
    public let outcome: RunOutcome
    /// The complete serial console output.
    public let console: String
    /// The image's verdict token, if it had one (ConsoleMarkers.verdictLine).
    public let verdictToken: String?
    /// Wall-clock seconds from the emulator's start to its end.
    public let duration: TimeInterval
    public let emulator: Emulator
    /// The folder holding this run's console log and emulator files.
    public let runDirectory: URL
    public let timeout: TimeInterval
    /// The last lines the emulator itself printed; explains an `emulatorExited` outcome.
    public let emulatorMessages: String
    /// When the console showed each ConsoleInput step's trigger, in step order (the host's clock, to the
    /// supervisor's 10 ms poll): a test compares a time the guest printed with the moment it arrived.
    public var stepTriggerTimes: [Date] = []
    /// Bytes of typed input the emulator had not read from its input when the run ended.
    public var inputNotTaken = 0

    /// The summary printed on stderr when a run ends, e.g. "swiftlet: powered off after 1.8 s (qemu)".
    public var summaryLine: String {
        let seconds = String(format: "%.1f", duration)
        switch outcome {
        case .timedOut:
            return "swiftlet: timeout after \(Int(timeout.rounded())) s (\(emulator.rawValue))"
        default:
            return "swiftlet: \(outcome.summary) after \(seconds) s (\(emulator.rawValue))"
        }
    }

    /// The kernel's own lines that judge the run (power-off, panic, halt), without their verdict token:
    /// lines with the token, or untagged lines when the image had none.
    public var verdictLines: [String] {
        consoleLines.compactMap { ConsoleMarkers.verdictLine($0, token: verdictToken) }
            .filter { line in [ConsoleMarkers.poweringOff, ConsoleMarkers.panic, ConsoleMarkers.halted].contains { line.hasPrefix($0) } }
    }

    /// The console's lines, without line-end characters.
    /// The console's lines as a terminal shows them: a line the serial driver put on its own while the
    /// guest's raw line was unfinished starts with CR and erase-line (ESC [ K), which wipe what came before
    /// it on that line, so the line is what follows them.
    public var consoleLines: [String] {
        // Split on LF as a scalar (Swift takes CR LF as one character), then on a lone CR as before.
        console.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).flatMap { scalars -> [String] in
            var line = String(String.UnicodeScalarView(scalars))
            if let erase = line.range(of: Self.eraseLine, options: .backwards) { line = String(line[erase.upperBound...]) }
            if line.hasSuffix("\r") { line.removeLast() }
            return line.split(separator: "\r", omittingEmptySubsequences: false).map { String($0) }
        }
    }

    static let eraseLine = "\r\u{1B}[K"
}
