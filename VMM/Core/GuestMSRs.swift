/// The model-specific registers a Linux guest uses beyond the vCPU state the kernel carries in the exit
/// message (EFER, the SYSCALL MSRs): the values the VMM keeps, the device changes writes imply, and
/// #GP for every MSR the VMM does not model (counted, so a boot shows what the guest looked for).
public struct GuestMSRs {
    public enum Index {
        public static let tsc: UInt32 = 0x10, apicBase: UInt32 = 0x1B, microcodeRevision: UInt32 = 0x8B
        public static let mtrrCapabilities: UInt32 = 0xFE, miscEnable: UInt32 = 0x1A0, pat: UInt32 = 0x277
        public static let mtrrDefaultType: UInt32 = 0x2FF
        /// Variable-range base/mask pairs and the fixed-range registers.
        public static let mtrrVariable: ClosedRange<UInt32> = 0x200...0x20F
        public static let mtrrFixed: [UInt32] = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26A, 0x26B, 0x26C, 0x26D, 0x26E, 0x26F]
    }

    public private(set) var apicBase: UInt64 = 0xFEE0_0000 | 1 << 11 | 1 << 8     // enabled, BSP, xAPIC mode
    public private(set) var pat: UInt64 = 0x0007_0406_0007_0406                    // the power-on PAT
    /// Enabled, fixed ranges off, default type write-back: all RAM is WB without a BIOS to program them.
    public private(set) var mtrrDefaultType: UInt64 = 0x806
    private var mtrrVariable = InlineArray<16, UInt64>(repeating: 0)
    private var mtrrFixed = InlineArray<11, UInt64>(repeating: 0)
    public private(set) var miscEnable: UInt64 = 1                               // fast strings
    public private(set) var kvmSystemTime: UInt64 = 0
    public private(set) var kvmWallClock: UInt64 = 0
    /// Accesses to MSRs the VMM does not model, answered with #GP.
    public private(set) var unknownAccesses = 0

    /// `x2APIC`: the APIC starts in x2APIC mode, as firmware may leave it (Linux then never uses the
    /// xAPIC's MMIO page).
    public init(x2APIC: Bool = false) {
        if x2APIC { apicBase |= 1 << 10 }
    }

    /// A reset: every MSR as at power-on (kvmclock's pages forgotten, so nothing writes the old boot's),
    /// the count of unmodelled accesses kept (the VMM's summary of the whole run).
    public mutating func reset(x2APIC: Bool) {
        let unknown = unknownAccesses
        self = GuestMSRs(x2APIC: x2APIC)
        unknownAccesses = unknown
    }

    public enum Effect: Equatable {
        case none
        /// IA32_APIC_BASE's x2APIC bit changed.
        case x2APICMode(Bool)
        /// The guest named (or disabled, bit 0 clear) its kvmclock page: write it now and keep it current.
        case systemTime(UInt64)
        /// The guest asks for the wall clock at this guest-physical address: write it once.
        case wallClock(UInt64)
    }

    /// nil: #GP. `tsc` is the guest's TSC now.
    public mutating func read(_ index: UInt32, tsc: UInt64) -> UInt64? {
        switch index {
        case Index.tsc: return tsc
        case Index.apicBase: return apicBase
        case Index.microcodeRevision: return 0
        case Index.mtrrCapabilities: return 0x508                                 // WC, fixed ranges, 8 variable
        case Index.mtrrDefaultType: return mtrrDefaultType
        case Index.mtrrVariable: return mtrrVariable[Int(index - Index.mtrrVariable.lowerBound)]
        case Index.miscEnable: return miscEnable
        case Index.pat: return pat
        case KVMClock.systemTimeMSR, KVMClock.oldSystemTimeMSR: return kvmSystemTime
        case KVMClock.wallClockMSR, KVMClock.oldWallClockMSR: return kvmWallClock
        default:
            if let fixed = Index.mtrrFixed.firstIndex(of: index) { return mtrrFixed[fixed] }
            unknownAccesses += 1
            return nil
        }
    }

    /// nil: #GP (an unmodelled MSR, or a reserved bit set).
    public mutating func write(_ index: UInt32, _ value: UInt64) -> Effect? {
        switch index {
        case Index.tsc, Index.microcodeRevision:
            return Effect.none                       // a TSC write is not honoured: every vCPU shares the host's
        case Index.apicBase:
            // The base address stays where the MADT says; only the x2APIC bit may change (not back to xAPIC
            // without disabling, which Linux never does).
            guard value & ~UInt64(0xFFFF_F000 | 1 << 11 | 1 << 10 | 1 << 8) == 0, value & 0xFFFF_F000 == 0xFEE0_0000,
                  value & 1 << 11 != 0 else { return nil }
            let x2APIC = value & 1 << 10 != 0
            let changed = x2APIC != (apicBase & 1 << 10 != 0)
            apicBase = value | 1 << 8
            return changed ? .x2APICMode(x2APIC) : Effect.none
        case Index.mtrrDefaultType:
            guard value & ~UInt64(0xCFF) == 0 else { return nil }
            mtrrDefaultType = value
        case Index.mtrrVariable: mtrrVariable[Int(index - Index.mtrrVariable.lowerBound)] = value
        case Index.miscEnable: miscEnable = value
        case Index.pat:
            // Each of the 8 entries must be a valid memory type (0, 1, 4, 5, 6, 7).
            for entry in 0..<8 {
                let type = value >> (8 * UInt64(entry)) & 0xFF
                if type == 2 || type == 3 || type > 7 { return nil }
            }
            pat = value
        case KVMClock.systemTimeMSR, KVMClock.oldSystemTimeMSR:
            kvmSystemTime = value
            return .systemTime(value)
        case KVMClock.wallClockMSR, KVMClock.oldWallClockMSR:
            kvmWallClock = value
            return .wallClock(value)
        default:
            if let fixed = Index.mtrrFixed.firstIndex(of: index) {
                mtrrFixed[fixed] = value
                return Effect.none
            }
            unknownAccesses += 1
            return nil
        }
        return Effect.none
    }
}
