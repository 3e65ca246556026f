/// The virtual-CPU interface (issue 5 builds the kernel side): a VM exit reaches the VMM as an IPC call
/// whose message carries an architecture-neutral exit reason and the guest state a transfer mask selects
/// (as NOVA's MTD); the reply writes back what its mask selects and may inject an event. VMX and SVM
/// produce the same layout, so a VMM never asks which one ran.

/// Why the guest left.
public enum ExitReason: UInt16, Sendable, Equatable {
    case exception = 1
    case externalInterrupt = 2
    case tripleFault = 3
    case interruptWindow = 4
    case nmiWindow = 5
    case cpuid = 6
    case hlt = 7
    case invlpg = 8
    case rdtsc = 9
    case hypercall = 10
    case controlRegister = 11
    case io = 12
    case rdmsr = 13
    case wrmsr = 14
    /// VM entry refused the state (VMX "invalid guest state", SVM VMEXIT_INVALID).
    case invalidGuestState = 15
    case pause = 16
    /// A guest-physical access the nested page tables do not allow (EPT violation, NPF).
    case nestedPageFault = 17
    case xsetbv = 18
    case initSignal = 19
    case startupSignal = 20
    /// The vCPU was started: the first message, with the whole state, for the VMM to set the initial state.
    case startup = 21
    /// The kernel took the CPU back from the guest (VMX preemption timer); handled in the kernel like a
    /// host interrupt, never sent to a VMM.
    case preemption = 22
    /// INVD or WBINVD/WBNOINVD: intercepted so a guest never writes back or discards the host's caches; a
    /// VMM steps over it (guest RAM is ordinary write-back memory). QEMU 7.2 reports INVD as WBINVD.
    case cacheControl = 23
    /// MONITOR or MWAIT: intercepted so a guest cannot park the physical CPU; the raw code says which.
    case monitorOrWait = 24
    /// A task switch through a task gate, CALL/JMP to a TSS or IRET with NT (VMX always exits on these).
    case taskSwitch = 25
    /// The VMM asked for the vCPU back (`ThreadOperation.recall`, NOVA's recall, KVM's kick): sent before
    /// the guest runs another instruction, with the state the exit mask selects, so the VMM can inject.
    case recall = 26
    /// An exit the neutral layer does not name; the raw code is in the message.
    case other = 0xFFFF

    /// VMX basic exit reasons (Intel SDM vol. 3, appendix C).
    @inlinable
    public static func fromVMX(_ basic: UInt32) -> ExitReason {
        switch basic & 0xFFFF {
        case 0: return .exception
        case 1: return .externalInterrupt
        case 2: return .tripleFault
        case 3: return .initSignal
        case 4: return .startupSignal
        case 9: return .taskSwitch
        case 13, 54: return .cacheControl     // INVD, WBINVD
        case 36, 39: return .monitorOrWait    // MWAIT, MONITOR
        case 7: return .interruptWindow
        case 8: return .nmiWindow
        case 10: return .cpuid
        case 12: return .hlt
        case 14: return .invlpg
        case 16: return .rdtsc
        case 18: return .hypercall
        case 28: return .controlRegister
        case 30: return .io
        case 31: return .rdmsr
        case 32: return .wrmsr
        case 33, 34: return .invalidGuestState
        case 40: return .pause
        case 48, 49: return .nestedPageFault
        case 52: return .preemption
        case 55: return .xsetbv
        default: return .other
        }
    }

