import SwiftletABI
import VMMCore
import TestGuest

extension VirtualMachine {
    /// The vCPU's first message: set the whole initial state (64-bit mode at the image's first byte).
    mutating func startup() -> Action {
        initial = LongMode.state(entry: UInt64(TEST_GUEST_LOAD))
        spinStart = memory.load64(UInt64(SPIN_COUNTER)) ?? 0
        guest.set(initial, LongMode.mask)
        return .resume(LongMode.mask)
    }
}
