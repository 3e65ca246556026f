import SwiftletABI

/// The exit message in this thread's UTCB, read and changed in place (NOVA's UTCB as vCPU state): a
/// handler reads the words the exit's mask brought and writes the ones it changes; the reply's mask
/// (word 0) tells the kernel which. Nothing is copied on the way.
public struct ExitMessage {
    public let words: UnsafeMutablePointer<UInt64>

    public init(words: UnsafeMutablePointer<UInt64>) {
        self.words = words
    }

    public var mask: TransferMask { TransferMask(rawValue: words[VCPUMessage.mask]) }
    public var reason: ExitReason { ExitReason(rawValue: UInt16(truncatingIfNeeded: words[VCPUMessage.reason])) ?? .other }
    public var raw: UInt32 { UInt32(truncatingIfNeeded: words[VCPUMessage.reason] >> 32) }

    public var qualification: UInt64 { mask.contains(.qualification) ? words[VCPUMessage.qualification] : 0 }
    public var guestPhysical: UInt64 { mask.contains(.qualification) ? words[VCPUMessage.guestPhysical] : 0 }

    public var rip: UInt64 {
        get { words[VCPUMessage.rip] }
        nonmutating set { words[VCPUMessage.rip] = newValue }
    }
    public var instructionLength: UInt64 { words[VCPUMessage.instructionLength] }
    public var rflags: UInt64 { words[VCPUMessage.rflags] }
    public var cr3: UInt64 { words[VCPUMessage.controlRegisters + 2] }
    public var cr0: UInt64 {
        get { words[VCPUMessage.controlRegisters] }
        nonmutating set { words[VCPUMessage.controlRegisters] = newValue }
    }

    public var rax: UInt64 { get { register(0) } nonmutating set { setRegister(0, newValue) } }
    public var rcx: UInt64 { get { register(1) } nonmutating set { setRegister(1, newValue) } }
    public var rdx: UInt64 { get { register(2) } nonmutating set { setRegister(2, newValue) } }
    public var rbx: UInt64 { get { register(3) } nonmutating set { setRegister(3, newValue) } }
    public var rsi: UInt64 { get { register(6) } nonmutating set { setRegister(6, newValue) } }
    public var rdi: UInt64 { get { register(7) } nonmutating set { setRegister(7, newValue) } }

    /// General register `index` in the instruction encoding's order (0 RAX ... 15 R15).
    public func register(_ index: Int) -> UInt64 { words[Self.slot(index)] }
    public func setRegister(_ index: Int, _ value: UInt64) { words[Self.slot(index)] = value }

    /// Masked to 0-15: an index decoded from guest bytes never points outside the message.
    private static func slot(_ index: Int) -> Int {
        switch index & 15 {
        case 0...3: return VCPUMessage.generalA + (index & 15)            // rax rcx rdx rbx
        case 4: return VCPUMessage.rsp
        case 5...7: return VCPUMessage.generalB + (index & 15) - 5        // rbp rsi rdi
        default: return VCPUMessage.generalExtended + (index & 15) - 8    // r8-r15
        }
    }

    public var efer: UInt64 {
        get { words[VCPUMessage.efer] }
        nonmutating set { words[VCPUMessage.efer] = newValue }
    }

    /// STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE (0-4), when the mask carries them.
    public func syscallMSR(_ index: Int) -> UInt64 { words[VCPUMessage.syscallMSRs + index] }
    public func setSyscallMSR(_ index: Int, _ value: UInt64) { words[VCPUMessage.syscallMSRs + index] = value }

    public func setInterruptibility(_ value: UInt64, activity: UInt64) {
        words[VCPUMessage.interruptibility] = value
        words[VCPUMessage.activity] = activity
    }

    public func setEvent(_ event: UInt64, errorCode: UInt64) {
        words[VCPUMessage.event] = event
        words[VCPUMessage.eventErrorCode] = errorCode
    }

    /// Whole-state operations (startup, the bad-reply test): the parts of `state` that `mask` selects.
    public func set(_ state: GuestState, _ mask: TransferMask) {
        withUnsafePointer(to: state) { VCPUMessage.store(from: $0, mask: mask, into: words) }
    }

    /// Makes the message a reply that writes back what `mask` selects.
    public func reply(_ mask: TransferMask) {
        words[VCPUMessage.mask] = mask.rawValue
    }
}

/// The state Linux's exits need beyond the registers: interruptibility, the interrupted event, and the
/// FS and GS bases (WRMSR/RDMSR of IA32_FS_BASE and IA32_GS_BASE change the segments' bases).
extension ExitMessage {
    public var interruptibility: UInt64 { words[VCPUMessage.interruptibility] }
    /// The event the exit interrupted (valid bit 31), and its error code.
    public var event: UInt64 { words[VCPUMessage.event] }
    public var eventErrorCode: UInt64 { words[VCPUMessage.eventErrorCode] }

    /// Segment bases: 4 FS, 5 GS (VCPUMessage's order: cs ss ds es fs gs tr ldtr gdtr idtr).
    public func segmentBase(_ segment: Int) -> UInt64 { words[VCPUMessage.segments + 2 * (segment & 7) + 1] }
    public func setSegmentBase(_ segment: Int, _ value: UInt64) { words[VCPUMessage.segments + 2 * (segment & 7) + 1] = value }
    public static let fsSegment = 4, gsSegment = 5
}
