import SwiftletABI
import VMMCore
import SwiftletUser

extension VirtualMachine {
    static let haltWakeVector: UInt64 = 0x30
    static let windowVector: UInt64 = 0x31

    /// HLT: the test guest halts with interrupts on and is woken by interrupt 0x30. Stepping over HLT ends
    /// the STI shadow it sat in, so the interruptibility is cleared with it. A guest that halts with
    /// interrupts off can never wake: it is stopped.
    mutating func hlt() -> Action {
        advance()
        guard guest.rflags & (1 << 9) != 0 else {
            log("vmm: \(name) halted with interrupts off after \(exitCount) exits; stopped")
            return .stop(failures: kind == .test ? 1 : 0)
        }
        guest.setInterruptibility(0, activity: 0)
        inject(interrupt: Self.haltWakeVector)
        return .resume([.ripAndLength, .interruptibility, .event])
    }

    /// The interrupt window the scratch device asked for is open: deliver its interrupt.
    mutating func interruptWindow() -> Action {
        guard devices.windowPending else { return .resume([]) }
        devices.windowPending = false
        inject(interrupt: Self.windowVector)
        return .resume([.event])
    }
}
