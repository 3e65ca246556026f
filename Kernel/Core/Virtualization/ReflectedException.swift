/// #DB and #AC in a guest: intercepted on both backends, as KVM does, because a guest can otherwise hang
/// the physical CPU with an endless chain of them during event delivery, where no instruction boundary
/// lets a host interrupt in (CVE-2015-5307: #AC while delivering #AC; CVE-2015-8104: #DB while delivering
/// #DB, e.g. a data breakpoint on the handler's IST stack). With the intercept every link of such a chain
/// is a VM exit, at which the kernel takes pending host interrupts and may schedule.
///
/// The kernel reflects them into the guest itself, without a message to the VMM: they are the guest's own
/// business (no VMM models them), the exit stays cheap, and no VMM can forget it. What the guest sees is
/// what it would see natively:
/// - #DB: on VMX an intercepted #DB does not touch DR6 or DR7.GD; the exit qualification has the DR6
///   bits it would have set, merged here as the CPU merges them (B0-B3 replaced, BD/BS/BT sticky, RTM and
///   bus-lock active low). SVM has written DR6 into the VMCB before the intercept (KVM's db_interception
///   takes it from there too; Bochs does not: `debugStatus(svmDR6:rflags:)`). On both, entering the handler clears DR7.GD (SDM 17.2.4). A #DB is reflected
///   as the trap or fault it was: RIP is where the CPU would push it; INT1/ICEBP keeps its event type and
///   length on VMX (privileged software exception) and is intercepted as an instruction on SVM, whose #DB
///   intercept leaves RIP ambiguous for it (as Xen found).
/// - #AC: a fault with error code 0; the RFLAGS pushed for a fault has RF set, which event injection does
///   not do by itself, so RF is set in the guest's RFLAGS first (as KVM does for every fault it injects).
/// - An event whose delivery the exception interrupted (IDT-vectoring information / EXITINTINFO) is not
///   re-injected: #DB and #AC are benign exceptions, which the CPU handles serially after any first event
///   (SDM table 6-5): the new exception is delivered, the first event is not (a fault recurs when the
///   instruction runs again). #AC while delivering #AC thus loops, exit by exit, as the CPU would.
public enum ReflectedException {
    public static let debug: UInt64 = 1, alignmentCheck: UInt64 = 17
    /// The exception-bitmap / exception-intercept bits.
    public static let interceptBits: UInt32 = 1 << 1 | 1 << 17

    /// Event types of the VMX interruption-information format (SVM's EVENTINJ uses 3 for exceptions too).
    public static let hardwareException: UInt64 = 3, privilegedSoftwareException: UInt64 = 5

    /// DR6 bits whose inactive value is 1 (the reserved ones, RTM and bus lock).
    public static let debugStatusActiveLow: UInt64 = 0xFFFF_0FF0
    /// DR7.GD: general detect, cleared when the #DB handler is entered.
    public static let generalDetect: UInt64 = 1 << 13
    /// RFLAGS.RF.
    public static let resumeFlag: UInt64 = 1 << 16

    /// The event to inject for an exit whose interruption information is `info` (VMX layout: vector 0-7,
    /// type 8-10, error code valid 11, valid 31); nil if it is not a #DB or #AC this layer reflects.
    /// The result is in the same layout, which is also SVM's EVENTINJ low word.
    public static func event(reflecting info: UInt64) -> UInt64? {
        guard info & (1 << 31) != 0 else { return nil }
        let vector = info & 0xFF, type = (info >> 8) & 7
        switch (vector, type) {
        case (debug, hardwareException): return debug | hardwareException << 8 | 1 << 31
        case (debug, privilegedSoftwareException): return debug | privilegedSoftwareException << 8 | 1 << 31
        case (alignmentCheck, hardwareException): return alignmentCheck | hardwareException << 8 | 1 << 11 | 1 << 31
        default: return nil
        }
    }

    /// DR6 after a #DB whose pending debug conditions are `pending` (positive polarity, as VMX's exit
    /// qualification and pending-debug-exceptions field give them: B0-B3, bus lock 11, BD 13, BS 14, RTM 16),
    /// from the DR6 the guest had (`previous`). B0-B3 are replaced, BD, BS and BT accumulate as the CPU
    /// never clears them, the active-low bits show the new conditions; bit 12 and the upper half read 0.
    public static func debugStatus(previous: UInt64, pending: UInt64) -> UInt64 {
        let conditions = pending & 0x0001_E80F
        var status = (previous & ~UInt64(0xF)) | debugStatusActiveLow | conditions
        status ^= conditions & debugStatusActiveLow
        return status & 0xFFFF_EFFF
    }

    /// DR6 of an SVM #DB intercept as the guest must see it. The CPU has written the conditions into the
    /// VMCB's DR6 already; Bochs's SVM does not. A #DB with no condition there and RFLAGS.TF set can
    /// only be a single step (ICEBP, the one #DB without a condition, is intercepted apart): BS is added.
    /// Bochs's missing breakpoint bits (B0-B3) cannot be reconstructed and stay missing.
    public static func debugStatus(svmDR6 dr6: UInt64, rflags: UInt64) -> UInt64 {
        dr6 & 0xE00F == 0 && rflags & 0x100 != 0 ? dr6 | 1 << 14 : dr6
    }

    /// DR7 when the #DB handler is entered.
    public static func debugControlOnEntry(_ dr7: UInt64) -> UInt64 {
        dr7 & ~generalDetect
    }

    /// RFLAGS for the injection of `event`: RF set for the #AC fault, as the CPU pushes it for faults.
    public static func flagsForInjection(_ rflags: UInt64, event: UInt64) -> UInt64 {
        event & 0xFF == alignmentCheck ? rflags | resumeFlag : rflags
    }
}
