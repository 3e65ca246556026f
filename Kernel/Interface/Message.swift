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
    /// The flexpage of the caller's space where received memory is mapped (0 = accept none).
    public static let receiveWindow = 520
}

/// A typed item in a message: two words after the untyped words.
/// Capability transfer: word 0 = kind 1 | rights mask << 8, word 1 = selector in the sender's space.
/// Memory: word 0 = kind 2 (map) or 3 (grant) | hot spot (bits 12-63), word 1 = a flexpage of the sender's
/// space with the rights to pass on. The pages land in the receiver's window (UTCB `receiveWindow`): a send
/// flexpage smaller than the window goes where the hot spot points within it; a larger one gives only the
/// window-sized part around the hot spot. Map keeps the sender's pages (the new mappings derive from them);
/// grant moves them.
public enum TypedItem {
    public static let capabilityKind: UInt64 = 1
    public static let mapKind: UInt64 = 2
    public static let grantKind: UInt64 = 3
    /// I/O ports: word 1 = first port (bits 0-15) | count (bits 16-32). The sender must hold them all;
    /// the receiver gets them in its I/O permission bitmap (and the sender keeps them).
    public static let portsKind: UInt64 = 4

    public static func ports(first: UInt16, count: UInt32) -> (UInt64, UInt64) {
        (portsKind, UInt64(first) | UInt64(count) << 16)
    }

    public static func capability(_ selector: UInt64, rights: Rights) -> (UInt64, UInt64) {
        (capabilityKind | UInt64(rights.rawValue) << 8, selector)
    }

    public static func map(_ page: Flexpage, hotSpot: UInt64 = 0) -> (UInt64, UInt64) {
        ((hotSpot & ~0xFFF) | mapKind, page.raw)
    }

    public static func grant(_ page: Flexpage, hotSpot: UInt64 = 0) -> (UInt64, UInt64) {
        ((hotSpot & ~0xFFF) | grantKind, page.raw)
    }
}

/// Where the pages of a memory item go, by the rules above: source base, destination base, pages.
public struct MemoryPlacement: Equatable, Sendable {
    public var source: UInt64
    public var destination: UInt64
    public var pages: UInt64

    public init(source: UInt64, destination: UInt64, pages: UInt64) {
        self.source = source
        self.destination = destination
        self.pages = pages
    }

    /// Nil unless both flexpages lie wholly in user space, so `source + pages * 4096` and
    /// `destination + pages * 4096` never pass 2^47 (and never wrap) for any user-supplied item or window.
    public init?(send: Flexpage, window: Flexpage, hotSpot: UInt64) {
        guard send.isUserRange, window.isUserRange else { return nil }
        if send.order <= window.order {
            let offset = (hotSpot & (window.size - 1)) & ~(send.size - 1)
            self.init(source: send.base, destination: window.base + offset, pages: send.pages)
        } else {
            let offset = (hotSpot & (send.size - 1)) & ~(window.size - 1)
            self.init(source: send.base + offset, destination: window.base, pages: window.pages)
        }
    }
}

/// Labels of messages the kernel sends on a thread's behalf.
public enum KernelMessageLabel {
    /// A user fault delivered to the exception handler: MR0 vector, MR1 error code, MR2 RIP, MR3 RSP,
    /// MR4 CR2 (page faults), MR5 RFLAGS. Replying with label `resume` and MR0 = new RIP restarts the thread.
    public static let exception: UInt64 = 0xFFFF_FFFF_0001
    public static let resume: UInt64 = 1
    /// A page fault delivered to the thread's pager: MR0 fault address, MR1 access (PageRights: read,
    /// write or execute was attempted), MR2 RIP. The pager replies with a map or grant item (its whole
    /// address space is the receive window, the hot spot is the fault address); the thread then retries.
    public static let pageFault: UInt64 = 0xFFFF_FFFF_0002
    /// An interrupt fired: MR0 = its line (global system interrupt); the badge is the one given at binding.
    public static let interrupt: UInt64 = 0xFFFF_FFFF_0003
    /// A vCPU left its guest: `VCPUMessage.words` words laid out as `VCPUMessage` says (word 0 the transfer
    /// mask, word 1 the reason). The reply (any label) writes back the state its word 0 selects, may inject
    /// an event or request an interrupt window, and resumes the guest; a reply of fewer than
    /// `VCPUMessage.words` words resumes it unchanged.
    public static let vmExit: UInt64 = 0xFFFF_FFFF_0004
}
