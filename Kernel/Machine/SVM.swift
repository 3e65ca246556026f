import KernelPlatform
import SwiftletABI

/// The SVM backend of the vCPU layer: a VMCB per vCPU with nested paging and its own ASID, every I/O port
/// and MSR intercepted (shared permission maps), and the translation between the VMCB and the neutral
/// GuestState. Works without NRIPS: the instruction length of the exits a VMM steps over is known.
enum SVM {
    private static let efer: UInt32 = 0xC000_0080, hostSaveMSR: UInt32 = 0xC001_0117
    private static let svme: UInt64 = 1 << 12

    nonisolated(unsafe) private static var hostArea: PhysicalAddress = 0
    nonisolated(unsafe) private static var ioPermissions: PhysicalAddress = 0
    nonisolated(unsafe) private static var msrPermissions: PhysicalAddress = 0
    nonisolated(unsafe) private static var asidCount: UInt32 = 0
    nonisolated(unsafe) private static var nextASID: UInt32 = 1
    nonisolated(unsafe) private static var nextRIP = false
    /// More vCPUs than ASIDs were made, so ASIDs are shared: the TLB is flushed whenever the vCPU that
    /// runs is not the one that ran last (QEMU TCG offers only 16 ASIDs).
    nonisolated(unsafe) private static var asidsShared = false
    nonisolated(unsafe) private static var lastRun: VCPUPointer?
    /// The host's XCR0 (0: XSAVE off). VMRUN does not switch XCR0, and QEMU 7.2 ignores the XSETBV
    /// intercept: a guest's XSETBV there writes the host's XCR0, which is put back after every exit.
    nonisolated(unsafe) private static var hostXCR0: UInt64 = 0
    nonisolated(unsafe) private(set) static var xcr0Restored: UInt64 = 0

