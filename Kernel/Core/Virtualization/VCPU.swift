import SwiftletABI

public typealias VCPUPointer = UnsafeMutablePointer<VCPU>

/// A virtual CPU: the architecture-neutral half of a vCPU thread (`Thread.vcpu`). It keeps the guest
/// state between an exit and the next entry, which parts of it the VMM's reply changed, and the exit the
/// VMM is handling. The backend half (VMCS or VMCB, VPID or ASID) is `control` and the fields below it.
///
/// Invariants:
/// - At an exit the backend reads into `state` only what the exit's message mask selects; the rest of
///   `state` may be stale (the VMCS/VMCB has it).
/// - `dirty` ⊆ what a reply wrote; the backend writes exactly those parts before the next entry.
/// - `pendingEvent` is valid (bit 31) only between a reply that injects and the entry that delivers it.
/// - `interrupted` is the event the last exit caught in delivery (or a recall before entry held back): it is
///   in every exit message until the next entry, which delivers it again unless the VMM injects its own.
/// - `recallPending` stands from a recall until the `recall` exit is sent, however many recalls come.
public struct VCPU {
    /// First, and its general registers first in it: the entry stubs load and store them by address.
    public var state = GuestState()
    public var dirty: TransferMask = []
    public var reason: ExitReason = .startup
    public var rawReason: UInt32 = 0
    /// The event to inject at the next entry (GuestState.event format), and its error code.
    public var pendingEvent: UInt64 = 0
    public var pendingErrorCode: UInt64 = 0
    public var interruptWindowRequested = false
    /// Backend: the interrupt-window exit is armed in the VMCS/VMCB.
    public var interruptWindowArmed = false
    /// The transfer mask of each exit reason's message, indexed by `maskIndex`.
    public var masks = InlineArray<32, UInt64>(repeating: VCPU.everything.rawValue)
    /// Set once the startup message went out.
    public var started = false
    /// DR0-3 and DR6 while another vCPU's are in the CPU (`DebugRegisters`): the guest's own.
    public var debugRegisters = GuestDebugRegisters()
    /// The VMM asked for the vCPU back (`ThreadOperation.recall`); not delivered yet.
    public var recallPending = false
    /// The event whose delivery the last exit interrupted (`InterruptedEvent`).
    public var interrupted = InterruptedEvent.none

    /// The VM task this vCPU runs in (its page tables are the EPT/NPT).
    public var machine: TaskPointer?
    /// Backend: physical address of the VMCS or VMCB; VPID or ASID; VMLAUNCH done.
    public var control: PhysicalAddress = 0
    public var tag: UInt32 = 0
    public var launched = false
    /// VMX: the host CR3 the VMCS holds.
    public var hostAddressSpace: PhysicalAddress = 0
    /// The VM's TLB generation this vCPU last flushed for (`Task.guestTLBGeneration`).
    public var flushedGeneration: UInt64 = 0

    public init() {}

    /// `state` in place (it is the first field).
    @inline(__always)
    public static func state(of vcpu: VCPUPointer) -> UnsafeMutablePointer<GuestState> {
        UnsafeMutableRawPointer(vcpu).assumingMemoryBound(to: GuestState.self)
    }

    /// Everything an exit message can carry (the default mask of every reason: injection state included).
    public static let everything = TransferMask(rawValue: (1 << 17) - 1)


    public static func maskIndex(_ reason: ExitReason) -> Int {
        Int(reason.rawValue) < 31 ? Int(reason.rawValue) : 31
    }

    /// `mutating` only so a call through a pointer reads in place instead of copying the whole VCPU.
    public mutating func mask(for reason: ExitReason) -> TransferMask {
        TransferMask(rawValue: masks[VCPU.maskIndex(reason)])
    }

    /// ThreadOperation.setExitMask: `reason` 0 sets every reason's mask.
    public mutating func setMask(_ mask: TransferMask, for reason: UInt64) -> Bool {
        let all = mask.intersection(VCPU.everything).rawValue
        if reason == 0 {
            for index in 0..<32 { masks[index] = all }
            return true
        }
        guard reason <= UInt64(UInt16.max), let known = ExitReason(rawValue: UInt16(reason)) else { return false }
        masks[VCPU.maskIndex(known)] = all
        return true
    }

    // MARK: Recall and event delivery

    /// ThreadOperation.recall: the vCPU exits with reason `recall` before it runs another guest instruction.
    /// On one CPU the caller runs, so the vCPU is not in guest mode now: it is ready, preempted or waiting
    /// for its VMM's reply, and its next entry is turned into the recall exit (`takeRecall`).
    public mutating func requestRecall() {
        recallPending = true
    }

    /// Before an entry and after a host interrupt taken in guest mode: true if the recall exit is due now
    /// (instead of entering). An event the VMM's reply injects is held back as the interrupted event, so
    /// the recall message shows it and the next entry still delivers it (unless that reply injects another).
    @inline(__always)
    public mutating func takeRecall() -> Bool {
        guard recallPending else { return false }
        return deliverRecall()
    }

    private mutating func deliverRecall() -> Bool {
        recallPending = false
        if pendingEvent & InterruptedEvent.EventType.valid != 0 {
            interrupted = InterruptedEvent(information: pendingEvent, errorCode: pendingErrorCode,
                                           instructionLength: state.instructionLength)
            pendingEvent = 0
        }
        return true
    }

    /// The entry's quick test before `entryInjection`: nothing to inject on the common path. (After an
    /// entry `interrupted` is none until an exit records one.)
    @inline(__always)
    public var hasEventToInject: Bool { pendingEvent | interrupted.information != 0 }

