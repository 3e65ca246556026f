
/// A virtual CPU's architectural state, the same for both backends. The kernel fills it from the VMCS or
/// VMCB at an exit and writes it back before entry; between the two it travels to the VMM in message
/// registers, as much of it as the transfer mask selects (`VCPUMessage`).
public struct GuestState: Equatable {
    public var rax: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0, rbx: UInt64 = 0
    public var rbp: UInt64 = 0, rsi: UInt64 = 0, rdi: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rsp: UInt64 = 0, rip: UInt64 = 0, rflags: UInt64 = 0x2
    public var instructionLength: UInt64 = 0
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, efer: UInt64 = 0
    public var cs = GuestSegment(), ss = GuestSegment(), ds = GuestSegment(), es = GuestSegment()
    public var fs = GuestSegment(), gs = GuestSegment(), tr = GuestSegment(), ldtr = GuestSegment()
    public var gdtr = GuestSegment(), idtr = GuestSegment()
    public var interruptibility: UInt64 = 0, activity: UInt64 = 0
    /// Event injection: vector bits 0-7, type bits 8-10, error-code-valid bit 11, valid bit 31 (the VMX
    /// format; SVM's EVENTINJ uses the same bit positions).
    public var event: UInt64 = 0, eventErrorCode: UInt64 = 0
    public var qualification: UInt64 = 0, guestPhysical: UInt64 = 0
    public var star: UInt64 = 0, lstar: UInt64 = 0, cstar: UInt64 = 0, sfmask: UInt64 = 0, kernelGSBase: UInt64 = 0

    public init() {}

    /// What a vCPU holds before its VMM sets anything: real mode at address 0, flat 64 KiB segments.
    public static var resetState: GuestState {
        var state = GuestState()
        state.cr0 = 0x10                                         // ET
        state.cs = GuestSegment(attributes: 0x9B, limit: 0xFFFF)
        state.ss = GuestSegment(attributes: 0x93, limit: 0xFFFF)
        state.ds = state.ss
        state.es = state.ss
        state.fs = state.ss
        state.gs = state.ss
        state.ldtr = GuestSegment(attributes: 0x82, limit: 0xFFFF)
        state.tr = GuestSegment(attributes: 0x8B, limit: 0xFFFF)
        state.gdtr = GuestSegment(limit: 0xFFFF)
        state.idtr = GuestSegment(limit: 0xFFFF)
        return state
    }
}

/// Where each part of the guest state sits in an exit message (message-register word indices).
public enum VCPUMessage {
    public static let mask = 0
    /// Neutral exit reason (bits 0-15) and the backend's raw exit code (bits 32-63).
    public static let reason = 1
    public static let qualification = 2
    public static let guestPhysical = 3
    public static let instructionLength = 4
    public static let rip = 5, rflags = 6, rsp = 7
    public static let generalA = 8          // rax rcx rdx rbx
    public static let generalB = 12         // rbp rsi rdi
    public static let generalExtended = 15  // r8-r15
    public static let controlRegisters = 23 // cr0 cr2 cr3 cr4
    public static let efer = 27
    public static let interruptibility = 28, activity = 29
    public static let event = 30, eventErrorCode = 31
    /// Segments, two words each: selector | attributes << 16 | limit << 32, then the base.
    public static let segments = 32         // cs ss ds es fs gs tr ldtr gdtr idtr
    public static let syscallMSRs = 52      // star lstar cstar sfmask kernelGSBase
    public static let words = 57

    public static func reasonWord(_ reason: ExitReason, raw: UInt32) -> UInt64 {
        UInt64(reason.rawValue) | UInt64(raw) << 32
    }

    /// Writes the parts of `state` that `mask` selects (and the mask itself) into `words`.
    public static func store(_ state: GuestState, mask: TransferMask, into words: UnsafeMutablePointer<UInt64>) {
        withUnsafePointer(to: state) { store(from: $0, mask: mask, into: words) }
    }