    /// The intercept set, checked against the AMD APM vol. 2 (15.9-15.13, appendix B) and KVM's init_vmcb.
    /// Intercepted (first word, VMCB 0x0C):
    ///   INTR, NMI, SMI  host interrupts, NMIs and SMIs stay the host's: they exit and are taken at STGI
    ///   CPUID           the VMM's CPUID policy (VMX exits unconditionally)
    ///   RDPMC           the host's performance counters are not the guest's to read (the VMM raises #UD)
    ///   INVD            a guest INVD would discard the host's dirty cache lines: never executed
    ///   HLT             the VMM decides when a halted guest wakes; the CPU goes back to the scheduler
    ///   INVLPGA         its ASID operand could flush another vCPU's or the host's translations
    ///   IOIO, MSR       every port and MSR (all-ones permission maps): the VMM owns the platform
    ///   task switch     VMX always exits on one: the same answer on both backends (the VMM decides)
    ///   SHUTDOWN        a guest triple fault must not shut the host CPU down
    /// Second word (VMCB 0x10):
    ///   VMRUN .. SKINIT  VMRUN (also required by VMRUN), VMMCALL (hypercalls), VMLOAD/VMSAVE (host-physical
    ///                    operands), STGI/CLGI (the host's GIF), SKINIT (would reinitialize the CPU)
    ///   WBINVD          writing back the host's whole cache hierarchy is the host's business (QEMU 7.2
    ///                   also checks this bit for INVD)
    ///   MONITOR, MWAIT  a guest must not park the physical CPU; CPUID hides them, the VMM raises #UD
    ///   XSETBV          XCR0 is not switched: the kernel answers with #UD (CR4.OSXSAVE clear) or #GP(0)
    ///                   (`VCPU.refuseXSETBV`). QEMU 7.2 never takes this intercept: there a guest that
    ///                   sets CR4.OSXSAVE writes the host's XCR0, which `enter` puts back after each exit
    ///   RDPRU           reads the host's APERF/MPERF (KVM intercepts it too)
    /// Event delivery an exit interrupts (EXITINTINFO) is injected again through EVENTINJ at the next entry
    /// (`InterruptedEvent`), unless the VMM's reply injects; the guest's own INTn/INT3/INTO re-executes.
    /// Left to the guest: INIT (only another CPU or the platform sends one; Swiftlet runs on one CPU), VINTR
    /// (armed only for an interrupt window), CR/DR/descriptor-table reads and writes (the guest's own
    /// state, checked by VMRUN; the VMCB switches CR0-CR4, DR6/DR7 and the tables; DR0-3 are each vCPU's own,
    /// switched lazily between vCPUs by `DebugRegisters`; no breakpoint fires in the host, whose DR7
    /// #VMEXIT clears), RDTSC/RDTSCP (no TSC offset: the guest reads the host's counter), PUSHF/POPF/IRET/INTn,
    /// RSM (raises #UD outside SMM, which a guest never enters), PAUSE (the timer bounds a spinning
    /// guest), INVLPG (its own translations under its ASID with nested paging), FERR_FREEZE,
    /// MWAIT-armed (MWAIT covers it), the SEV-ES write traps.
    /// Exceptions: #DF (below), and #DB and #AC as KVM, against the delivery loops of CVE-2015-5307 and
    /// CVE-2015-8104; the kernel reflects them into the guest (`reflect`, `ReflectedException`). ICEBP is
    /// intercepted with them (second word): the #DB it raises would reach the #DB intercept with a RIP
    /// that does not say which instruction boundary it belongs to (Xen intercepts it for that reason); as
    /// an instruction intercept the kernel steps over it and injects the #DB the CPU would have raised.
    private enum Intercept {
        // First miscellaneous word.
        static let intr: UInt32 = 1 << 0, nmi: UInt32 = 1 << 1, smi: UInt32 = 1 << 2, vintr: UInt32 = 1 << 4
        static let rdpmc: UInt32 = 1 << 15, cpuid: UInt32 = 1 << 18, invd: UInt32 = 1 << 22
        static let hlt: UInt32 = 1 << 24, invlpga: UInt32 = 1 << 26, io: UInt32 = 1 << 27, msr: UInt32 = 1 << 28
        static let taskSwitch: UInt32 = 1 << 29, shutdown: UInt32 = 1 << 31
        static let first = intr | nmi | smi | rdpmc | cpuid | invd | hlt | invlpga | io | msr | taskSwitch | shutdown
        // Second: VMRUN, VMMCALL, VMLOAD, VMSAVE, STGI, CLGI, SKINIT (bits 0-6), then WBINVD, MONITOR, MWAIT,
        // XSETBV, RDPRU.
        static let svmInstructions: UInt32 = 0x7F, wbinvd: UInt32 = 1 << 9, monitor: UInt32 = 1 << 10
        static let icebp: UInt32 = 1 << 8, mwait: UInt32 = 1 << 11, xsetbv: UInt32 = 1 << 13, rdpru: UInt32 = 1 << 14
        static let second = svmInstructions | icebp | wbinvd | monitor | mwait | xsetbv | rdpru
        // Exception intercepts: #DF, and the reflected #DB and #AC.
        static let exceptions = UInt32(1 << 8) | ReflectedException.interceptBits
    }

    static func enable(_ features: VirtualizationFeatures.SVMFeatures) -> Bool {
        guard features.nestedPaging, !features.disabledByFirmware, features.asidCount > 1,
              let save = KernelMemory.allocateFrame(), let host = KernelMemory.allocateFrame(),
              let io = KernelMemory.allocateContiguous(3), let msr = KernelMemory.allocateContiguous(2) else { return false }
        asidCount = features.asidCount
        nextRIP = features.nextRIP
        hostArea = host.adopt()
        PhysicalMemory.zeroFrame(hostArea)
        ioPermissions = io
        msrPermissions = msr
        for page in 0..<UInt64(3) { PhysicalMemory.pointer(io + page * 4096).initializeMemory(as: UInt8.self, repeating: 0xFF, count: 4096) }
        for page in 0..<UInt64(2) { PhysicalMemory.pointer(msr + page * 4096).initializeMemory(as: UInt8.self, repeating: 0xFF, count: 4096) }
        hostXCR0 = x86_read_cr4() & (1 << 18) != 0 ? x86_xgetbv(0) : 0
        x86_wrmsr(efer, x86_rdmsr(efer) | svme)
        x86_wrmsr(hostSaveMSR, save.adopt())
        return true
    }