    /// SVM exit codes (AMD APM vol. 2, appendix C); MSR exits are told apart by EXITINFO1.
    @inlinable
    public static func fromSVM(_ code: UInt64, exitInfo1: UInt64) -> ExitReason {
        // After a failed VMRUN QEMU reports 0x00000000FFFFFFFF, hardware -1: compare the low 32 bits.
        let low = UInt32(truncatingIfNeeded: code)
        switch low {
        case 0x0000_0000...0x0000_001F: return .controlRegister
        case 0x40...0x5F: return .exception
        case 0x60: return .externalInterrupt
        // NMI and SMI meant for the host: pending until the STGI after #VMEXIT, which delivers them.
        case 0x61, 0x62: return .externalInterrupt
        case 0x63: return .initSignal
        case 0x64: return .interruptWindow
        case 0x6E: return .rdtsc
        case 0x72: return .cpuid
        case 0x76, 0x89: return .cacheControl // INVD, WBINVD
        case 0x77: return .pause
        case 0x78: return .hlt
        case 0x79: return .invlpg
        case 0x7B: return .io
        case 0x7C: return exitInfo1 & 1 == 0 ? .rdmsr : .wrmsr
        case 0x7D: return .taskSwitch
        case 0x7F: return .tripleFault        // SHUTDOWN
        case 0x81: return .hypercall          // VMMCALL
        case 0x8A, 0x8B, 0x8C: return .monitorOrWait
        case 0x8D: return .xsetbv
        case 0x400: return .nestedPageFault
        case 0xFFFF_FFFF: return .invalidGuestState
        default: return .other
        }
    }
}

/// Nested page faults: the access that faulted, in the qualification of an exit message (the VMX bits;
/// the kernel translates SVM's).
public enum NestedPageFaultAccess {
    public static let read: UInt64 = 1, write: UInt64 = 2, fetch: UInt64 = 4

    public static func fromSVM(_ exitInfo1: UInt64) -> UInt64 {
        exitInfo1 & 2 != 0 ? write : exitInfo1 & 16 != 0 ? fetch : read
    }
}

/// An I/O instruction's exit, decoded the same way from either backend.
public struct IOAccess: Equatable, Sendable {
    public var port: UInt16
    public var size: Int
    public var isIn: Bool
    public var isString: Bool
    public var isRepeated: Bool

    public init(port: UInt16, size: Int, isIn: Bool, isString: Bool, isRepeated: Bool) {
        self.port = port
        self.size = size
        self.isIn = isIn
        self.isString = isString
        self.isRepeated = isRepeated
    }

    /// From an exit message's qualification: the kernel gives I/O exits of both backends in the VMX layout.
    public init(qualification q: UInt64) {
        self.init(vmxQualification: q)
    }

    /// The VMX layout: size - 1 in bits 0-2, IN bit 3, string bit 4, REP bit 5, the port in bits 16-31.
    public var qualification: UInt64 {
        // `size` is a public field: a caller's 0 or a huge value wraps into the 3-bit size field, never traps.
        (UInt64(truncatingIfNeeded: size &- 1) & 7) | (isIn ? 8 : 0) | (isString ? 16 : 0) | (isRepeated ? 32 : 0) | UInt64(port) << 16
    }

    /// From the VMX exit qualification.
    public init(vmxQualification q: UInt64) {
        self.init(port: UInt16(truncatingIfNeeded: q >> 16), size: Int(q & 7) + 1, isIn: q & 8 != 0,
                  isString: q & 16 != 0, isRepeated: q & 32 != 0)
    }

    /// From SVM's EXITINFO1 for IOIO.
    public init(svmExitInfo1 info: UInt64) {
        let size = info & (1 << 6) != 0 ? 4 : info & (1 << 5) != 0 ? 2 : 1
        self.init(port: UInt16(truncatingIfNeeded: info >> 16), size: size, isIn: info & 1 != 0,
                  isString: info & 4 != 0, isRepeated: info & 8 != 0)
    }
}

