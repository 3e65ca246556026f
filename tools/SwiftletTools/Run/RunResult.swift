import Foundation

/// Everything a finished run leaves behind.
public struct RunResult: Sendable {
    public let outcome: RunOutcome
    /// The complete serial console output.
    public let console: String
    /// Wall-clock seconds from the emulator's start to its end.
    public let duration: TimeInterval
    public let emulator: Emulator
    /// The folder holding this run's console log and emulator files.
    public let runDirectory: URL
    public let timeout: TimeInterval
    /// The last lines the emulator itself printed; explains an `emulatorExited` outcome.
    public let emulatorMessages: String

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

    /// The console's lines, without line-end characters.
    public var consoleLines: [String] {
        console.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\r")) }
    }
}
