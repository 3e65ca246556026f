/// The lines the kernel prints on its serial console that tell how a run ends.
///
/// The runners judge a run by these, not by emulator exit codes: Bochs reports a clean power-off as a
/// panic, and QEMU exits with status 0 both on power-off and on a triple fault with -no-reboot.
public enum ConsoleMarkers {
    /// Printed right before the kernel powers the machine off through ACPI.
    public static let poweringOff = "kernel: powering off"
    /// Starts the first line of a panic report.
    public static let panic = "KERNEL PANIC"
    /// Printed after a panic report, when the CPU stops for good.
    public static let halted = "kernel: halted"
}
