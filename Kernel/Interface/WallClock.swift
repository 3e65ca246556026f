/// The wall clock the kernel hands on (RootTaskLayout.Word.wallClock, then
/// VirtualMachineDescription.Word.wallClock): nanoseconds since 1970 (UTC) at TSC 0, computed from the
/// CMOS RTC the kernel read once at boot and the TSC then, so the time at any TSC t is this + t / tscKHz
/// on the kernel's calibrated frequency (the one in the boot-information page). 0: no clock was read.
public enum WallClock {
    /// The wall clock at TSC 0 from `seconds` since 1970 read at `tsc`; nil when the frequency is 0 or
    /// the TSC ran longer than the clock's time (a reading no later user can trust).
    public static func atTSCZero(seconds: UInt64, tsc: UInt64, tscKHz: UInt64) -> UInt64? {
        guard let readAt = nanoseconds(tsc: tsc, tscKHz: tscKHz) else { return nil }
        let (wall, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, wall > readAt else { return nil }
        return wall - readAt
    }

    /// Seconds since 1970 at `tsc`, from the handed-on word; nil when there is none (0) or it overflows.
    public static func seconds(at tsc: UInt64, wallClockAtTSCZero base: UInt64, tscKHz: UInt64) -> UInt64? {
        guard base != 0, let elapsed = nanoseconds(tsc: tsc, tscKHz: tscKHz) else { return nil }
        let (sum, carry) = base.addingReportingOverflow(elapsed)
        return carry ? nil : sum / 1_000_000_000
    }

    /// `tsc` ticks of a `tscKHz` TSC in nanoseconds, without overflow on the way (nil if it does not fit).
    public static func nanoseconds(tsc: UInt64, tscKHz: UInt64) -> UInt64? {
        // A frequency below 2^64 / 10^6 kHz (any real one) keeps (tsc % tscKHz) * 10^6 in 64 bits.
        guard tscKHz > 0, tscKHz <= UInt64.max / 1_000_000 else { return nil }
        let (whole, overflow) = (tsc / tscKHz).multipliedReportingOverflow(by: 1_000_000)
        let fraction = (tsc % tscKHz) * 1_000_000 / tscKHz
        guard !overflow else { return nil }
        let (sum, carry) = whole.addingReportingOverflow(fraction)
        return carry ? nil : sum
    }
}
