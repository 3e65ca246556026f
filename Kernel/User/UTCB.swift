import SwiftletABI

/// The current thread's UTCB: message registers beyond MR3 and the capability receive slot.
public struct UTCB {
    public let words: UnsafeMutablePointer<UInt64>

    public init(address: UInt64) {
        words = UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!
    }

    public subscript(register index: Int) -> UInt64 {
        get { words[index] }
        nonmutating set { words[index] = newValue }
    }

    /// Where received memory is mapped (0: accept none).
    public var receiveWindow: Flexpage {
        get { Flexpage(raw: words[UTCBLayout.receiveWindow / 8]) }
        nonmutating set { words[UTCBLayout.receiveWindow / 8] = newValue.raw }
    }

    /// Where the next received capability goes (0: accept none).
    public var receiveSlot: UInt64 {
        get { words[UTCBLayout.receiveSlot / 8] }
        nonmutating set { words[UTCBLayout.receiveSlot / 8] = newValue }
    }
}
