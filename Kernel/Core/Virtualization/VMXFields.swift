import SwiftletABI

/// VMCS field encodings the VMX backend uses (Intel SDM vol. 3, appendix B). An encoding says its width
/// (bits 13-14) and kind (bits 10-11); `width` and `kind` decode them so VMREAD/VMWRITE wrappers can
/// check they use a field the right way.
public enum VMCSField: UInt32, CaseIterable, Sendable {
    // 16-bit
    case virtualProcessorID = 0x0000
    case guestES = 0x0800, guestCS = 0x0802, guestSS = 0x0804, guestDS = 0x0806, guestFS = 0x0808, guestGS = 0x080A
    case guestLDTR = 0x080C, guestTR = 0x080E
    case hostES = 0x0C00, hostCS = 0x0C02, hostSS = 0x0C04, hostDS = 0x0C06, hostFS = 0x0C08, hostGS = 0x0C0A, hostTR = 0x0C0C
    // 64-bit
    case ioBitmapA = 0x2000, ioBitmapB = 0x2002, msrBitmap = 0x2004, tscOffset = 0x2010
    case eptPointer = 0x201A, guestPhysicalAddress = 0x2400, vmcsLinkPointer = 0x2800, guestDebugControl = 0x2802
    case guestIA32EFER = 0x2806, hostIA32EFER = 0x2C02
    // 32-bit
    case pinBasedControls = 0x4000, processorBasedControls = 0x4002, exceptionBitmap = 0x4004
    case exitControls = 0x400C, entryControls = 0x4012, entryInterruptionInfo = 0x4016
    case entryExceptionErrorCode = 0x4018, entryInstructionLength = 0x401A, secondaryControls = 0x401E
    case instructionError = 0x4400, exitReason = 0x4402, exitInterruptionInfo = 0x4404
    case exitInterruptionErrorCode = 0x4406, idtVectoringInfo = 0x4408, idtVectoringErrorCode = 0x440A
    case exitInstructionLength = 0x440C
    case guestESLimit = 0x4800, guestCSLimit = 0x4802, guestSSLimit = 0x4804, guestDSLimit = 0x4806
    case guestFSLimit = 0x4808, guestGSLimit = 0x480A, guestLDTRLimit = 0x480C, guestTRLimit = 0x480E
    case guestGDTRLimit = 0x4810, guestIDTRLimit = 0x4812
    case guestESAccessRights = 0x4814, guestCSAccessRights = 0x4816, guestSSAccessRights = 0x4818
    case guestDSAccessRights = 0x481A, guestFSAccessRights = 0x481C, guestGSAccessRights = 0x481E
    case guestLDTRAccessRights = 0x4820, guestTRAccessRights = 0x4822
    case guestInterruptibility = 0x4824, guestActivityState = 0x4826, preemptionTimerValue = 0x482E
    // natural width
    case cr0GuestHostMask = 0x6000, cr4GuestHostMask = 0x6002, cr0ReadShadow = 0x6004, cr4ReadShadow = 0x6006
    case exitQualification = 0x6400, guestLinearAddress = 0x640A
    case guestCR0 = 0x6800, guestCR3 = 0x6802, guestCR4 = 0x6804
    case guestESBase = 0x6806, guestCSBase = 0x6808, guestSSBase = 0x680A, guestDSBase = 0x680C
    case guestFSBase = 0x680E, guestGSBase = 0x6810, guestLDTRBase = 0x6812, guestTRBase = 0x6814
    case guestGDTRBase = 0x6816, guestIDTRBase = 0x6818
    case guestDR7 = 0x681A, guestRSP = 0x681C, guestRIP = 0x681E, guestRFLAGS = 0x6820
    case hostCR0 = 0x6C00, hostCR3 = 0x6C02, hostCR4 = 0x6C04, hostFSBase = 0x6C06, hostGSBase = 0x6C08
    case hostTRBase = 0x6C0A, hostGDTRBase = 0x6C0C, hostIDTRBase = 0x6C0E, hostRSP = 0x6C14, hostRIP = 0x6C16

