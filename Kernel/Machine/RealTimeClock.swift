import KernelPlatform
import SwiftletABI

/// Reads the machine's CMOS real-time clock once at boot (ports 0x70/0x71) for the wall clock the kernel
/// hands on (WallClock). The registers are read only outside an update (status A bit 7 clear: the
/// update that follows takes ~2 ms, so they are stable once it is clear) and twice, until two readings
/// agree, in case an update started between the check and the reads. Bounded: a clock that never
/// settles gives no time rather than a hung boot. NMIs stay enabled (bit 7 of the index clear).
enum RealTimeClock {
    static let indexPort: UInt16 = 0x70, dataPort: UInt16 = 0x71

    /// The clock's time and the TSC right after it was read; nil when it never settled or is invalid.
    static func read() -> (seconds: UInt64, tsc: UInt64)? {
        var previous: RealTimeClockReading? = nil
        for _ in 0..<8 {
            guard waitOutsideUpdate() else { return nil }
            let reading = registers()
            let tsc = x86_rdtsc()
            if reading == previous {
                guard let seconds = reading.secondsSince1970 else { return nil }
                return (seconds, tsc)
            }
            previous = reading
        }
        return nil
    }

    /// Waits while status A says an update is in progress (at most ~10^6 polls: an update lasts 2 ms).
    private static func waitOutsideUpdate() -> Bool {
        for _ in 0..<1_000_000 where register(RealTimeClockReading.Register.statusA) & RealTimeClockReading.Register.updateInProgress == 0 {
            return true
        }
        return false
    }

    private static func registers() -> RealTimeClockReading {
        typealias R = RealTimeClockReading.Register
        return RealTimeClockReading(seconds: register(R.seconds), minutes: register(R.minutes), hours: register(R.hours),
                                    day: register(R.day), month: register(R.month), year: register(R.year),
                                    century: register(R.century), statusB: register(R.statusB))
    }

    private static func register(_ index: UInt8) -> UInt8 {
        x86_outb(indexPort, index & 0x7F)
        return x86_inb(dataPort)
    }
}
