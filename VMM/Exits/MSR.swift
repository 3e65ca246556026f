import SwiftletABI

extension VirtualMachine {
    /// RDMSR/WRMSR (every MSR access exits): the VMM's own MSR keeps what was written; any other MSR
    /// raises #GP(0) in the guest, as a CPU does for an MSR it lacks.
    mutating func msr() -> Action {
        let index = UInt32(truncatingIfNeeded: state.rcx)
        guard index == Devices.scratchMSR else {
            inject(exception: 13, errorCode: 0)
            return .resume([.event])
        }
        if reason == .rdmsr {
            state.rax = devices.msrValue & 0xFFFF_FFFF
            state.rdx = devices.msrValue >> 32
        } else {
            devices.msrValue = (state.rdx & 0xFFFF_FFFF) << 32 | (state.rax & 0xFFFF_FFFF)
        }
        advance()
        return .resume([.generalA, .ripAndLength])
    }
}