    /// `vcpu` is being destroyed: it is not the one that ran last (a new vCPU in its frame would skip
    /// the flush its shared ASID needs).
    static func retire(_ vcpu: VCPUPointer) {
        if lastRun == vcpu { lastRun = nil }
    }

    static func create(_ vcpu: VCPUPointer, control frame: PhysicalAddress) -> Bool {
        PhysicalMemory.zeroFrame(frame)
        vcpu.pointee.control = frame
        vcpu.pointee.tag = nextASID
        if nextASID + 1 >= asidCount {
            nextASID = 1
            asidsShared = true
        } else {
            nextASID += 1
        }
        let v = PhysicalMemory.pointer(frame)
        v.storeBytes(of: Intercept.first, toByteOffset: VMCBLayout.interceptMisc1, as: UInt32.self)
        v.storeBytes(of: Intercept.second, toByteOffset: VMCBLayout.interceptMisc2, as: UInt32.self)
        // #DF: a guest on its way to a triple fault stops here (Bochs panics on a guest's triple fault
        // instead of reporting SHUTDOWN).
        v.storeBytes(of: Intercept.exceptions, toByteOffset: VMCBLayout.interceptExceptions, as: UInt32.self)
        v.storeBytes(of: ioPermissions, toByteOffset: VMCBLayout.ioPermissionMap, as: UInt64.self)
        v.storeBytes(of: msrPermissions, toByteOffset: VMCBLayout.msrPermissionMap, as: UInt64.self)
        v.storeBytes(of: vcpu.pointee.tag, toByteOffset: VMCBLayout.guestASID, as: UInt32.self)
        v.storeBytes(of: UInt8(1), toByteOffset: VMCBLayout.tlbControl, as: UInt8.self)           // flush at first run
        v.storeBytes(of: UInt64(1 << 24), toByteOffset: VMCBLayout.virtualInterrupt, as: UInt64.self)   // V_INTR_MASKING
        v.storeBytes(of: UInt64(1), toByteOffset: VMCBLayout.nestedPagingEnable, as: UInt64.self)
        v.storeBytes(of: vcpu.pointee.machine!.pointee.pageTableRoot, toByteOffset: VMCBLayout.nestedCR3, as: UInt64.self)
        v.storeBytes(of: UInt64(0x0007_0406_0007_0406), toByteOffset: VMCBLayout.guestPAT, as: UInt64.self)
        v.storeBytes(of: UInt64(0x400), toByteOffset: VMCBLayout.dr7, as: UInt64.self)
        v.storeBytes(of: UInt64(0xFFFF_0FF0), toByteOffset: VMCBLayout.dr6, as: UInt64.self)
        vcpu.pointee.state = GuestState.resetState
        store(vcpu, VCPU.everything)
        return true
    }

