/// When the VMM may hand a guest an external interrupt: only one event enters per VM entry, an event the
/// exit interrupted goes first, and an interrupt waits while RFLAGS.IF is clear or an STI / MOV SS shadow
/// blocks it. Waiting means asking for an interrupt-window exit, so the interrupt is never lost and the
/// VMM never polls.
public enum InterruptInjection: Equatable {
    /// Inject nothing; no window needed.
    case nothing
    /// Re-inject the event whose delivery the exit interrupted (the exit message's event word), as it was.
    case reinject(event: UInt64, errorCode: UInt64)
    /// Inject external interrupt `vector` now.
    case inject(vector: UInt8)
    /// Hold the interrupt and ask for an exit as soon as the guest can take one.
    case openWindow

    /// Event word: vector 0-7, type 8-10 (0 = external interrupt), error code valid 11, valid 31.
    public static let valid: UInt64 = 1 << 31
    public static let interruptFlag: UInt64 = 1 << 9
    /// Interruptibility: blocking by STI (bit 0) or by MOV SS / POP SS (bit 1).
    public static let shadow: UInt64 = 0b11

    /// The decision at one exit: `interrupted` is the event word the exit reported as being delivered
    /// (0 if none), `pending` the highest vector the guest's interrupt controllers would deliver now.
    public static func decide(interrupted: UInt64, errorCode: UInt64, pending: UInt8?, rflags: UInt64,
                              interruptibility: UInt64) -> InterruptInjection {
        if interrupted & valid != 0 {
            return .reinject(event: interrupted, errorCode: errorCode)
        }
        guard let vector = pending else { return .nothing }
        guard rflags & interruptFlag != 0, interruptibility & shadow == 0 else { return .openWindow }
        return .inject(vector: vector)
    }

    /// The event word that injects external interrupt `vector`.
    public static func externalInterrupt(_ vector: UInt8) -> UInt64 {
        valid | UInt64(vector)
    }
}
