import Foundation

/// The bochsrc for one run, as a pure function of the image, the run configuration and the run's files.
public struct BochsConfiguration: Sendable {
    public var iso: URL
    public var cpuModel: String
    public var memoryMiB: Int
    public var deterministic: Bool
    /// The terminal COM1 is connected to, both ways: the slave of a pseudo-terminal whose master the
    /// runner reads and writes (PseudoTerminal).
    public var serialTerminal: String
    /// Bochs's own log.
    public var logFile: URL
    /// A disk on ata0-master; the CD then moves to ata1-master (the BIOS boots the first CD it finds).
    public var disk: DiskImage? = nil

    /// Emulated instructions per emulated second in deterministic runs. It fixes how many instructions a
    /// timer period takes, so it must not change between deterministic runs that are compared with each
    /// other.
    public static let instructionsPerSecond = 100_000_000
    /// Outside deterministic runs: well below what Bochs sustains here (about 6 x 10^7 a second with the
    /// Linux guest; at 10^8 its clock fell 8 s behind the host's in a 21 s boot, and `sync=slowdown` never
    /// catches up), so emulated time keeps pace with the host's and the guest's `date` is the host's
    /// (GuestClockTests: 1.3-2.1 s behind at 5 x 10^7, the whole seconds the RTC and `date` give, but 5 s
    /// with a benchmark running beside it; 4 x 10^7 leaves a third in hand, for a slower or busier host).
    public static let realTimeInstructionsPerSecond = 40_000_000

    /// The RTC's start time in deterministic runs (2000-01-01 00:00:00 UTC), so the guest sees the
    /// same date on every run.
    public static let fixedStartTime = 946_684_800
    /// The same moment as QEMU's `-rtc base=` takes it.
    public static let fixedStartDate = "2000-01-01T00:00:00"

    /// The ATA lines: the CD alone on ata0-master as always, or the disk there and the CD on ata1-master.
    var drives: String {
        let cdrom = "type=cdrom, path=\"\(iso.path)\", status=inserted"
        guard let disk else { return "ata0-master: \(cdrom)" }
        return "\(disk.bochsLine)\nata1: enabled=1, ioaddr1=0x170, ioaddr2=0x370, irq=15\nata1-master: \(cdrom)"
    }

    public var text: String {
        let clock = deterministic
            // The TSC counts instructions and the RTC always starts at the same moment.
            ? "clock: sync=none, time0=\(Self.fixedStartTime)"
            // Guest time never runs ahead of wall time, so delays inside the guest last at least as
            // long as they say. (sync=realtime also holds it back from falling behind, but makes idle
            // waits in the BIOS real: measured 4.7 s to a power-off against 3.5 s, and 1.8 s with none.)
            // time0=utc: the RTC keeps UTC, as the kernel reads it (`local` would be the host's zone).
            : "clock: sync=slowdown, time0=utc"
        return """
            # Written by swiftlet for one run.
            cpu: model=\(cpuModel), count=1, ips=\(deterministic ? Self.instructionsPerSecond : Self.realTimeInstructionsPerSecond), reset_on_triple_fault=0
            memory: guest=\(memoryMiB), host=\(memoryMiB)
            romimage: file=\(HostFile.bochsBIOS.path)
            vgaromimage: file=\(HostFile.vgaBIOS.path)
            \(drives)
            boot: cdrom
            # Bochs opens the terminal and makes it raw itself; it polls it for input at the line's rate.
            com1: enabled=1, mode=term, dev="\(serialTerminal)"
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