    static func enter(_ vcpu: VCPUPointer) -> (reason: ExitReason, raw: UInt32) {
        let v = PhysicalMemory.pointer(vcpu.pointee.control)
        let machine = vcpu.pointee.machine!
        if asidsShared && lastRun != vcpu {
            v.storeBytes(of: UInt8(1), toByteOffset: VMCBLayout.tlbControl, as: UInt8.self)
            lastRun = vcpu
        }
        if vcpu.pointee.flushedGeneration != machine.pointee.guestTLBGeneration {
            v.storeBytes(of: UInt8(1), toByteOffset: VMCBLayout.tlbControl, as: UInt8.self)
            vcpu.pointee.flushedGeneration = machine.pointee.guestTLBGeneration
        }
        // The general registers but RAX live in `state` (the entry stub loads them): the rest goes to the VMCB.
        let dirty = vcpu.pointee.dirty.subtracting([.generalA, .generalB, .generalExtended])
        // A reply that changes system state (rare: startup, faults) may make VMRUN fail, and a failed VMRUN
        // may leave host values in the save area (Bochs writes back the half-loaded state, the host's RAX —
        // the VMCB's address — among it): keep the save area as it was, to put back if VMRUN refuses.
        let saved = !dirty.isDisjoint(with: .systemState)
        if saved { backupArea(vcpu).copyMemory(from: v + VMCBLayout.saveArea, byteCount: saveAreaBytes) }
        if dirty == .ripAndLength {
            v.storeBytes(of: vcpu.pointee.state.rip, toByteOffset: VMCBLayout.rip, as: UInt64.self)
        } else if !dirty.isEmpty {
            store(vcpu, dirty)
        }
        vcpu.pointee.dirty = []
        v.storeBytes(of: vcpu.pointee.state.rax, toByteOffset: VMCBLayout.rax, as: UInt64.self)
        var injected: UInt64 = 0
        if vcpu.pointee.hasEventToInject, let injection = vcpu.pointee.entryInjection() {
            injected = injection.information
            v.storeBytes(of: injection.information | injection.errorCode << 32, toByteOffset: VMCBLayout.eventInjection, as: UInt64.self)
        }
        if vcpu.pointee.interruptWindowRequested != vcpu.pointee.interruptWindowArmed {
            armInterruptWindow(v, vcpu.pointee.interruptWindowRequested)
            vcpu.pointee.interruptWindowArmed = vcpu.pointee.interruptWindowRequested
        }
        DebugRegisters.claim(vcpu, status: false)            // DR6 is in the VMCB
        x86_svm_run_guest(GuestMode.registers(vcpu), vcpu.pointee.control, hostArea)
        if hostXCR0 != 0 && x86_xgetbv(0) != hostXCR0 {
            x86_xsetbv(0, hostXCR0)
            xcr0Restored &+= 1
        }
        v.storeBytes(of: UInt8(0), toByteOffset: VMCBLayout.tlbControl, as: UInt8.self)
        let code = v.load(fromByteOffset: VMCBLayout.exitCode, as: UInt64.self)
        if UInt32(truncatingIfNeeded: code) == 0xFFFF_FFFF {
            // VMEXIT_INVALID: nothing of the guest ran. The save area as before this reply (if it changed
            // system state), and RAX as `state` has it: no host value reaches the VMM.
            if saved { (v + VMCBLayout.saveArea).copyMemory(from: backupArea(vcpu), byteCount: saveAreaBytes) }
        } else {
            vcpu.pointee.state.rax = v.load(fromByteOffset: VMCBLayout.rax, as: UInt64.self)
        }
        let reason = ExitReason.fromSVM(code, exitInfo1: v.load(fromByteOffset: VMCBLayout.exitInfo1, as: UInt64.self))
        // An exit during event delivery (a host interrupt among them): the event goes again at the next entry.
        let interrupted = v.load(fromByteOffset: VMCBLayout.exitInterruptionInfo, as: UInt64.self)
        if interrupted & InterruptedEvent.EventType.valid != 0 && UInt32(truncatingIfNeeded: code) != 0xFFFF_FFFF {
            vcpu.pointee.interrupted = InterruptedEvent.fromSVM(exitInterruptionInfo: interrupted, injected: injected).at(reason)
        }
        if reason == .interruptWindow {
            armInterruptWindow(v, false)
            vcpu.pointee.interruptWindowRequested = false
            vcpu.pointee.interruptWindowArmed = false
        }
        return (reason, UInt32(truncatingIfNeeded: code))
    }

