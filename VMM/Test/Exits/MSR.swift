import SwiftletABI
import VMMCore

extension VirtualMachine {
    /// RDMSR/WRMSR (every MSR access exits). EFER and the SYSCALL MSRs are the vCPU's own state: the
    /// message carries them and the reply writes them back (`VCPUOwnMSRs`). The VMM's own MSR keeps what
    /// was written. Any other MSR raises #GP(0) in the guest, as a CPU does for an MSR it lacks.
    mutating func msr() -> Action {
        let (index, written) = VCPUOwnMSRs.decode(guest)
        var changed: TransferMask = [.generalA, .ripAndLength]
        switch VCPUOwnMSRs.access(index, isRead: reason == .rdmsr, value: written, in: guest) {
        case .read(let value): VCPUOwnMSRs.complete(guest, read: value)
        case .written(let parts): changed.formUnion(parts)
        case .generalProtection: return raiseGeneralProtection()
        case .notOwn:
            guard index == Devices.scratchMSR else { return raiseGeneralProtection() }
            if reason == .rdmsr { VCPUOwnMSRs.complete(guest, read: devices.msrValue) } else { devices.msrValue = written }
        }
        advance()
        return .resume(changed)
    }

    private func raiseGeneralProtection() -> Action {
        inject(exception: 13, errorCode: 0)
        return .resume([.event])
    }
}
