/// kvmclock, the paravirtual clock Linux uses under a KVM-compatible hypervisor: the guest names a page
/// with an MSR and reads from it the TSC-to-nanoseconds scale and a reference point, so it needs no
/// timer calibration. These builders make the two structures (Documentation/virt/kvm/x86/msr.rst).
public enum KVMClock {
    public static let wallClockMSR: UInt32 = 0x4B56_4D00
    public static let systemTimeMSR: UInt32 = 0x4B56_4D01
    /// The same two, at the numbers of the first kvmclock ABI.
    public static let oldWallClockMSR: UInt32 = 0x11
    public static let oldSystemTimeMSR: UInt32 = 0x12
    /// pvclock flag: the TSC is synchronized and constant, so guest time never goes backwards.
    public static let stableFlag: UInt8 = 1

    /// Nanoseconds = ((TSC delta shifted by `shift`) * `multiplier`) >> 32.
    public struct Scale: Equatable {
        public var multiplier: UInt32
        public var shift: Int8
    }

    /// The scale for a TSC of `tscKHz` (nil for 0, a TSC that does not tick).
    public static func scale(tscKHz: UInt64) -> Scale? {
        guard tscKHz > 0, tscKHz < 1 << 40 else { return nil }
        // Normalize nanoseconds per tick (1e6 ns per ms over tscKHz ticks per ms) into [0.5, 1) * 2^shift.
        var dividend: UInt64 = 1_000_000, divisor = tscKHz, shift: Int8 = 0
        while dividend >= divisor {
            divisor <<= 1
            shift += 1
        }
        while dividend << 1 < divisor {
            dividend <<= 1
            shift -= 1
        }
        // dividend < divisor, so the quotient of dividend * 2^32 fits 32 bits. Long division one bit at a
        // time (no 128-bit division: a task has no compiler runtime for it); the remainder stays below
        // divisor < 2^41, so no shift wraps.
        var remainder = dividend, quotient: UInt64 = 0
        for _ in 0..<32 {
            remainder <<= 1
            quotient <<= 1
            if remainder >= divisor {
                remainder -= divisor
                quotient |= 1
            }
        }
        return Scale(multiplier: UInt32(truncatingIfNeeded: quotient), shift: shift)
    }

    /// Nanoseconds for `ticks` of TSC at `scale`, as the guest computes them (pvclock_scale_delta).
    public static func nanoseconds(_ ticks: UInt64, _ scale: Scale) -> UInt64 {
        let shifted = scale.shift >= 0 ? ticks << UInt64(scale.shift) : ticks >> UInt64(-Int(scale.shift))
        let product = shifted.multipliedFullWidth(by: UInt64(scale.multiplier))
        return product.high << 32 | product.low >> 32
    }

    /// `struct pvclock_vcpu_time_info` (32 bytes): version (even: consistent), TSC and system time of
    /// the reference point, the scale, flags. Built in place, without the heap: a guest may write its
    /// kvmclock MSRs as often as it likes.
    public static func timeInfo(version: UInt32, tsc: UInt64, systemTime: UInt64, scale: Scale) -> InlineArray<32, UInt8> {
        var bytes = InlineArray<32, UInt8>(repeating: 0)
        put(version, into: &bytes, at: 0)
        put(tsc, into: &bytes, at: 8)
        put(systemTime, into: &bytes, at: 16)
        put(scale.multiplier, into: &bytes, at: 24)
        bytes[28] = UInt8(bitPattern: scale.shift)
        bytes[29] = stableFlag
        return bytes
    }

    /// `struct pvclock_wall_clock` (12 bytes): version, seconds and nanoseconds since 1970 at system time 0.
    public static func wallClock(version: UInt32, seconds: UInt32, nanoseconds: UInt32) -> InlineArray<12, UInt8> {
        var bytes = InlineArray<12, UInt8>(repeating: 0)
        put(version, into: &bytes, at: 0)
        put(seconds, into: &bytes, at: 4)
        put(nanoseconds, into: &bytes, at: 8)
        return bytes
    }

    static func put<T: FixedWidthInteger, let count: Int>(_ value: T, into bytes: inout InlineArray<count, UInt8>, at offset: Int) {
        for index in 0..<(T.bitWidth / 8) { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}