    /// An exit the kernel answers itself: #DB, #AC and ICEBP go back into the guest as they would have
    /// been delivered natively (`ReflectedException`); false for any other exit. The next VMRUN injects it.
    static func reflect(_ vcpu: VCPUPointer) -> Bool {
        let v = PhysicalMemory.pointer(vcpu.pointee.control)
        func word(_ offset: Int) -> UInt64 { v.load(fromByteOffset: offset, as: UInt64.self) }
        func put(_ offset: Int, _ value: UInt64) { v.storeBytes(of: value, toByteOffset: offset, as: UInt64.self) }
        let code = word(VMCBLayout.exitCode)
        let info: UInt64
        switch code {
        case 0x40 + ReflectedException.debug, 0x88:      // #DB (DR6 is in the VMCB already), ICEBP
            info = ReflectedException.debug | ReflectedException.hardwareException << 8 | 1 << 31
        case 0x40 + ReflectedException.alignmentCheck:
            info = ReflectedException.alignmentCheck | ReflectedException.hardwareException << 8 | 1 << 31
        default: return false
        }
        guard let event = ReflectedException.event(reflecting: info) else { return false }
        if code == 0x88 {
            // ICEBP is a trap: the #DB is delivered after it (one byte; NRIPS knows a prefixed one).
            let rip = word(VMCBLayout.rip), next = nextRIP ? word(VMCBLayout.nextRIP) : 0
            put(VMCBLayout.rip, next > rip && next - rip <= 15 ? next : rip &+ 1)
        }
        if event & 0xFF == ReflectedException.debug {
            if code != 0x88 {
                put(VMCBLayout.dr6, ReflectedException.debugStatus(svmDR6: word(VMCBLayout.dr6), rflags: word(VMCBLayout.rflags)))
            }
            put(VMCBLayout.dr7, ReflectedException.debugControlOnEntry(word(VMCBLayout.dr7)))
        } else {
            put(VMCBLayout.rflags, ReflectedException.flagsForInjection(word(VMCBLayout.rflags), event: event))
        }
        // EXITINFO1 is the error code of an exception that has one (#AC: 0).
        let errorCode = event & (1 << 11) != 0 ? word(VMCBLayout.exitInfo1) & 0xFFFF_FFFF : 0
        // Injected at the next entry as an interrupted event is (see VMX.reflect).
        vcpu.pointee.interrupted = InterruptedEvent(information: event, errorCode: errorCode, instructionLength: 0)
        return true
    }

    /// The VMCB's state-save area (0x400-0x6FF) and where its copy lives while an entry may fail: the end of
    /// the vCPU's own frame, after the VCPU (`GuestMode.layoutMatchesAssembly` checks that it fits).
    static let saveAreaBytes = 0x300, backupOffset = 4096 - 0x300

    @inline(__always)
    private static func backupArea(_ vcpu: VCPUPointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(vcpu) + backupOffset
    }

    /// A virtual interrupt of the lowest priority, whose delivery is intercepted: an exit as soon as the
    /// guest can take an interrupt.
    private static func armInterruptWindow(_ v: UnsafeMutableRawPointer, _ armed: Bool) {
        var control = v.load(fromByteOffset: VMCBLayout.virtualInterrupt, as: UInt64.self)
        var intercepts = v.load(fromByteOffset: VMCBLayout.interceptMisc1, as: UInt32.self)
        let request: UInt64 = (1 << 8) | (0xF << 16) | (1 << 20)          // V_IRQ, V_INTR_PRIO 15, V_IGN_TPR
        if armed {
            control |= request
            intercepts |= Intercept.vintr
        } else {
            control &= ~request
            intercepts &= ~Intercept.vintr
        }
        v.storeBytes(of: control, toByteOffset: VMCBLayout.virtualInterrupt, as: UInt64.self)
        v.storeBytes(of: intercepts, toByteOffset: VMCBLayout.interceptMisc1, as: UInt32.self)
    }

    // MARK: VMCB ↔ GuestState

