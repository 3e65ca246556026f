import SwiftletABI

extension VirtualMachine {
    /// RDMSR/WRMSR (every MSR access exits): the VMM's own MSR keeps what was written; any other MSR
    /// raises #GP(0) in the guest, as a CPU does for an MSR it lacks.
    mutating func msr() -> Action {
        let index = UInt32(truncatingIfNeeded: guest.rcx)
        guard index == Devices.scratchMSR else {
            inject(exception: 13, errorCode: 0)
            return .resume([.event])
        }
        if reason == .rdmsr {
            guest.rax = devices.msrValue & 0xFFFF_FFFF
            guest.rdx = devices.msrValue >> 32
        } else {
            devices.msrValue = (guest.rdx & 0xFFFF_FFFF) << 32 | (guest.rax & 0xFFFF_FFFF)
        }
        advance()
        return .resume([.generalA, .ripAndLength])
    }
}
