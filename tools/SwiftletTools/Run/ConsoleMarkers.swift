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

    /// Whether `line` (without its line end) is the kernel's own rather than a task's.
    public static func isKernelLine(_ line: String) -> Bool {
        !line.hasPrefix("[")
    }

    /// The reason on a kernel power-off line, or nil if `line` is not one (or names no reason the ABI knows).
    public static func powerOffReason(in line: String) -> PowerOffReason? {
        guard isKernelLine(line) else { return nil }
        return PowerOffReason.allCases.first { line == "\(poweringOff): \($0.description)" }
    }
}
