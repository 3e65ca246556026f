/// Rights on memory a task holds and may pass on (never more than it holds).
public struct PageRights: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = PageRights(rawValue: 1 << 0)
    public static let write = PageRights(rawValue: 1 << 1)
    public static let execute = PageRights(rawValue: 1 << 2)
    public static let all: PageRights = [.read, .write, .execute]
}

/// A flexpage: a naturally aligned power-of-two region of an address space (at least one 4 KiB page),
/// with rights. Encoded in one word: base (bits 12-63) | log2(size) (bits 4-9) | rights (bits 0-2).
public struct Flexpage: Equatable, Sendable {
    public var raw: UInt64

    public static let minimumOrder = 12
    public static let maximumOrder = 47
    /// The end of the lower half, where user space ends (2^47): the largest flexpage is all of it.
    public static let userSpaceEnd: UInt64 = 1 << 47

    public init(raw: UInt64) { self.raw = raw }

    public init(base: UInt64, order: Int, rights: PageRights) {
        raw = (base & ~0xFFF) | UInt64(order & 0x3F) << 4 | UInt64(rights.rawValue & 0x7)
    }

    public var base: UInt64 { raw & ~0xFFF }
    public var order: Int { Int((raw >> 4) & 0x3F) }
    public var rights: PageRights { PageRights(rawValue: UInt8(raw & 0x7)) }
    public var size: UInt64 { 1 << UInt64(order) }
    public var pages: UInt64 { size >> 12 }

    /// Order within limits and base aligned to the size.
    public var isValid: Bool {
        order >= Flexpage.minimumOrder && order <= Flexpage.maximumOrder && base & (size - 1) == 0
    }

    /// Valid and wholly inside user space. A valid flexpage is aligned to its size, so one that starts
    /// below `userSpaceEnd` also ends at or below it: `base + size` can neither wrap nor leave user space.
    /// (Base 0xFFFF_FFFF_FFFF_F000 with order 12 is valid, but ends at 2^64.)
    public var isUserRange: Bool { isValid && base < Flexpage.userSpaceEnd }

    /// The first address after the flexpage (only meaningful, and never wrapping, when `isUserRange`).
    public var end: UInt64 { base &+ size }
}