    public enum Width: Equatable { case bits16, bits64, bits32, natural }
    public enum Kind: Equatable { case control, readOnlyData, guestState, hostState }

    public var width: Width {
        switch (rawValue >> 13) & 3 {
        case 0: return .bits16
        case 1: return .bits64
        case 2: return .bits32
        default: return .natural
        }
    }

    public var kind: Kind {
        switch (rawValue >> 10) & 3 {
        case 0: return .control
        case 1: return .readOnlyData
        case 2: return .guestState
        default: return .hostState
        }
    }
}

/// Segment attributes: VMX's access-rights format (type, S, DPL, P in bits 0-7; AVL, L, D/B, G in bits
/// 12-15; bit 16 "unusable") against SVM's packed 12-bit format, which `GuestSegment` keeps.
public enum VMXSegmentRights {
    public static let unusable: UInt32 = 1 << 16

    public static func toVMX(_ attributes: UInt16) -> UInt32 {
        let low = UInt32(attributes & 0xFF), high = UInt32((attributes >> 8) & 0xF) << 12
        // A segment that is not present is "unusable" to VMX (a null selector, say).
        return attributes & 0x80 == 0 ? unusable : low | high
    }

    public static func fromVMX(_ rights: UInt32) -> UInt16 {
        if rights & unusable != 0 { return 0 }
        return UInt16(rights & 0xFF) | UInt16((rights >> 12) & 0xF) << 8
    }
}

/// Offsets in the VMCB (AMD APM vol. 2, appendix B): the control area, then the state-save area at 0x400.
public enum VMCBLayout {
    public static let interceptCR = 0x000, interceptDR = 0x004, interceptExceptions = 0x008
    public static let interceptMisc1 = 0x00C, interceptMisc2 = 0x010
    public static let ioPermissionMap = 0x040, msrPermissionMap = 0x048, tscOffset = 0x050
    public static let guestASID = 0x058, tlbControl = 0x05C, virtualInterrupt = 0x060, interruptShadow = 0x068
    public static let exitCode = 0x070, exitInfo1 = 0x078, exitInfo2 = 0x080, exitInterruptionInfo = 0x088
    public static let nestedPagingEnable = 0x090, eventInjection = 0x0A8, nestedCR3 = 0x0B0, nextRIP = 0x0C8

    public static let saveArea = 0x400
    /// Segments: selector (u16), attributes (u16), limit (u32), base (u64); 16 bytes each.
    public static let es = 0x400, cs = 0x410, ss = 0x420, ds = 0x430, fs = 0x440, gs = 0x450
    public static let gdtr = 0x460, ldtr = 0x470, idtr = 0x480, tr = 0x490
    public static let cpl = 0x4CB, efer = 0x4D0, cr4 = 0x548, cr3 = 0x550, cr0 = 0x558
    public static let dr7 = 0x560, dr6 = 0x568, rflags = 0x570, rip = 0x578, rsp = 0x5D8, rax = 0x5F8
    public static let star = 0x600, lstar = 0x608, cstar = 0x610, sfmask = 0x618, kernelGSBase = 0x620
    public static let cr2 = 0x640, guestPAT = 0x668

    /// Intercept bits in the second miscellaneous word: VMRUN must be intercepted or VMRUN fails.
    public static let interceptVMRUN: UInt32 = 1 << 0
    /// First miscellaneous word: CPUID (bit 18), HLT (24), IOIO (27), MSR (28), SHUTDOWN (31).
    public static let interceptCPUID: UInt32 = 1 << 18, interceptHLT: UInt32 = 1 << 24
    public static let interceptIO: UInt32 = 1 << 27, interceptMSR: UInt32 = 1 << 28, interceptShutdown: UInt32 = 1 << 31
}
