/// The MC146818 CMOS clock's time registers as read at boot, decoded to seconds since 1970 (UTC: the
/// emulators' RTC keeps UTC, QEMU `-rtc base=utc`, Bochs `time0=utc`). Status register B says the format
/// of every field: bit 2 binary (else BCD), bit 1 24-hour (else 12-hour with bit 7 of the hour for PM).
/// The century register (0x32, as the FADT's default names it) is used when it holds 19-99; otherwise
/// the years are 2000-2099. The port reads themselves, with the update-in-progress wait, are in
/// Kernel/Machine/RealTimeClock.swift; this part is pure so the host tests can check the decoding.
public struct RealTimeClockReading: Equatable {
    public var seconds: UInt8, minutes: UInt8, hours: UInt8
    public var day: UInt8, month: UInt8, year: UInt8, century: UInt8
    public var statusB: UInt8

    public enum Register {
        public static let seconds: UInt8 = 0x00, minutes: UInt8 = 0x02, hours: UInt8 = 0x04
        public static let day: UInt8 = 0x07, month: UInt8 = 0x08, year: UInt8 = 0x09
        public static let statusA: UInt8 = 0x0A, statusB: UInt8 = 0x0B, century: UInt8 = 0x32
        /// Status A bit 7: the clock is updating its registers now (they may be inconsistent for ~2 ms).
        public static let updateInProgress: UInt8 = 0x80
    }

    public init(seconds: UInt8, minutes: UInt8, hours: UInt8, day: UInt8, month: UInt8, year: UInt8,
                century: UInt8, statusB: UInt8) {
        (self.seconds, self.minutes, self.hours) = (seconds, minutes, hours)
        (self.day, self.month, self.year, self.century, self.statusB) = (day, month, year, century, statusB)
    }

    /// Seconds since 1970-01-01 00:00 UTC, or nil when a field is out of range for its format (a clock
    /// that was never set, or a register that is not BCD in BCD mode): no guessed time is better than a wrong one.
    public var secondsSince1970: UInt64? {
        let binary = statusB & 0x04 != 0, twentyFourHour = statusB & 0x02 != 0
        func decode(_ raw: UInt8) -> Int? {
            if binary { return Int(raw) }
            let high = Int(raw >> 4), low = Int(raw & 0x0F)
            return high <= 9 && low <= 9 ? high * 10 + low : nil
        }
        guard let second = decode(seconds), second <= 59,
              let minute = decode(minutes), minute <= 59,
              let dayOfMonth = decode(day), (1...31).contains(dayOfMonth),
              let monthOfYear = decode(month), (1...12).contains(monthOfYear),
              let yearOfCentury = decode(year), yearOfCentury <= 99 else { return nil }
        var hour: Int
        if twentyFourHour {
            guard let value = decode(hours), value <= 23 else { return nil }
            hour = value
        } else {
            // 12-hour form: 12 AM is midnight, 12 PM noon; bit 7 is PM in either encoding.
            guard let value = decode(hours & 0x7F), (1...12).contains(value) else { return nil }
            hour = value % 12 + (hours & 0x80 != 0 ? 12 : 0)
        }
        let centuryValue = decode(century).flatMap { (19...99).contains($0) ? $0 : nil } ?? 20
        let fullYear = centuryValue * 100 + yearOfCentury
        guard fullYear >= 1970, dayOfMonth <= Self.daysIn(month: monthOfYear, year: fullYear) else { return nil }
        let days = Self.daysSince1970(year: fullYear, month: monthOfYear, day: dayOfMonth)
        return UInt64(days * 86_400 + hour * 3600 + minute * 60 + second)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil: eras of 400 years from 0000-03-01).
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
