import SwiftletABI

/// The MSRs that are the vCPU's own state and travel in the exit message: EFER, the SYSCALL MSRs and the
/// FS/GS bases. A VMM answers RDMSR/WRMSR of them from the message and writes them back with the reply.
public enum VCPUOwnMSRs {
    public static let efer: UInt32 = 0xC000_0080, fsBase: UInt32 = 0xC000_0100, gsBase: UInt32 = 0xC000_0101

    public enum Outcome: Equatable {
        /// Not one of them: the VMM's devices or policy answer.
        case notOwn
        case read(UInt64)
        /// Written into the message: reply with these parts.
        case written(TransferMask)
        /// A value no CPU takes: #GP(0).
        case generalProtection
    }

    /// The RDMSR/WRMSR in `guest`: its MSR (ECX) and, for a write, EDX:EAX.
    public static func decode(_ guest: ExitMessage) -> (index: UInt32, written: UInt64) {
        (UInt32(truncatingIfNeeded: guest.rcx), (guest.rdx & 0xFFFF_FFFF) << 32 | (guest.rax & 0xFFFF_FFFF))
    }

    /// Completes an RDMSR: EDX:EAX.
    public static func complete(_ guest: ExitMessage, read value: UInt64) {
        guest.rax = value & 0xFFFF_FFFF
        guest.rdx = value >> 32
    }

    public static func access(_ index: UInt32, isRead: Bool, value written: UInt64, in guest: ExitMessage) -> Outcome {
        switch index {
        case efer:
            // The guest may turn SCE and NXE on or off; LME/LMA stay as the VMM set them.
            if isRead { return .read(guest.efer) }
            guard written & ~UInt64(0xD01) == 0 else { return .generalProtection }
            guest.efer = (guest.efer & ~UInt64(0x801)) | (written & 0x801)
            return .written(.efer)
        case 0xC000_0081...0xC000_0084, 0xC000_0102:
            let slot = index == 0xC000_0102 ? 4 : Int(index - 0xC000_0081)
            if isRead { return .read(guest.syscallMSR(slot)) }
            guest.setSyscallMSR(slot, written)
            return .written(.syscallMSRs)
        case fsBase, gsBase:
            let segment = index == fsBase ? ExitMessage.fsSegment : ExitMessage.gsSegment
            if isRead { return .read(guest.segmentBase(segment)) }
            // A non-canonical base faults, as on hardware.
            guard written >> 47 == 0 || written >> 47 == 0x1_FFFF else { return .generalProtection }
            guest.setSegmentBase(segment, written)
            return .written(.extraSegments)
        default:
            return .notOwn
        }
    }
}
