/// One vCPU's local APIC, reached as xAPIC MMIO (offsets in the 4 KiB page at 0xFEE00000) or as x2APIC
/// MSRs (0x800 + offset / 16): interrupt request, in-service and trigger-mode registers, task and processor
/// priority, EOI, the local vector table, self IPIs, and the timer in one-shot, periodic and TSC-deadline
/// mode. A pure state machine: time is the guest's TSC, passed in by the caller, and the caller asks
/// `nextDeadline` when it must wake the guest for the timer.
public struct LocalAPIC {
    public let id: UInt32
    /// Guest TSC ticks per tick of the APIC timer's input clock (its "bus clock").
    public let tscPerBusTick: UInt64

    private var irr = Bits256(), isr = Bits256(), tmr = Bits256()
    public private(set) var taskPriority: UInt32 = 0
    public private(set) var spurious: UInt32 = 0xFF           // software-disabled at reset
    private var logicalDestination: UInt32 = 0, destinationFormat: UInt32 = 0xFFFF_FFFF
    private var errorStatus: UInt32 = 0, interruptCommandHigh: UInt32 = 0, interruptCommandLow: UInt32 = 0
    /// Timer, thermal, performance counter, LINT0, LINT1, error: masked at reset.
    private var localVectors = InlineArray<6, UInt32>(repeating: 0x1_0000)
    private var initialCount: UInt32 = 0, divideConfiguration: UInt32 = 0
    /// When the current count was loaded (guest TSC), and the TSC-deadline MSR (0 = disarmed).
    private var timerStart: UInt64 = 0
    public private(set) var tscDeadline: UInt64 = 0
    public private(set) var x2APICMode = false

    public enum Offset {
        public static let id = 0x20, version = 0x30, taskPriority = 0x80, arbitrationPriority = 0x90
        public static let processorPriority = 0xA0, endOfInterrupt = 0xB0, logicalDestination = 0xD0
        public static let destinationFormat = 0xE0, spurious = 0xF0, inService = 0x100, triggerMode = 0x180
        public static let interruptRequest = 0x200, errorStatus = 0x280, commandLow = 0x300, commandHigh = 0x310
        public static let timer = 0x320, lint0 = 0x350, lint1 = 0x360, error = 0x370
        public static let initialCount = 0x380, currentCount = 0x390, divideConfiguration = 0x3E0, selfIPI = 0x3F0
    }
    public static let tscDeadlineMSR: UInt32 = 0x6E0

    public init(id: UInt32, tscPerBusTick: UInt64) {
        self.id = id
        self.tscPerBusTick = max(1, min(tscPerBusTick, 1 << 20))
    }

    /// What an access asks of the rest of the VMM.
    public enum Effect: Equatable {
        case none
        /// EOI of a level-triggered vector: the IOAPIC lowers remote IRR on the line behind it.
        case levelEndOfInterrupt(vector: UInt8)
    }

    // MARK: Register access

    /// `offset` is taken modulo the 4 KiB page and rounded down to its 16-byte register.
    public mutating func read(_ offset: Int, now: UInt64) -> UInt32 {
        let offset = offset & 0xFF0
        switch offset {
        case Offset.id: return x2APICMode ? id : id << 24
        case Offset.version: return 0x0005_0014              // version 0x14, 6 LVT entries (max index 5)
        case Offset.taskPriority: return taskPriority
        case Offset.arbitrationPriority: return 0
        case Offset.processorPriority: return processorPriority
        case Offset.logicalDestination: return x2APICMode ? (id >> 4) << 16 | 1 << (id & 15) : logicalDestination
        case Offset.destinationFormat: return destinationFormat
        case Offset.spurious: return spurious
        case Offset.inService..<(Offset.inService + 0x80): return isr.word((offset - Offset.inService) >> 4)
        case Offset.triggerMode..<(Offset.triggerMode + 0x80): return tmr.word((offset - Offset.triggerMode) >> 4)
        case Offset.interruptRequest..<(Offset.interruptRequest + 0x80): return irr.word((offset - Offset.interruptRequest) >> 4)
        case Offset.errorStatus: return errorStatus
        case Offset.commandLow: return interruptCommandLow
        case Offset.commandHigh: return interruptCommandHigh
        case Offset.timer...Offset.error: return localVectors[(offset - Offset.timer) >> 4]
        case Offset.initialCount: return initialCount
        case Offset.currentCount: return currentCount(now: now)
        case Offset.divideConfiguration: return divideConfiguration
        default: return 0
        }
    }

