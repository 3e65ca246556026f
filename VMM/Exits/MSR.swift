import SwiftletABI
import VMMCore

extension VirtualMachine {
    /// RDMSR/WRMSR (every MSR access exits). EFER and the SYSCALL MSRs are the vCPU's own state: the
    /// message carries them and the reply writes them back. The VMM's own MSR keeps what was written. Any
    /// other MSR raises #GP(0) in the guest, as a CPU does for an MSR it lacks.
    mutating func msr() -> Action {
        let index = UInt32(truncatingIfNeeded: guest.rcx)
        let written = (guest.rdx & 0xFFFF_FFFF) << 32 | (guest.rax & 0xFFFF_FFFF)
        let isRead = reason == .rdmsr
        var value: UInt64 = 0
        var changed: TransferMask = []
        switch index {
        case Devices.scratchMSR:
            if isRead { value = devices.msrValue } else { devices.msrValue = written }
        case 0xC000_0080:
            // EFER: the guest may turn SCE and NXE on or off; LME/LMA stay as the VMM set them.
            if isRead {
                value = guest.efer
            } else {
                guard written & ~UInt64(0xD01) == 0 else { return raiseGeneralProtection() }
                guest.efer = (guest.efer & ~UInt64(0x801)) | (written & 0x801)
                changed = .efer
            }
        case 0xC000_0081...0xC000_0084, 0xC000_0102:
            let slot = index == 0xC000_0102 ? 4 : Int(index - 0xC000_0081)
            if isRead {
                value = guest.syscallMSR(slot)
            } else {
                guest.setSyscallMSR(slot, written)
                changed = .syscallMSRs
            }
        default:
            return raiseGeneralProtection()
        }
        if isRead {
            guest.rax = value & 0xFFFF_FFFF
            guest.rdx = value >> 32
        }
        advance()
        return .resume(changed.union([.generalA, .ripAndLength]))
    }

    private func raiseGeneralProtection() -> Action {
        inject(exception: 13, errorCode: 0)
        return .resume([.event])
    }
}
