/// A message tag: what a message contains. Bits 0-6 untyped word count (0-64), bits 7-12 typed item count,
/// bit 13 `transferFailed` (set by the kernel on delivery when a capability could not be placed),
/// bits 16-63 the label, free for the protocol.
public struct MessageTag: Equatable, Sendable {
    public var raw: UInt64

    public static let maximumWords = 64
    public static let registerWords = 4

    public init(raw: UInt64) { self.raw = raw }

    public init(label: UInt64, words: Int = 0, items: Int = 0) {
        raw = (label << 16) | UInt64(items & 0x3F) << 7 | UInt64(words & 0x7F)
    }

    public var words: Int { Int(raw & 0x7F) }
    public var items: Int { Int((raw >> 7) & 0x3F) }
    public var label: UInt64 { raw >> 16 }
    public var transferFailed: Bool { raw & (1 << 13) != 0 }

    /// Untyped words plus two words per typed item must fit in the message registers.
    public var isValid: Bool { words + 2 * items <= MessageTag.maximumWords }

    public func with(transferFailed: Bool) -> MessageTag {
        MessageTag(raw: transferFailed ? raw | (1 << 13) : raw & ~(1 << 13))
    }
}

/// A timeout: zero (never block), infinite, or relative in microseconds up to `maximumMicroseconds`.
public struct Timeout: Equatable, Sendable {
    public var raw: UInt64

    public static let zero = Timeout(raw: 0)
    public static let infinite = Timeout(raw: UInt64.max)
    /// About 12.7 days; larger relative values are rejected (`invalidTimeout`).
    public static let maximumMicroseconds: UInt64 = 1 << 40

    public init(raw: UInt64) { self.raw = raw }

    public static func microseconds(_ value: UInt64) -> Timeout { Timeout(raw: value) }

    public var isZero: Bool { raw == 0 }
    public var isInfinite: Bool { raw == UInt64.max }
    public var isValid: Bool { isInfinite || raw <= Timeout.maximumMicroseconds }

    /// Timer ticks to wait at `hz`, rounded up so a timeout never fires early.
    public func ticks(hz: UInt64) -> UInt64 {
        (raw * hz + 999_999) / 1_000_000
    }
}

/// Layout of the user thread control block (UTCB): one page per thread, mapped in its task.
public enum UTCBLayout {
    public static let size: UInt64 = 4096
    /// Message registers MR0-MR63, one word each. MR0-MR3 travel in registers; the kernel copies the rest.
    public static let messageRegisters = 0
    /// The slot where a capability received in a message is placed (0 = accept none).
    public static let receiveSlot = 512
    /// The kernel stores the label of a fault message's reason here for exception handlers (spare).
    public static let reserved = 520
}

/// A typed item in a message: two words after the untyped words.
/// Capability transfer: word 0 = kind 1 | rights mask << 8, word 1 = selector in the sender's space.
public enum TypedItem {
    public static let capabilityKind: UInt64 = 1
}

/// Labels of messages the kernel sends on a thread's behalf.
public enum KernelMessageLabel {
    /// A user fault delivered to the exception handler: MR0 vector, MR1 error code, MR2 RIP, MR3 RSP,
    /// MR4 CR2 (page faults), MR5 RFLAGS. Replying with label `resume` and MR0 = new RIP restarts the thread.
    public static let exception: UInt64 = 0xFFFF_FFFF_0001
    public static let resume: UInt64 = 1
}
