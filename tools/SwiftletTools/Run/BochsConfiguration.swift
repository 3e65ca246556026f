import Foundation

/// The bochsrc for one run, as a pure function of the image, the run configuration and the run's files.
public struct BochsConfiguration: Sendable {
    public var iso: URL
    public var cpuModel: String
    public var memoryMiB: Int
    public var deterministic: Bool
    /// Where COM1's output goes (the guest's serial console).
    public var serialFile: URL
    /// Bochs's own log.
    public var logFile: URL

    /// Emulated instructions per emulated second. Bochs runs about 10^8 instructions a second on the
    /// project's machines, so guest time roughly keeps pace with wall time. It fixes how many
    /// instructions a timer period takes, so it must not change between deterministic runs that are
    /// compared with each other.
    public static let instructionsPerSecond = 100_000_000

    /// The RTC's start time in deterministic runs (2000-01-01 00:00:00 UTC), so the guest sees the
    /// same date on every run.
    public static let fixedStartTime = 946_684_800

    public var text: String {
        let clock = deterministic
            // The TSC counts instructions and the RTC always starts at the same moment.
            ? "clock: sync=none, time0=\(Self.fixedStartTime)"
            // Guest time never runs ahead of wall time, so delays inside the guest last at least as
            // long as they say. (sync=realtime also holds it back from falling behind, but makes idle
            // waits in the BIOS real: measured 4.7 s to a power-off against 3.5 s, and 1.8 s with none.)
            : "clock: sync=slowdown, time0=local"
        return """
            # Written by swiftlet for one run.
            cpu: model=\(cpuModel), count=1, ips=\(Self.instructionsPerSecond), reset_on_triple_fault=0
            memory: guest=\(memoryMiB), host=\(memoryMiB)
            romimage: file=\(HostFile.bochsBIOS.path)
            vgaromimage: file=\(HostFile.vgaBIOS.path)
            ata0-master: type=cdrom, path="\(iso.path)", status=inserted
            boot: cdrom
            com1: enabled=1, mode=file, dev="\(serialFile.path)"
            speaker: enabled=0
            sound: driver=dummy
            mouse: enabled=0
            \(clock)
            # The Debian build has no headless display; VNC needs no X server. Bochs takes the first free
            # port from 5900 on, so parallel runs do not clash, and timeout=0 means it waits for no viewer.
            display_library: rfb, options="timeout=0"
            log: "\(logFile.path)"
            # A guest power-off is reported as a panic: stop at once, and let the console log tell why.
            panic: action=fatal
            error: action=report
            info: action=ignore
            debug: action=ignore

            """
    }

    /// Commands for Bochs's built-in debugger, which otherwise stops at a prompt before the first
    /// instruction: run until the simulation ends, then leave.
    public static let debuggerCommands = "continue\nquit\n"
}