    public mutating func write(_ offset: Int, _ value: UInt32, now: UInt64) -> Effect {
        let offset = offset & 0xFF0
        switch offset {
        case Offset.taskPriority: taskPriority = value & 0xFF
        case Offset.endOfInterrupt: return endOfInterrupt()
        case Offset.logicalDestination: if !x2APICMode { logicalDestination = value & 0xFF00_0000 }
        case Offset.destinationFormat: if !x2APICMode { destinationFormat = value | 0x0FFF_FFFF }
        case Offset.spurious:
            spurious = value & 0x13FF
            // Software-disabling the APIC masks every local vector.
            if value & 0x100 == 0 { for index in 0..<6 { localVectors[index] |= 0x1_0000 } }
        case Offset.errorStatus: errorStatus = 0
        case Offset.commandHigh: interruptCommandHigh = value
        case Offset.commandLow:
            interruptCommandLow = value & ~0x1000                 // delivery status: sent at once
            sendInterprocessorInterrupt(value, destination: x2APICMode ? interruptCommandHigh : interruptCommandHigh >> 24)
        case Offset.timer...Offset.error:
            let index = (offset - Offset.timer) >> 4
            // The timer keeps its mode bits (17-18); the others have none. Bit 16 masks; bit 12 is read-only.
            let writable: UInt32 = index == 0 ? 0x7_00FF : index == 3 || index == 4 ? 0x1_A7FF : 0x1_00FF
            var entry = value & writable
            if spurious & 0x100 == 0 { entry |= 0x1_0000 }
            let wasDeadline = timerMode == 2
            localVectors[index] = entry
            if index == 0 && wasDeadline != (timerMode == 2) { tscDeadline = 0; initialCount = 0 }
        case Offset.initialCount:
            guard timerMode != 2 else { break }                  // ignored in TSC-deadline mode
            initialCount = value
            timerStart = now
        case Offset.divideConfiguration: divideConfiguration = value & 0x0B
        case Offset.selfIPI: accept(vector: UInt8(truncatingIfNeeded: value), level: false)
        default: break                                           // read-only or reserved
        }
        return .none
    }

    // MARK: MSRs (x2APIC and TSC deadline)

    /// nil: the MSR does not exist in the current mode (the caller injects #GP).
    public mutating func readMSR(_ index: UInt32, now: UInt64) -> UInt64? {
        if index == Self.tscDeadlineMSR { return timerMode == 2 ? tscDeadline : 0 }
        guard x2APICMode, index >= 0x800, index <= 0x8FF else { return nil }
        let offset = Int(index - 0x800) << 4
        if offset == Offset.commandLow { return UInt64(interruptCommandHigh) << 32 | UInt64(interruptCommandLow) }
        guard Self.x2APICReadable(offset) else { return nil }
        return UInt64(read(offset, now: now))
    }

    /// The x2APIC register map (Intel SDM vol. 3, "x2APIC Register Address Space"): what RDMSR may read.
    /// The rest (reserved, write-only EOI and SELF IPI, the xAPIC-only APR, DFR and ICR high) is #GP.
    static func x2APICReadable(_ offset: Int) -> Bool {
        switch offset {
        case Offset.id, Offset.version, Offset.taskPriority, Offset.processorPriority, Offset.logicalDestination,
             Offset.spurious, Offset.inService..<(Offset.interruptRequest + 0x80), Offset.errorStatus,
             Offset.timer...Offset.error, Offset.initialCount, Offset.currentCount, Offset.divideConfiguration:
            return true
        default:
            return false
        }
    }

