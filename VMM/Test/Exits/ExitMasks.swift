import SwiftletABI
import SwiftletUser

/// Which guest state each exit's message carries (NOVA's MTD per portal): little for the frequent exits,
/// everything where the handler needs to decode or restore.
enum ExitMasks {
    static let cpuid: TransferMask = [.generalA, .generalB, .ripAndLength]
    static let io: TransferMask = [.generalA, .generalB, .ripAndLength, .rflags, .qualification]
    static let msr: TransferMask = [.generalA, .ripAndLength, .efer, .syscallMSRs]
    static let hlt: TransferMask = [.ripAndLength, .rflags, .interruptibility]

    static func install(on vcpu: UInt64) -> SyscallError {
        let settings: [(ExitReason, TransferMask)] = [(.cpuid, cpuid), (.io, io), (.rdmsr, msr), (.wrmsr, msr), (.hlt, hlt)]
        for (reason, mask) in settings {
            let error = SystemCall.thread(vcpu, .setExitMask, (UInt64(reason.rawValue), mask.rawValue, 0, 0)).error
            guard error == .ok else { return error }
        }
        return .ok
    }
}