    /// What this entry injects (the backend writes it): the VMM's event, else the interrupted one. Both are
    /// consumed: the exit after this entry records afresh what it interrupted.
    public mutating func entryInjection() -> EntryInjection? {
        let injection = EntryInjection.decide(vmmEvent: pendingEvent, vmmErrorCode: pendingErrorCode,
                                              vmmInstructionLength: state.instructionLength, interrupted: interrupted)
        pendingEvent = 0
        interrupted = .none
        return injection
    }

    /// The mask of the exit message for `reason`: the VMM's choice, plus the event when one was interrupted
    /// (so no VMM that injects its own loses it unseen).
    @inline(__always)
    public mutating func messageMask() -> TransferMask {
        let chosen = mask(for: reason)
        return interrupted.isValid ? chosen.union(.event) : chosen
    }

    /// After the backend read the message's state: the parts only the kernel knows.
    @inline(__always)
    public mutating func completeMessage(_ mask: TransferMask) {
        if mask.contains(.event) || reason == .recall { completeRareParts(mask) }
    }

    private mutating func completeRareParts(_ mask: TransferMask) {
        if mask.contains(.event) {
            state.event = interrupted.information
            state.eventErrorCode = interrupted.errorCode
        }
        if reason == .recall {
            // No instruction exited: nothing to step over, nothing to qualify.
            state.instructionLength = 0
            state.qualification = 0
            state.guestPhysical = 0
        }
    }

    /// An XSETBV exit, answered by the kernel: XCR0 is not switched (the guest runs with the host's, and
    /// the VMM's CPUID hides XSAVE), so no guest may write it. As a CPU does: #UD while the guest's
    /// CR4.OSXSAVE is clear (hardware raises that before the exit, but a backend may not), else #GP(0)
    /// for every value. The instruction is not stepped over; the VMM never sees the exit.
    public mutating func refuseXSETBV(guestCR4 cr4: UInt64) {
        let osxsave: UInt64 = 1 << 18
        pendingEvent = cr4 & osxsave == 0 ? InterruptedEvent.EventType.valid | (3 << 8) | 6
            : InterruptedEvent.EventType.valid | InterruptedEvent.EventType.errorCodeValid | (3 << 8) | 13
        pendingErrorCode = 0
    }

    /// Why the kernel refuses to enter with what the VMM's reply set (nil: enter). These are the checks
    /// both backends need to give the same answer; VMX and SVM check the rest and fail the entry.
    public enum Refusal: UInt32 {
        case nonCanonicalRIP = 1, codeSegmentNotPresent = 2, reservedControlRegisterBits = 3, reservedEventType = 4
        /// CR0.PG without PE, or NW without CD: combinations the architecture forbids.
        case inconsistentControlRegisters = 5
        /// EFER bits no CPU defines (only SCE, LME, LMA, NXE and SVME/LMSLE/FFXSR/TCE exist).
        case reservedEFERBits = 6
        /// An activity state other than active (0) or HLT (1): in shutdown or wait-for-SIPI the CPU blocks
        /// host interrupts and the preemption timer does not end wait-for-SIPI — the host CPU would hang.
        case unsupportedActivityState = 7
        /// The raw code of the `invalidGuestState` exit that reports it.
        public var raw: UInt32 { 0xFFFF_0000 | rawValue }
    }

    public var refusal: Refusal? {
        mutating get { check() }
    }

    private mutating func check() -> Refusal? {
        if dirty.contains(.ripAndLength) {
            let top = state.rip >> 47
            if top != 0 && top != 0x1_FFFF { return .nonCanonicalRIP }
        }
        if dirty.contains(.codeStackSegments) && state.cs.attributes & 0x80 == 0 { return .codeSegmentNotPresent }
        if dirty.contains(.controlRegisters) {
            if state.cr0 >> 32 != 0 || state.cr4 >> 32 != 0 { return .reservedControlRegisterBits }
            let paging = state.cr0 & (1 << 31) != 0, protected = state.cr0 & 1 != 0
            let notWriteThrough = state.cr0 & (1 << 29) != 0, cacheDisabled = state.cr0 & (1 << 30) != 0
            if (paging && !protected) || (notWriteThrough && !cacheDisabled) { return .inconsistentControlRegisters }
        }
        if dirty.contains(.efer) && state.efer & ~UInt64(0xFD01) != 0 { return .reservedEFERBits }
        if dirty.contains(.interruptibility) && state.activity > 1 { return .unsupportedActivityState }
        if pendingEvent != 0 {
            let type = (pendingEvent >> 8) & 7
            if type == 1 || type == 7 { return .reservedEventType }
        }
        return nil
    }

    /// The reply's state: what its mask selects is loaded into `state` and marked for the backend;
    /// an event in it is queued for injection, an interrupt-window request remembered.
    /// No user value reaches a trapping operation unchecked: every word of a reply is taken as it is
    /// (masks and shifts only); what no CPU could enter is refused by `refusal`, the rest by VM entry.
    public mutating func acceptReply(_ words: UnsafePointer<UInt64>) {
        let mask = TransferMask(rawValue: words[VCPUMessage.mask])
        VCPUMessage.load(&state, mask: mask.intersection(VCPU.everything), from: words)
        dirty.formUnion(mask.intersection(VCPU.everything).subtracting([.event, .qualification]))
        if mask.contains(.event) && state.event & (1 << 31) != 0 {
            // Only the architectural bits: vector, type, error-code valid, valid.
            pendingEvent = state.event & 0x8000_0FFF
            pendingErrorCode = state.eventErrorCode & 0xFFFF_FFFF
        }
        // Sticky: the request stands across other exits until the window exit comes.
        if mask.contains(.requestInterruptWindow) { interruptWindowRequested = true }
    }
}