    /// What WRMSR may write: the read-only registers (ID, version, PPR, LDR, ISR, TMR, IRR, current count)
    /// and the reserved ones are #GP, as is a nonzero EOI.
    static func x2APICWritable(_ offset: Int, _ value: UInt64) -> Bool {
        switch offset {
        case Offset.endOfInterrupt:
            return value == 0
        case Offset.taskPriority, Offset.spurious, Offset.errorStatus, Offset.timer...Offset.error,
             Offset.initialCount, Offset.divideConfiguration, Offset.selfIPI:
            return true
        default:
            return false
        }
    }

    /// false: the write faults (#GP), as on hardware for read-only and reserved x2APIC registers.
    public mutating func writeMSR(_ index: UInt32, _ value: UInt64, now: UInt64) -> (accepted: Bool, effect: Effect) {
        if index == Self.tscDeadlineMSR {
            if timerMode == 2 { tscDeadline = value }
            return (true, .none)
        }
        guard x2APICMode, index >= 0x800, index <= 0x8FF else { return (false, .none) }
        let offset = Int(index - 0x800) << 4
        if offset == Offset.commandLow {
            interruptCommandHigh = UInt32(truncatingIfNeeded: value >> 32)
            return (true, write(Offset.commandLow, UInt32(truncatingIfNeeded: value), now: now))
        }
        guard Self.x2APICWritable(offset, value) else { return (false, .none) }
        return (true, write(offset, UInt32(truncatingIfNeeded: value), now: now))
    }

    /// The APIC base MSR's x2APIC enable bit (the MSR handler owns the rest of IA32_APIC_BASE).
    public mutating func setX2APICMode(_ on: Bool) {
        x2APICMode = on
    }

    // MARK: Interrupts

    /// An interrupt arrives (from the IOAPIC, a self IPI or the timer). Vectors 0-15 are illegal: they set
    /// the "received illegal vector" error instead.
    public mutating func accept(vector: UInt8, level: Bool) {
        guard vector >= 16 else {
            errorStatus |= 0x40
            return
        }
        irr.set(Int(vector))
        if level { tmr.set(Int(vector)) } else { tmr.clear(Int(vector)) }
    }

    /// The vector to inject now, if any: the highest requested one whose priority class beats the PPR.
    public var deliverableVector: UInt8? {
        guard spurious & 0x100 != 0, let highest = irr.highest, UInt32(highest) & 0xF0 > processorPriority & 0xF0 else {
            return nil
        }
        return UInt8(highest)
    }

    /// The guest took `vector` (it was injected): it moves from IRR to ISR.
    public mutating func acknowledge(_ vector: UInt8) {
        irr.clear(Int(vector))
        isr.set(Int(vector))
    }

    public var processorPriority: UInt32 {
        let inService = UInt32(isr.highest ?? 0) & 0xF0
        return taskPriority & 0xF0 >= inService ? taskPriority : inService
    }

    private mutating func endOfInterrupt() -> Effect {
        guard let vector = isr.highest else { return .none }
        isr.clear(vector)
        return tmr.contains(vector) ? .levelEndOfInterrupt(vector: UInt8(vector)) : .none
    }

    private mutating func sendInterprocessorInterrupt(_ command: UInt32, destination: UInt32) {
        let deliveryMode = command >> 8 & 7, shorthand = command >> 18 & 3
        // One vCPU: only fixed interrupts to itself arrive (shorthand self or all, or its own ID).
        let toSelf = shorthand == 1 || shorthand == 2 || (shorthand == 0 && destination == id)
        if deliveryMode == 0 && toSelf { accept(vector: UInt8(truncatingIfNeeded: command), level: false) }
    }