    static func load(_ vcpu: VCPUPointer, _ mask: TransferMask) {
        let v = UnsafeRawPointer(PhysicalMemory.pointer(vcpu.pointee.control))
        func word(_ offset: Int) -> UInt64 { v.load(fromByteOffset: offset, as: UInt64.self) }
        func segment(_ offset: Int) -> GuestSegment {
            GuestSegment(selector: v.load(fromByteOffset: offset, as: UInt16.self),
                         attributes: v.load(fromByteOffset: offset + 2, as: UInt16.self),
                         limit: v.load(fromByteOffset: offset + 4, as: UInt32.self), base: word(offset + 8))
        }
        if mask.contains(.ripAndLength) {
            let rip = word(VMCBLayout.rip)
            vcpu.pointee.state.rip = rip
            vcpu.pointee.state.instructionLength = instructionLength(v, rip: rip)
        }
        if mask.contains(.rsp) { vcpu.pointee.state.rsp = word(VMCBLayout.rsp) }
        if mask.contains(.rflags) { vcpu.pointee.state.rflags = word(VMCBLayout.rflags) }
        if mask.contains(.qualification) {
            // The neutral layouts: I/O and nested page faults as VMX reports them.
            let info = word(VMCBLayout.exitInfo1), code = word(VMCBLayout.exitCode)
            vcpu.pointee.state.qualification = code == 0x7B ? IOAccess(svmExitInfo1: info).qualification
                : code == 0x400 ? NestedPageFaultAccess.fromSVM(info)
                : (0x40...0x5F).contains(code) ? code - 0x40 : info                 // exceptions: the vector
            vcpu.pointee.state.guestPhysical = word(VMCBLayout.exitInfo2)
        }
        if mask.contains(.interruptibility) {
            vcpu.pointee.state.interruptibility = word(VMCBLayout.interruptShadow) & 1
            vcpu.pointee.state.activity = 0
        }
        // The rest of the system state moves rarely (startup, faults): one test skips all of it.
        if !mask.isDisjoint(with: .rareSystemState) {
            if mask.contains(.controlRegisters) {
                vcpu.pointee.state.cr0 = word(VMCBLayout.cr0)
                vcpu.pointee.state.cr2 = word(VMCBLayout.cr2)
                vcpu.pointee.state.cr3 = word(VMCBLayout.cr3)
                vcpu.pointee.state.cr4 = word(VMCBLayout.cr4)
            }
            if mask.contains(.efer) { vcpu.pointee.state.efer = word(VMCBLayout.efer) & ~svme }
            if mask.contains(.codeStackSegments) {
                vcpu.pointee.state.cs = segment(VMCBLayout.cs)
                vcpu.pointee.state.ss = segment(VMCBLayout.ss)
            }
            if mask.contains(.dataSegments) {
                vcpu.pointee.state.ds = segment(VMCBLayout.ds)
                vcpu.pointee.state.es = segment(VMCBLayout.es)
            }
            if mask.contains(.extraSegments) {
                vcpu.pointee.state.fs = segment(VMCBLayout.fs)
                vcpu.pointee.state.gs = segment(VMCBLayout.gs)
            }
            if mask.contains(.taskAndLocalTables) {
                vcpu.pointee.state.tr = segment(VMCBLayout.tr)
                vcpu.pointee.state.ldtr = segment(VMCBLayout.ldtr)
            }
            if mask.contains(.descriptorTables) {
                vcpu.pointee.state.gdtr = segment(VMCBLayout.gdtr)
                vcpu.pointee.state.idtr = segment(VMCBLayout.idtr)
            }
            if mask.contains(.syscallMSRs) {
                vcpu.pointee.state.star = word(VMCBLayout.star)
                vcpu.pointee.state.lstar = word(VMCBLayout.lstar)
                vcpu.pointee.state.cstar = word(VMCBLayout.cstar)
                vcpu.pointee.state.sfmask = word(VMCBLayout.sfmask)
                vcpu.pointee.state.kernelGSBase = word(VMCBLayout.kernelGSBase)
            }
        }
    }

    /// The length of the exiting instruction: NRIPS's next RIP if the CPU has it; else what the exit tells
    /// (IOIO's EXITINFO2 is the next RIP) or the fixed length of the instruction that exits (0: unknown).
    private static func instructionLength(_ v: UnsafeRawPointer, rip: UInt64) -> UInt64 {
        let code = v.load(fromByteOffset: VMCBLayout.exitCode, as: UInt64.self)
        if code == 0x7B { return v.load(fromByteOffset: VMCBLayout.exitInfo2, as: UInt64.self) &- rip }
        if nextRIP {
            let next = v.load(fromByteOffset: VMCBLayout.nextRIP, as: UInt64.self)
            if next != 0 { return next &- rip }
        }
        switch code {
        // Without prefixes: a guest that prefixes one of these only misplaces its own RIP.
        case 0x72, 0x7C, 0x6E, 0x77: return 2      // CPUID, RDMSR/WRMSR, RDTSC, PAUSE
        case 0x76, 0x89, 0x6F: return 2            // INVD, WBINVD, RDPMC
        case 0x8A, 0x8B: return 3                  // MONITOR, MWAIT
        case 0x78: return 1                        // HLT
        case 0x81, 0x8D: return 3                  // VMMCALL, XSETBV
        default: return 0
        }
    }

