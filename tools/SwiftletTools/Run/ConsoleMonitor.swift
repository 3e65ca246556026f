import Foundation

/// Collects a run's console output and notes the marker lines in it as they arrive.
struct ConsoleMonitor {
    private(set) var bytes = Data()
    private(set) var sawPoweringOff = false
    private(set) var sawPanic = false
    /// When the kernel said it halted, by the monitor's clock.
    private(set) var haltedAt: Date?

    /// The part of the last line that has not ended yet.
    private var partialLine = Data()

    mutating func append(_ data: Data, at now: Date = Date()) {
        bytes.append(data)
        partialLine.append(data)
        while let newline = partialLine.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: partialLine[partialLine.startIndex..<newline], as: UTF8.self)
            partialLine.removeSubrange(partialLine.startIndex...newline)
            inspect(line: line, at: now)
        }
    }

    private mutating func inspect(line rawLine: String, at now: Date) {
        // The kernel may end lines with CR LF; a terminal-style console may also echo CRs.
        let line = rawLine.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        if line.contains(ConsoleMarkers.poweringOff) {
            sawPoweringOff = true
        }
        if line.hasPrefix(ConsoleMarkers.panic) {
            sawPanic = true
        }
        if line.contains(ConsoleMarkers.halted), haltedAt == nil {
            haltedAt = now
        }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
