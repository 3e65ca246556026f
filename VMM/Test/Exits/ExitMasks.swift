import SwiftletABI
import SwiftletUser

/// Which guest state each exit's message carries (NOVA's MTD per portal): little for the frequent exits,
/// everything where the handler needs to decode or restore — and on every exit what an injection decision
/// needs (`TransferMask.injectionState`: RFLAGS, interruptibility; the kernel adds an interrupted event).
enum ExitMasks {
    static let cpuid: TransferMask = TransferMask([.generalA, .generalB, .ripAndLength]).union(.injectionState)
    static let io: TransferMask = TransferMask([.generalA, .generalB, .ripAndLength, .qualification]).union(.injectionState)
    static let msr: TransferMask = TransferMask([.generalA, .ripAndLength, .efer, .syscallMSRs]).union(.injectionState)
    static let hlt: TransferMask = TransferMask([.ripAndLength]).union(.injectionState)
    /// What a CPUID reply writes back: the results and RIP, nothing of the injection state (writing that
    /// back would make the kernel store it into the VMCS/VMCB at every entry).
    static let cpuidReply: TransferMask = [.generalA, .generalB, .ripAndLength]

    static func install(on vcpu: UInt64) -> SyscallError {
        let settings: [(ExitReason, TransferMask)] = [(.cpuid, cpuid), (.io, io), (.rdmsr, msr), (.wrmsr, msr), (.hlt, hlt)]
        for (reason, mask) in settings {
            let error = SystemCall.thread(vcpu, .setExitMask, (UInt64(reason.rawValue), mask.rawValue, 0, 0)).error
            guard error == .ok else { return error }
        }
        return .ok
    }
}