    private static func store(_ vcpu: VCPUPointer, _ mask: TransferMask) {
        let v = PhysicalMemory.pointer(vcpu.pointee.control)
        let state = VCPU.state(of: vcpu)        // in place: a copy would cost 440 bytes per entry
        func put(_ offset: Int, _ value: UInt64) { v.storeBytes(of: value, toByteOffset: offset, as: UInt64.self) }
        func put(_ offset: Int, _ segment: GuestSegment) {
            v.storeBytes(of: segment.selector, toByteOffset: offset, as: UInt16.self)
            v.storeBytes(of: segment.attributes, toByteOffset: offset + 2, as: UInt16.self)
            v.storeBytes(of: segment.limit, toByteOffset: offset + 4, as: UInt32.self)
            put(offset + 8, segment.base)
        }
        if mask.contains(.ripAndLength) { put(VMCBLayout.rip, state.pointee.rip) }
        if mask.contains(.rsp) { put(VMCBLayout.rsp, state.pointee.rsp) }
        if mask.contains(.rflags) { put(VMCBLayout.rflags, state.pointee.rflags) }
        // The system state moves rarely (startup, faults): one test skips all of it.
        if !mask.isDisjoint(with: .systemState) {
            if mask.contains(.controlRegisters) {
                put(VMCBLayout.cr0, state.pointee.cr0)
                put(VMCBLayout.cr2, state.pointee.cr2)
                put(VMCBLayout.cr3, state.pointee.cr3)
                put(VMCBLayout.cr4, state.pointee.cr4)
            }
            if mask.contains(.efer) { put(VMCBLayout.efer, state.pointee.efer | svme) }   // VMRUN requires the guest's SVME
            if mask.contains(.interruptibility) { put(VMCBLayout.interruptShadow, state.pointee.interruptibility & 3 != 0 ? 1 : 0) }
            if mask.contains(.codeStackSegments) {
                put(VMCBLayout.cs, state.pointee.cs)
                put(VMCBLayout.ss, state.pointee.ss)
                // The CPL is the DPL of SS (real mode: 0).
                let protected = v.load(fromByteOffset: VMCBLayout.cr0, as: UInt64.self) & 1 != 0
                v.storeBytes(of: protected ? UInt8((state.pointee.ss.attributes >> 5) & 3) : 0, toByteOffset: VMCBLayout.cpl, as: UInt8.self)
            }
            if mask.contains(.dataSegments) {
                put(VMCBLayout.ds, state.pointee.ds)
                put(VMCBLayout.es, state.pointee.es)
            }
            if mask.contains(.extraSegments) {
                put(VMCBLayout.fs, state.pointee.fs)
                put(VMCBLayout.gs, state.pointee.gs)
            }
            if mask.contains(.taskAndLocalTables) {
                put(VMCBLayout.tr, state.pointee.tr)
                put(VMCBLayout.ldtr, state.pointee.ldtr)
            }
            if mask.contains(.descriptorTables) {
                put(VMCBLayout.gdtr, state.pointee.gdtr)
                put(VMCBLayout.idtr, state.pointee.idtr)
            }
            if mask.contains(.syscallMSRs) {
                put(VMCBLayout.star, state.pointee.star)
                put(VMCBLayout.lstar, state.pointee.lstar)
                put(VMCBLayout.cstar, state.pointee.cstar)
                put(VMCBLayout.sfmask, state.pointee.sfmask)
                put(VMCBLayout.kernelGSBase, state.pointee.kernelGSBase)
            }
        }
    }
}
