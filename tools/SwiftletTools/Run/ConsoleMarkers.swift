import SwiftletABI

/// The lines the kernel prints on its serial console that tell how a run ends.
///
/// The runners judge a run by these, not by emulator exit codes: Bochs reports a clean power-off as a
/// panic, and QEMU exits with status 0 both on power-off and on a triple fault with -no-reboot. They
/// count only at the start of the kernel's own lines: every line a task writes is tagged `[name] `
/// (by the kernel, or the serial driver), so a task printing `kernel: powering off` forges nothing.
public enum ConsoleMarkers {
    /// Starts the line the kernel prints right before it powers the machine off through ACPI, followed
    /// by `: ` and the reason the root task gave (`PowerOffReason.description`).
    public static let poweringOff = "kernel: powering off"
    /// Starts the first line of a panic report.
    public static let panic = "KERNEL PANIC"
    /// Printed after a panic report, when the CPU stops for good.
    public static let halted = "kernel: halted"

    /// Whether `line` (without its line end) is the kernel's own rather than a task's, by the older rule.
    public static func isKernelLine(_ line: String) -> Bool {
        !line.hasPrefix("[")
    }

    /// The kernel's verdict line in `line` (without its line end), without its token: nil when it does not
    /// end with `token`. With no token (an ISO whose token file is missing), any untagged line, less a
    /// token it may end with.
    public static func verdictLine(_ line: String, token: String?) -> String? {
        guard let token else {
            guard isKernelLine(line) else { return nil }
            let suffixLength = "\(VerdictToken.suffixStart)".count + VerdictToken.digits + 1
            let tail = line.suffix(suffixLength)
            let isToken = tail.hasPrefix("\(VerdictToken.suffixStart)") && tail.hasSuffix(")")
                && tail.dropFirst(suffixLength - VerdictToken.digits - 1).dropLast().allSatisfy(\.isHexDigit)
            return isToken ? String(line.dropLast(suffixLength)) : line
        }
        let suffix = "\(VerdictToken.suffixStart)\(token))"
        guard line.hasSuffix(suffix) else { return nil }
        return String(line.dropLast(suffix.count))
    }

    /// The reason on a kernel power-off line (its token removed), or nil if `line` is not one (or names no
    /// reason the ABI knows).
    public static func powerOffReason(in line: String) -> PowerOffReason? {
        if guestStatus(in: line) != nil { return .guestExited }
        return PowerOffReason.allCases.first { $0 != .guestExited && line == "\(poweringOff): \($0.description)" }
    }

    /// The guest's exit status on a `guestExited` power-off line (0-255), else nil.
    public static func guestStatus(in line: String) -> Int32? {
        let prefix = "\(poweringOff): \(PowerOffReason.guestExited.description) "
        guard line.hasPrefix(prefix), let status = Int32(line.dropFirst(prefix.count)), (0...255).contains(status) else { return nil }
        return status
    }
}
