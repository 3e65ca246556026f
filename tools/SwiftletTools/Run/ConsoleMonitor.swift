import Foundation
import SwiftletABI

/// Collects a run's console output and notes the kernel's marker lines in it as they arrive. Markers
/// count only on lines with the boot's verdict token (ConsoleMarkers): task and guest output cannot end
/// a run.
struct ConsoleMonitor {
    /// The image's verdict token; nil: the older rule, untagged lines.
    let verdictToken: String?
    private(set) var bytes = Data()
    /// Why the system powered off, once the kernel printed its power-off line.
    private(set) var powerOffReason: PowerOffReason?
    /// With `guestExited`: the status the guest wrote to its debug-exit port, which the run returns.
    private(set) var guestStatus: Int32?
    private(set) var sawPanic = false
    /// When the kernel said it halted, by the monitor's clock.
    private(set) var haltedAt: Date?

    var sawPoweringOff: Bool { powerOffReason != nil }

    /// The part of the last line that has not ended yet.
    private var partialLine = Data()

    init(verdictToken: String? = nil) {
        self.verdictToken = verdictToken
    }

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
        guard let line = ConsoleMarkers.verdictLine(rawLine.trimmingCharacters(in: CharacterSet(charactersIn: "\r")),
                                                    token: verdictToken) else { return }
        if powerOffReason == nil, let reason = ConsoleMarkers.powerOffReason(in: line) {
            powerOffReason = reason
            guestStatus = ConsoleMarkers.guestStatus(in: line)
        }
        if line.hasPrefix(ConsoleMarkers.panic) {
            sawPanic = true
        }
        if line.hasPrefix(ConsoleMarkers.halted), haltedAt == nil {
            haltedAt = now
        }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