    // MARK: Timer

    /// 0 one-shot, 1 periodic, 2 TSC deadline (3 is reserved and treated as one-shot).
    private var timerMode: UInt32 { localVectors[0] >> 17 & 3 }

    private var divisor: UInt64 {
        let encoded = (divideConfiguration & 3) | (divideConfiguration >> 1 & 4)
        return encoded == 7 ? 1 : 2 << UInt64(encoded)
    }

    /// TSC ticks per count of the timer (at most 2^20 * 128: no product below wraps).
    private var tscPerCount: UInt64 { tscPerBusTick * divisor }

    /// A periodic timer fires at most every 25,000 ticks of the bus (1 ms at the VMM's 25 MHz, the
    /// fastest tick Linux asks for), as KVM clamps it (min_timer_period_us, 200 us on hardware whose exits
    /// take a microsecond): a shorter period would leave the guest's vCPU nothing but timer exits. On
    /// Bochs at 4-5 x 10^7 instructions a second, where a timer interrupt and its EOI cost some 200 us of
    /// guest time, the hostile guest's 2,500 ticks (and 200 us) never let its loop finish.
    public static let minimumPeriodBusTicks: UInt64 = 25_000

    /// The periodic timer's period in counts: what the guest programmed, or the minimum.
    private var periodCounts: UInt64 {
        max(UInt64(initialCount), (Self.minimumPeriodBusTicks * tscPerBusTick + tscPerCount - 1) / tscPerCount)
    }

    private func currentCount(now: UInt64) -> UInt32 {
        guard initialCount != 0, timerMode != 2 else { return 0 }
        let elapsed = (now &- timerStart) / tscPerCount
        if timerMode == 1 { return UInt32(truncatingIfNeeded: periodCounts - elapsed % periodCounts) }
        return elapsed >= UInt64(initialCount) ? 0 : initialCount - UInt32(elapsed)
    }

    /// When the timer fires next (guest TSC), or nil if it is idle or masked.
    public var nextDeadline: UInt64? {
        guard localVectors[0] & 0x1_0000 == 0 else { return nil }
        if timerMode == 2 { return tscDeadline == 0 ? nil : tscDeadline }
        guard initialCount != 0 else { return nil }
        return timerStart &+ (timerMode == 1 ? periodCounts : UInt64(initialCount)) * tscPerCount
    }

    /// Fires the timer if its deadline has passed: raises its vector and re-arms a periodic timer.
    public mutating func advanceTimer(now: UInt64) {
        guard let deadline = nextDeadline, Int64(bitPattern: now &- deadline) >= 0 else { return }
        accept(vector: UInt8(truncatingIfNeeded: localVectors[0]), level: false)
        switch timerMode {
        case 2: tscDeadline = 0
        case 1:
            // Skip the periods the guest missed, so a late VMM does not fire a burst.
            let period = periodCounts * tscPerCount
            timerStart = deadline &+ (now &- deadline) / period * period
        default: initialCount = 0
        }
    }
}

/// 256 bits, one per vector.
struct Bits256 {
    private var words = InlineArray<4, UInt64>(repeating: 0)

    mutating func set(_ bit: Int) { words[bit >> 6] |= 1 << UInt64(bit & 63) }
    mutating func clear(_ bit: Int) { words[bit >> 6] &= ~(1 << UInt64(bit & 63)) }
    func contains(_ bit: Int) -> Bool { words[bit >> 6] & 1 << UInt64(bit & 63) != 0 }

    /// The register view: 32 bits at a time, word 0 = vectors 0-31.
    func word(_ index: Int) -> UInt32 { UInt32(truncatingIfNeeded: words[(index & 7) >> 1] >> UInt64((index & 1) * 32)) }

    var highest: Int? {
        for index in stride(from: 3, through: 0, by: -1) where words[index] != 0 {
            return index * 64 + 63 - words[index].leadingZeroBitCount
        }
        return nil
    }
}
