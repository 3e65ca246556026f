import SwiftletABI

/// An event whose delivery into the guest an exit interrupted (VMX IDT-vectoring information, SVM
/// EXITINTINFO), in the neutral layout of `GuestState.event` (the VMX one: vector bits 0-7, type bits 8-10,
/// error code valid bit 11, valid bit 31). Neither CPU delivers it again by itself: the kernel re-injects it
/// at the next entry, unless the VMM's reply injects an event of its own — the VMM then had this one in its
/// exit message (the kernel adds `.event` to the message whenever one is interrupted) and decides.
public struct InterruptedEvent: Equatable, Sendable {
    /// 0: none.
    public var information: UInt64
    public var errorCode: UInt64
    /// Software interrupts and exceptions: the instruction's length, for the return address pushed.
    public var instructionLength: UInt64
    /// False: only handed to the VMM. A task switch exit during delivery through a task gate is the
    /// delivery itself: the VMM that emulates the switch finishes it (SDM 25.4.2; KVM does not re-inject).
    public var reinject = true

    public static let none = InterruptedEvent(information: 0, errorCode: 0, instructionLength: 0)

    public init(information: UInt64, errorCode: UInt64, instructionLength: UInt64) {
        self.information = information
        self.errorCode = errorCode
        self.instructionLength = instructionLength
    }

    /// As recorded at an exit for `reason`.
    public func at(_ reason: ExitReason) -> InterruptedEvent {
        var event = self
        event.reinject = reason != .taskSwitch
        return event
    }

    public var isValid: Bool { information & EventType.valid != 0 }
    public var type: UInt64 { (information >> 8) & 7 }

    /// Interruption types (VMX; SVM's EVENTINJ/EXITINTINFO use 0, 2, 3, 4 the same way).
    public enum EventType {
        public static let external: UInt64 = 0, nmi: UInt64 = 2, hardwareException: UInt64 = 3
        public static let softwareInterrupt: UInt64 = 4, privilegedSoftwareException: UInt64 = 5
        public static let softwareException: UInt64 = 6
        public static let valid: UInt64 = 1 << 31, errorCodeValid: UInt64 = 1 << 11
        /// Vector, type, error-code valid, valid: what an entry may be given (VMX bit 12 is undefined).
        public static let architectural: UInt64 = 0x8000_0FFF
    }

    /// VMX: the IDT-vectoring information and error code fields, and the VM-exit instruction length, which
    /// for a software event holds its instruction's length (or, for an injected one, the entry's).
    public static func fromVMX(vectoring: UInt64, errorCode: UInt64, exitInstructionLength: UInt64) -> InterruptedEvent {
        guard vectoring & EventType.valid != 0 else { return .none }
        let information = vectoring & EventType.architectural
        let type = (information >> 8) & 7
        let software = type == EventType.softwareInterrupt || type == EventType.privilegedSoftwareException
            || type == EventType.softwareException
        return InterruptedEvent(information: information,
                                errorCode: information & EventType.errorCodeValid != 0 ? errorCode & 0xFFFF_FFFF : 0,
                                instructionLength: software ? exitInstructionLength & 0xF : 0)
    }

    /// SVM: EXITINTINFO (error code in bits 32-63), and the event this entry injected (EVENTINJ, 0: none).
    /// SVM gives no instruction length: a software event the guest's own INTn, INT3 or INTO raised is not
    /// re-injected — RIP still points at the instruction, which raises it again when re-executed (KVM does
    /// the same). A software event the kernel injected is injected again as it was.
    public static func fromSVM(exitInterruptionInfo info: UInt64, injected: UInt64) -> InterruptedEvent {
        let information = info & EventType.architectural
        guard information & EventType.valid != 0 else { return .none }
        let type = (information >> 8) & 7, vector = information & 0xFF
        let software = type == EventType.softwareInterrupt || (type == EventType.hardwareException && (vector == 3 || vector == 4))
        if software && information != injected & EventType.architectural { return .none }
        return InterruptedEvent(information: information,
                                errorCode: information & EventType.errorCodeValid != 0 ? info >> 32 : 0,
                                instructionLength: 0)
    }
}

/// What the next VM entry injects.
public struct EntryInjection: Equatable, Sendable {
    public var information: UInt64
    public var errorCode: UInt64
    public var instructionLength: UInt64
    /// VMX: an NMI whose delivery was interrupted left "blocking by NMI" set in the guest's
    /// interruptibility; VM entry refuses to inject an NMI then (SDM 26.3.1.5): clear it (as KVM does).
    public var clearNMIBlocking: Bool

    public init(information: UInt64, errorCode: UInt64, instructionLength: UInt64, clearNMIBlocking: Bool) {
        self.information = information
        self.errorCode = errorCode
        self.instructionLength = instructionLength
        self.clearNMIBlocking = clearNMIBlocking
    }

    /// The decision: the VMM's injection (from its reply) wins; else the interrupted event is delivered
    /// again (unless it is only handed over); else nothing.
    public static func decide(vmmEvent: UInt64, vmmErrorCode: UInt64, vmmInstructionLength: UInt64,
                              interrupted: InterruptedEvent) -> EntryInjection? {
        if vmmEvent & InterruptedEvent.EventType.valid != 0 {
            return EntryInjection(information: vmmEvent, errorCode: vmmErrorCode, instructionLength: vmmInstructionLength,
                                  clearNMIBlocking: false)
        }
        guard interrupted.isValid, interrupted.reinject else { return nil }
        return EntryInjection(information: interrupted.information, errorCode: interrupted.errorCode,
                              instructionLength: interrupted.instructionLength,
                              clearNMIBlocking: interrupted.type == InterruptedEvent.EventType.nmi)
    }
}