/// Which guest state travels in an exit message and back in the reply.
public struct TransferMask: OptionSet, Sendable, Equatable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// RAX, RCX, RDX, RBX.
    public static let generalA = TransferMask(rawValue: 1 << 0)
    /// RBP, RSI, RDI.
    public static let generalB = TransferMask(rawValue: 1 << 1)
    /// R8-R15.
    public static let generalExtended = TransferMask(rawValue: 1 << 2)
    public static let rsp = TransferMask(rawValue: 1 << 3)
    /// RIP and the exiting instruction's length.
    public static let ripAndLength = TransferMask(rawValue: 1 << 4)
    public static let rflags = TransferMask(rawValue: 1 << 5)
    public static let dataSegments = TransferMask(rawValue: 1 << 6)       // DS, ES
    public static let extraSegments = TransferMask(rawValue: 1 << 7)      // FS, GS
    public static let codeStackSegments = TransferMask(rawValue: 1 << 8)  // CS, SS
    public static let taskAndLocalTables = TransferMask(rawValue: 1 << 9) // TR, LDTR
    public static let descriptorTables = TransferMask(rawValue: 1 << 10)  // GDTR, IDTR
    public static let controlRegisters = TransferMask(rawValue: 1 << 11)  // CR0, CR2, CR3, CR4
    public static let efer = TransferMask(rawValue: 1 << 12)
    /// Interruptibility and activity state.
    public static let interruptibility = TransferMask(rawValue: 1 << 13)
    /// An event to inject (in the reply) or the one being delivered when the exit came (in the message).
    public static let event = TransferMask(rawValue: 1 << 14)
    /// Exit qualification / EXITINFO and the guest-physical address (message only). Neutral for I/O (the
    /// VMX layout, `IOAccess`), nested page faults (`NestedPageFaultAccess`) and exceptions (the vector).
    public static let qualification = TransferMask(rawValue: 1 << 15)
    /// STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE.
    public static let syscallMSRs = TransferMask(rawValue: 1 << 16)
    /// Ask for an exit as soon as the guest can take an interrupt (reply only).
    public static let requestInterruptWindow = TransferMask(rawValue: 1 << 17)

    public static let generalRegisters: TransferMask = [.generalA, .generalB, .generalExtended, .rsp]
    /// What a VMM needs at any exit to decide whether it can inject an interrupt now: RFLAGS (IF) and the
    /// interruptibility and activity state (STI/MOV SS shadow, HLT). The third part, the event an exit
    /// interrupted, the kernel adds (`.event`) to every message that has one, whatever the mask: a
    /// message without `.event` has none pending. The kernel's default mask (everything) carries all of
    /// it; a VMM's lean masks for frequent exits should keep this.
    public static let injectionState: TransferMask = [.rflags, .interruptibility]
    /// The system state but the injection state and the event: what only startup and faults move. Kernel
    /// and messages test it once to skip all of it, and handle the others outside that test.
    /// (A literal, so it is a constant on the exit path, not computed once behind a guard.)
    public static let rareSystemState: TransferMask = [.controlRegisters, .efer, .codeStackSegments, .dataSegments,
                                                       .extraSegments, .taskAndLocalTables, .descriptorTables, .syscallMSRs]
    /// Everything but the registers, RIP, RFLAGS and the qualification: what the frequent exits leave alone.
    public static let systemState: TransferMask = [.controlRegisters, .efer, .interruptibility, .event, .codeStackSegments,
                                                   .dataSegments, .extraSegments, .taskAndLocalTables, .descriptorTables,
                                                   .syscallMSRs]
}

/// A segment as both backends can express it (VMX access rights ↔ SVM attributes in `VMXSegmentRights`).
public struct GuestSegment: Equatable, Sendable {
    public var selector: UInt16
    /// SVM's 12-bit attribute format: type, S, DPL, P (bits 0-7), AVL, L, D/B, G (bits 8-11).
    public var attributes: UInt16
    public var limit: UInt32
    public var base: UInt64

    public init(selector: UInt16 = 0, attributes: UInt16 = 0, limit: UInt32 = 0, base: UInt64 = 0) {
        self.selector = selector
        self.attributes = attributes
        self.limit = limit
        self.base = base
    }
}
