/// The MC146818 real-time clock and CMOS memory behind ports 0x70 (index, bit 7 masks NMI) and 0x71
/// (data). The time comes from the caller (seconds since 1970, UTC) on each read, in BCD or binary and
/// 12- or 24-hour form as status register B says; the update-in-progress flag is never set, since an
/// update here takes no time. Alarm and periodic-interrupt settings are kept but raise no interrupt yet.
public struct CMOSClock {
    public private(set) var index: UInt8 = 0
    /// 128 bytes of CMOS; the clock registers 0x00-0x09 and 0x32 are computed, not stored.
    private var memory = InlineArray<128, UInt8>(repeating: 0)

    public enum Register {
        public static let seconds: UInt8 = 0x00, minutes: UInt8 = 0x02, hours: UInt8 = 0x04, weekday: UInt8 = 0x06
        public static let day: UInt8 = 0x07, month: UInt8 = 0x08, year: UInt8 = 0x09, century: UInt8 = 0x32
        public static let statusA: UInt8 = 0x0A, statusB: UInt8 = 0x0B, statusC: UInt8 = 0x0C, statusD: UInt8 = 0x0D
    }

    public init() {
        memory[Int(Register.statusA)] = 0x26          // 32.768 kHz time base, 1024 Hz periodic rate
        memory[Int(Register.statusB)] = 0x02          // 24-hour, BCD
        memory[Int(Register.statusD)] = 0x80          // valid RAM and time (the battery is fine)
    }

    public mutating func writeIndex(_ value: UInt8) {
        index = value & 0x7F
    }

    public mutating func writeData(_ value: UInt8) {
        switch index {
        case Register.statusA: memory[Int(index)] = value & 0x7F          // UIP is read-only
        case Register.statusC, Register.statusD: break                   // read-only
        case Register.seconds, Register.minutes, Register.hours, Register.weekday, Register.day, Register.month,
             Register.year, Register.century:
            break                                     // setting the clock is ignored: the host's time stays
        default: memory[Int(index)] = value
        }
    }

    public mutating func readData(now secondsSince1970: UInt64) -> UInt8 {
        let time = CivilTime(secondsSince1970)
        let statusB = memory[Int(Register.statusB)]
        let binary = statusB & 0x04 != 0, twentyFourHour = statusB & 0x02 != 0
        func encode(_ value: Int) -> UInt8 {
            binary ? UInt8(value) : UInt8((value / 10) << 4 | value % 10)
        }
        switch index {
        case Register.seconds: return encode(time.second)
        case Register.minutes: return encode(time.minute)
        case Register.hours:
            if twentyFourHour { return encode(time.hour) }
            let hour12 = time.hour % 12 == 0 ? 12 : time.hour % 12
            return encode(hour12) | (time.hour >= 12 ? 0x80 : 0)
        case Register.weekday: return encode(time.weekday + 1)
        case Register.day: return encode(time.day)
        case Register.month: return encode(time.month)
        case Register.year: return encode(time.year % 100)
        case Register.century: return encode(time.year / 100)
        case Register.statusC:
            let flags = memory[Int(Register.statusC)]
            memory[Int(Register.statusC)] = 0          // reading C acknowledges the interrupt flags
            return flags
        default: return memory[Int(index)]
        }
    }
}

/// A UTC date and time from seconds since 1970 (proleptic Gregorian calendar; days-from-civil inverted).
struct CivilTime {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    /// 0 = Sunday.
    var weekday: Int

    init(_ secondsSince1970: UInt64) {
        // Clamp to year 9999 so every field fits its register; a clock that far off is wrong anyway.
        let seconds = Int(min(secondsSince1970, 253_402_300_799))
        let days = seconds / 86_400, rest = seconds % 86_400
        hour = rest / 3600
        minute = rest / 60 % 60
        second = rest % 60
        weekday = (days + 4) % 7                    // 1970-01-01 was a Thursday
        // Howard Hinnant's civil_from_days, with eras of 400 years starting on 0000-03-01.
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }
}