    /// The same from state in place (a GuestState is 440 bytes: the exit paths do not copy it).
    public static func store(from pointer: UnsafePointer<GuestState>, mask: TransferMask, into words: UnsafeMutablePointer<UInt64>) {
        words[self.mask] = mask.rawValue
        if mask.contains(.qualification) {
            words[qualification] = pointer.pointee.qualification
            words[guestPhysical] = pointer.pointee.guestPhysical
        }
        if mask.contains(.ripAndLength) {
            words[rip] = pointer.pointee.rip
            words[instructionLength] = pointer.pointee.instructionLength
        }
        if mask.contains(.rflags) { words[rflags] = pointer.pointee.rflags }
        if mask.contains(.rsp) { words[rsp] = pointer.pointee.rsp }
        if mask.contains(.generalA) { put(words, generalA, pointer.pointee.rax, pointer.pointee.rcx, pointer.pointee.rdx, pointer.pointee.rbx) }
        if mask.contains(.generalB) { put(words, generalB, pointer.pointee.rbp, pointer.pointee.rsi, pointer.pointee.rdi) }
        if mask.contains(.generalExtended) {
            put(words, generalExtended, pointer.pointee.r8, pointer.pointee.r9, pointer.pointee.r10, pointer.pointee.r11)
            put(words, generalExtended + 4, pointer.pointee.r12, pointer.pointee.r13, pointer.pointee.r14, pointer.pointee.r15)
        }
        // What an injection decision needs travels with frequent exits too.
        if mask.contains(.interruptibility) {
            words[interruptibility] = pointer.pointee.interruptibility
            words[activity] = pointer.pointee.activity
        }
        if mask.contains(.event) {
            words[event] = pointer.pointee.event
            words[eventErrorCode] = pointer.pointee.eventErrorCode
        }
        // The rest of the system state moves rarely (startup, faults): one test skips all of it.
        if !mask.isDisjoint(with: .rareSystemState) {
            if mask.contains(.controlRegisters) { put(words, controlRegisters, pointer.pointee.cr0, pointer.pointee.cr2, pointer.pointee.cr3, pointer.pointee.cr4) }
            if mask.contains(.efer) { words[efer] = pointer.pointee.efer }
            if mask.contains(.codeStackSegments) { putSegment(words, 0, pointer.pointee.cs); putSegment(words, 1, pointer.pointee.ss) }
            if mask.contains(.dataSegments) { putSegment(words, 2, pointer.pointee.ds); putSegment(words, 3, pointer.pointee.es) }
            if mask.contains(.extraSegments) { putSegment(words, 4, pointer.pointee.fs); putSegment(words, 5, pointer.pointee.gs) }
            if mask.contains(.taskAndLocalTables) { putSegment(words, 6, pointer.pointee.tr); putSegment(words, 7, pointer.pointee.ldtr) }
            if mask.contains(.descriptorTables) { putSegment(words, 8, pointer.pointee.gdtr); putSegment(words, 9, pointer.pointee.idtr) }
            if mask.contains(.syscallMSRs) {
                put(words, syscallMSRs, pointer.pointee.star, pointer.pointee.lstar, pointer.pointee.cstar, pointer.pointee.sfmask)
                words[syscallMSRs + 4] = pointer.pointee.kernelGSBase
            }
        }
    }

    /// Reads back into `state` the parts a reply's `mask` selects; the rest of `state` is left as it was.
    public static func load(_ state: inout GuestState, mask: TransferMask, from words: UnsafePointer<UInt64>) {
        if mask.contains(.ripAndLength) {
            state.rip = words[rip]
            state.instructionLength = words[instructionLength]
        }
        if mask.contains(.rflags) { state.rflags = words[rflags] }
        if mask.contains(.rsp) { state.rsp = words[rsp] }
        if mask.contains(.generalA) {
            (state.rax, state.rcx, state.rdx, state.rbx) = (words[generalA], words[generalA + 1], words[generalA + 2], words[generalA + 3])
        }
        if mask.contains(.generalB) { (state.rbp, state.rsi, state.rdi) = (words[generalB], words[generalB + 1], words[generalB + 2]) }
        if mask.contains(.generalExtended) {
            let g = generalExtended
            (state.r8, state.r9, state.r10, state.r11) = (words[g], words[g + 1], words[g + 2], words[g + 3])
            (state.r12, state.r13, state.r14, state.r15) = (words[g + 4], words[g + 5], words[g + 6], words[g + 7])
        }
        // The system state moves rarely (startup, faults): one test skips all of it.
        if !mask.isDisjoint(with: .systemState) {
            if mask.contains(.controlRegisters) {
                let c = controlRegisters
                (state.cr0, state.cr2, state.cr3, state.cr4) = (words[c], words[c + 1], words[c + 2], words[c + 3])
            }
            if mask.contains(.efer) { state.efer = words[efer] }
            if mask.contains(.interruptibility) {
                state.interruptibility = words[interruptibility]
                state.activity = words[activity]
            }
            if mask.contains(.event) {
                state.event = words[event]
                state.eventErrorCode = words[eventErrorCode]
            }
            if mask.contains(.codeStackSegments) { state.cs = segment(words, 0); state.ss = segment(words, 1) }
            if mask.contains(.dataSegments) { state.ds = segment(words, 2); state.es = segment(words, 3) }
            if mask.contains(.extraSegments) { state.fs = segment(words, 4); state.gs = segment(words, 5) }
            if mask.contains(.taskAndLocalTables) { state.tr = segment(words, 6); state.ldtr = segment(words, 7) }
            if mask.contains(.descriptorTables) { state.gdtr = segment(words, 8); state.idtr = segment(words, 9) }
            if mask.contains(.syscallMSRs) {
                let m = syscallMSRs
                (state.star, state.lstar, state.cstar, state.sfmask, state.kernelGSBase) =
                    (words[m], words[m + 1], words[m + 2], words[m + 3], words[m + 4])
            }
        }
    }

    private static func put(_ words: UnsafeMutablePointer<UInt64>, _ at: Int, _ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) {
        words[at] = a; words[at + 1] = b; words[at + 2] = c; words[at + 3] = d
    }

    private static func put(_ words: UnsafeMutablePointer<UInt64>, _ at: Int, _ a: UInt64, _ b: UInt64, _ c: UInt64) {
        words[at] = a; words[at + 1] = b; words[at + 2] = c
    }

    private static func putSegment(_ words: UnsafeMutablePointer<UInt64>, _ index: Int, _ segment: GuestSegment) {
        words[segments + 2 * index] = UInt64(segment.selector) | UInt64(segment.attributes) << 16 | UInt64(segment.limit) << 32
        words[segments + 2 * index + 1] = segment.base
    }

    private static func segment(_ words: UnsafePointer<UInt64>, _ index: Int) -> GuestSegment {
        let packed = words[segments + 2 * index]
        return GuestSegment(selector: UInt16(truncatingIfNeeded: packed), attributes: UInt16(truncatingIfNeeded: packed >> 16) & 0xFFF,
                            limit: UInt32(truncatingIfNeeded: packed >> 32), base: words[segments + 2 * index + 1])
    }
}
