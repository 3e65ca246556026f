import KernelPlatform
import SwiftletABI

/// The VT-x backend of the vCPU layer: VMXON once at boot, a VMCS per vCPU with EPT, VPID and unrestricted
/// guest, and the translation between the VMCS and the neutral GuestState. Only the parts of the state an
/// exit message needs are read (VMREAD each), and only the parts a reply changed are written back.
enum VMX {
    private enum MSR {
        static let featureControl: UInt32 = 0x3A, basic: UInt32 = 0x480, misc: UInt32 = 0x485
        static let pinBased: UInt32 = 0x481, processorBased: UInt32 = 0x482, exit: UInt32 = 0x483, entry: UInt32 = 0x484
        static let cr0Fixed0: UInt32 = 0x486, cr0Fixed1: UInt32 = 0x487, cr4Fixed0: UInt32 = 0x488, cr4Fixed1: UInt32 = 0x489
        static let secondary: UInt32 = 0x48B, eptVPIDCapabilities: UInt32 = 0x48C
        static let truePinBased: UInt32 = 0x48D, trueProcessorBased: UInt32 = 0x48E, trueExit: UInt32 = 0x48F, trueEntry: UInt32 = 0x490
        static let efer: UInt32 = 0xC000_0080, fsBase: UInt32 = 0xC000_0100, gsBase: UInt32 = 0xC000_0101
        static let star: UInt32 = 0xC000_0081, lstar: UInt32 = 0xC000_0082, cstar: UInt32 = 0xC000_0083
        static let sfmask: UInt32 = 0xC000_0084, kernelGSBase: UInt32 = 0xC000_0102
    }
    /// The controls, checked against the Intel SDM vol. 3C (chapter 25, 26.x) and KVM's choice. The VMM
    /// gets every exit it must decide; what only touches the guest's own state stays in the guest.
    /// Pin-based: external-interrupt exiting (host interrupts are the host's), NMI exiting (so is an NMI:
    ///   the kernel treats it as the host's, as its own handler does, and re-enters), the preemption timer
    ///   (bounds every stay in the guest). No posted interrupts, no virtual NMIs.
    /// Processor-based, set: HLT exiting (the VMM decides when a halted guest wakes), unconditional I/O
    ///   exiting (every port: the VMM owns the platform; no bitmaps to share), RDPMC exiting (the host's
    ///   counters), MWAIT and MONITOR exiting (a guest must not park the physical CPU; CPUID hides them),
    ///   CR8 load and store exiting (without a TPR shadow a guest's MOV to CR8 writes the local APIC's
    ///   real TPR: CR8 = 15 would mask every host interrupt, in the guest and after the exit; the VMM
    ///   keeps the guest's TPR — on SVM, V_INTR_MASKING gives the guest a virtual TPR of its own).
    ///   Not set: INVLPG and CR3-load/store exiting (the guest's own translations with EPT; the TRUE
    ///   controls let them be 0), MOV-DR exiting (every exit sets DR7 to
    ///   0x400, so no breakpoint a guest arms fires in the host; DR0-3 and DR6 are each vCPU's own,
    ///   switched lazily between vCPUs by `DebugRegisters`), RDTSC exiting and TSC offsetting (the guest reads the host's
    ///   TSC), PAUSE exiting (the preemption timer bounds a spinning guest), MSR bitmaps (none: every
    ///   RDMSR/WRMSR exits, so the kernel knows the guest's SYSCALL MSRs), monitor trap flag.
    /// Secondary, set: EPT, VPID, unrestricted guest, RDTSCP (else #UD), WBINVD exiting (the host's whole
    ///   cache hierarchy is not the guest's to flush). Not set: descriptor-table exiting (the guest's own
    ///   tables), RDRAND/RDSEED exiting (the guest may use the host's random numbers; KVM lets it too),
    ///   INVPCID (off: the guest gets #UD, so CPUID must hide it), XSAVES, VMFUNC, PML, EPT-violation #VE.
    /// Event delivery an exit interrupts (IDT-vectoring information) is injected again at the next entry
    ///   through the VM-entry interruption fields (`InterruptedEvent`), unless the VMM's reply injects.
    /// Always exit whatever the controls: CPUID, GETSEC, INVD (never executed: it would discard the host's
    ///   dirty cache lines), XSETBV, task switches, the VMX instructions, triple fault, INIT, SIPI. XSETBV
    ///   is answered in the kernel (`VCPU.refuseXSETBV`): XCR0 is not switched and CPUID hides XSAVE, so
    ///   #UD with the guest's CR4.OSXSAVE clear, #GP(0) with it set; the VMM never sees it.
    /// Exception bitmap: #DB and #AC only, as KVM, against the delivery loops of CVE-2015-5307 and
    ///   CVE-2015-8104; the kernel reflects them into the guest (`reflect`, `ReflectedException`). The
    ///   guest's other faults are its own.
    private enum Control {
        static let interruptWindow: UInt64 = 1 << 2, hlt: UInt64 = 1 << 7, mwait: UInt64 = 1 << 10
        static let rdpmc: UInt64 = 1 << 11, cr8Load: UInt64 = 1 << 19, cr8Store: UInt64 = 1 << 20
        static let unconditionalIO: UInt64 = 1 << 24, monitor: UInt64 = 1 << 29
        static let secondary: UInt64 = 1 << 31
        static let ept: UInt64 = 1 << 1, rdtscp: UInt64 = 1 << 3, vpid: UInt64 = 1 << 5, wbinvd: UInt64 = 1 << 6
        static let unrestricted: UInt64 = 1 << 7
        static let externalInterruptExiting: UInt64 = 1 << 0, nmiExiting: UInt64 = 1 << 3, preemptionTimer: UInt64 = 1 << 6
        static let hostLongMode: UInt64 = 1 << 9, saveEFER: UInt64 = 1 << 20, loadHostEFER: UInt64 = 1 << 21
        static let longModeGuest: UInt64 = 1 << 9, loadGuestEFER: UInt64 = 1 << 15
    }

    nonisolated(unsafe) private static var primary: UInt64 = 0
    nonisolated(unsafe) private static var entryBase: UInt64 = 0
    nonisolated(unsafe) private static var revision: UInt32 = 0
    nonisolated(unsafe) private static var vpids = false
    /// The VMX-preemption timer's budget per entry (0: the CPU has no such timer).
    nonisolated(unsafe) private static var preemptionBudget: UInt64 = 0
    nonisolated(unsafe) private static var nextVPID: UInt32 = 1
    /// The INVVPID type a retired vCPU's VPID is flushed with before the counter can hand it out again:
    /// 1 (that VPID) or 2 (all), as IA32_VMX_EPT_VPID_CAP allows; 0: no INVVPID, the VM's EPT is flushed
    /// instead (INVEPT single-context drops the combined translations of every VPID on it).
    nonisolated(unsafe) private static var invvpidType: UInt64 = 0
    /// VPIDs flushed at retire, and flushes that failed (printed in the destroy tests' VM summary).
    nonisolated(unsafe) static var vpidFlushes: UInt64 = 0
    static var vpidFlushKind: StaticString {
        switch invvpidType {
        case 1: return "INVVPID single-context"
        case 2: return "INVVPID all-context"
        default: return "INVEPT of the vCPU's VM: no INVVPID"
        }
    }
    /// CR0/CR4 bits VMX operation requires: forced on in the guest and hidden from it by the read shadows.
    nonisolated(unsafe) private static var cr0Forced: UInt64 = 0
    nonisolated(unsafe) private static var cr4Forced: UInt64 = 0
    /// The VMCS VMPTRLD made current.
    nonisolated(unsafe) private static var loaded: PhysicalAddress = 0
    /// The vCPU whose SYSCALL MSRs the CPU holds (nil: the kernel's own).
    nonisolated(unsafe) private static var syscallMSRsOf: VCPUPointer?

    private static func adjust(_ wanted: UInt64, _ msr: UInt32) -> UInt64 {
        let capability = x86_rdmsr(msr)
        return (wanted | (capability & 0xFFFF_FFFF)) & (capability >> 32)
    }

    @inline(__always)
    private static func write(_ field: VMCSField, _ value: UInt64) {
        _ = x86_vmwrite(UInt64(field.rawValue), value)
    }

    @inline(__always)
    private static func read(_ field: VMCSField) -> UInt64 {
        x86_vmread(UInt64(field.rawValue))
    }

    /// VMXON. Needs EPT and unrestricted guest (the VMM may start a guest in real mode).
    static func enable(_ features: VirtualizationFeatures.VMXFeatures, tscTicksPerTimerTick: UInt64) -> Bool {
        guard features.ept, features.unrestrictedGuest, !features.disabledByFirmware,
              let regionFrame = KernelMemory.allocateFrame() else { return false }
        let control = x86_rdmsr(MSR.featureControl)
        if control & 1 == 0 { x86_wrmsr(MSR.featureControl, control | 1 | 4) }
        let basic = x86_rdmsr(MSR.basic)
        revision = UInt32(basic & 0x7FFF_FFFF)
        let useTrue = basic & (1 << 55) != 0
        // The exits that keep the host's own (CR8, MONITOR/MWAIT, every port): a CPU that cannot give them
        // is not used (every 64-bit VMX CPU can).
        let required = Control.hlt | Control.unconditionalIO | Control.rdpmc | Control.mwait | Control.monitor
            | Control.cr8Load | Control.cr8Store | Control.secondary
        primary = adjust(required, useTrue ? MSR.trueProcessorBased : MSR.processorBased)
        guard primary & required == required else { return false }
        x86_write_cr0((x86_read_cr0() | x86_rdmsr(MSR.cr0Fixed0)) & x86_rdmsr(MSR.cr0Fixed1))
        x86_write_cr4((x86_read_cr4() | (1 << 13) | x86_rdmsr(MSR.cr4Fixed0)) & x86_rdmsr(MSR.cr4Fixed1))
        // Unrestricted guest exempts PE and PG from the fixed bits.
        cr0Forced = x86_rdmsr(MSR.cr0Fixed0) & ~UInt64(0x8000_0001)
        cr4Forced = x86_rdmsr(MSR.cr4Fixed0)
        vpids = features.vpid
        if vpids {
            let capabilities = x86_rdmsr(MSR.eptVPIDCapabilities)
            let supported = capabilities & (1 << 32) != 0
            invvpidType = !supported ? 0 : capabilities & (1 << 41) != 0 ? 1 : capabilities & (1 << 42) != 0 ? 2 : 0
        }
        // One timer tick in TSC units, scaled by the timer's rate (IA32_VMX_MISC bits 4:0).
        let rate = x86_rdmsr(MSR.misc) & 0x1F
        preemptionBudget = max(min(tscTicksPerTimerTick >> rate, 0xFFFF_FFFF), 1)
        entryBase = adjust(Control.loadGuestEFER, useTrue ? MSR.trueEntry : MSR.entry)
        let region = regionFrame.adopt()
        PhysicalMemory.zeroFrame(region)
        PhysicalMemory.pointer(region).storeBytes(of: revision, as: UInt32.self)
        return x86_vmxon(region) == 0
    }

    /// A VMCS for `vcpu`: the controls, this CPU as host, and the reset state of a real-mode guest.
    static func create(_ vcpu: VCPUPointer, control frame: PhysicalAddress) -> Bool {
        let useTrue = x86_rdmsr(MSR.basic) & (1 << 55) != 0
        PhysicalMemory.zeroFrame(frame)
        PhysicalMemory.pointer(frame).storeBytes(of: revision, as: UInt32.self)
        guard x86_vmclear(frame) == 0, x86_vmptrld(frame) == 0 else { return false }
        loaded = frame
        vcpu.pointee.control = frame
        var secondary = Control.ept | Control.unrestricted | Control.rdtscp | Control.wbinvd
        if vpids {
            secondary |= Control.vpid
            vcpu.pointee.tag = nextVPID
            nextVPID = nextVPID == 0xFFFF ? 1 : nextVPID + 1
            write(.virtualProcessorID, UInt64(vcpu.pointee.tag))
        }
        // Host interrupts exit the guest. The preemption timer bounds every stay in the guest as well (about
        // a timer tick), so the scheduler gets the CPU back even where an interrupt is not delivered as an
        // exit: Bochs keeps host interrupts masked in a guest entered with IF clear.
        let pinBased = adjust(Control.externalInterruptExiting | Control.nmiExiting | Control.preemptionTimer, useTrue ? MSR.truePinBased : MSR.pinBased)
        write(.pinBasedControls, pinBased)
        if pinBased & Control.preemptionTimer != 0 {
            write(.preemptionTimerValue, preemptionBudget)
        }
        write(.processorBasedControls, primary)
        write(.secondaryControls, adjust(secondary, MSR.secondary))
        write(.exitControls, adjust(Control.hostLongMode | Control.saveEFER | Control.loadHostEFER,
                                    useTrue ? MSR.trueExit : MSR.exit))
        write(.entryControls, entryBase)
        write(.exceptionBitmap, UInt64(ReflectedException.interceptBits))
        write(.vmcsLinkPointer, UInt64.max)
        write(.eptPointer, vcpu.pointee.machine!.pointee.pageTableRoot | 6 | (3 << 3))   // write-back, 4 levels
        write(.cr0GuestHostMask, cr0Forced)
        write(.cr4GuestHostMask, cr4Forced)

        // Host: the kernel as it runs now; the exit lands in x86_vmx_run. The FPU belongs to the vCPU while
        // it runs (FPU.claim), so CR0.TS is clear.
        var gdtr = DescriptorTablePointer(limit: 0, base: 0), idtr = DescriptorTablePointer(limit: 0, base: 0)
        x86_sgdt(&gdtr)
        x86_sidt(&idtr)
        write(.hostCR0, x86_read_cr0() & ~UInt64(1 << 3))
        write(.hostCR3, x86_read_cr3())
        write(.hostCR4, x86_read_cr4())
        write(.hostIA32EFER, x86_rdmsr(MSR.efer))
        write(.hostCS, UInt64(Selector.kernelCode))
        write(.hostSS, UInt64(Selector.kernelData))
        write(.hostDS, UInt64(Selector.kernelData))
        write(.hostES, UInt64(Selector.kernelData))
        write(.hostFS, 0)
        write(.hostGS, 0)
        write(.hostTR, UInt64(Selector.taskState))
        write(.hostFSBase, x86_rdmsr(MSR.fsBase))
        write(.hostGSBase, x86_rdmsr(MSR.gsBase))
        write(.hostTRBase, UInt64(UInt(bitPattern: DescriptorTables.kernelEntryStack)) - 4)
        write(.hostGDTRBase, gdtr.base)
        write(.hostIDTRBase, idtr.base)
        write(.hostRIP, vmx_run_exit_address())
        vcpu.pointee.hostAddressSpace = x86_read_cr3()

        // Guest: the state the startup message shows the VMM, written as if a reply had set all of it.
        vcpu.pointee.state = GuestState.resetState
        write(.guestDR7, 0x400)
        write(.guestDebugControl, 0)
        store(vcpu, VCPU.everything)
        return true
    }

    /// Enters the guest with what the reply changed, and reads the exit's reason.
    static func enter(_ vcpu: VCPUPointer) -> (reason: ExitReason, raw: UInt32) {
        if loaded != vcpu.pointee.control {
            _ = x86_vmptrld(vcpu.pointee.control)
            loaded = vcpu.pointee.control
        }
        let cr3 = x86_read_cr3()
        if vcpu.pointee.hostAddressSpace != cr3 {
            write(.hostCR3, cr3)
            vcpu.pointee.hostAddressSpace = cr3
        }
        let machine = vcpu.pointee.machine!
        if vcpu.pointee.flushedGeneration != machine.pointee.guestTLBGeneration {
            x86_invept(1, machine.pointee.pageTableRoot | 6 | (3 << 3))
            vcpu.pointee.flushedGeneration = machine.pointee.guestTLBGeneration
        }
        // The general registers live in `state` (the entry stub loads them): only the rest goes to the VMCS.
        let dirty = vcpu.pointee.dirty.subtracting([.generalA, .generalB, .generalExtended])
        if dirty == .ripAndLength {
            write(.guestRIP, vcpu.pointee.state.rip)          // the common reply: step over the instruction
        } else if !dirty.isEmpty {
            store(vcpu, dirty)
        }
        vcpu.pointee.dirty = []
        if vcpu.pointee.hasEventToInject, let injection = vcpu.pointee.entryInjection() {
            write(.entryInterruptionInfo, injection.information)
            write(.entryExceptionErrorCode, injection.errorCode)
            write(.entryInstructionLength, injection.instructionLength)
            if injection.clearNMIBlocking { write(.guestInterruptibility, read(.guestInterruptibility) & ~UInt64(8)) }
        }
        if vcpu.pointee.interruptWindowRequested != vcpu.pointee.interruptWindowArmed {
            vcpu.pointee.interruptWindowArmed = vcpu.pointee.interruptWindowRequested
            write(.processorBasedControls, vcpu.pointee.interruptWindowArmed ? primary | Control.interruptWindow : primary)
        }
        if x86_read_cr2() != vcpu.pointee.state.cr2 { x86_write_cr2(vcpu.pointee.state.cr2) }
        if syscallMSRsOf != nil || vcpu.pointee.state.efer & 1 != 0 || vcpu.pointee.state.kernelGSBase != 0 {
            loadSyscallMSRs(vcpu)
        }

        DebugRegisters.claim(vcpu, status: true)
        GuestMode.hostStateDirty = true
        var failed = x86_vmx_run(GuestMode.registers(vcpu), vcpu.pointee.launched ? 1 : 0) != 0
        if failed && vcpu.pointee.launched && read(.instructionError) == 5 {
            // VMRESUME of a VMCS an entry failure left unlaunched: launch it again.
            vcpu.pointee.launched = false
            failed = x86_vmx_run(GuestMode.registers(vcpu), 0) != 0
        }
        vcpu.pointee.state.cr2 = x86_read_cr2()
        if failed {
            // VMfailValid: a control field the reply made invalid (an event, say). The VMM hears of it.
            let error = read(.instructionError)
            vcpu.pointee.state.qualification = error
            return (.invalidGuestState, UInt32(truncatingIfNeeded: error) | 0x8000_0000)
        }
        let raw = UInt32(truncatingIfNeeded: read(.exitReason))
        if raw & 0x8000_0000 == 0 { vcpu.pointee.launched = true }
        // An NMI (interruption type 2) is the host's: the kernel's handler would only note it; re-enter.
        if raw == 0 && (read(.exitInterruptionInfo) >> 8) & 7 == 2 { return (.externalInterrupt, raw) }
        let reason = ExitReason.fromVMX(raw)
        // An exit during event delivery (a host interrupt among them): the event goes again at the next entry.
        let vectoring = read(.idtVectoringInfo)
        if vectoring & InterruptedEvent.EventType.valid != 0 {
            vcpu.pointee.interrupted = InterruptedEvent.fromVMX(vectoring: vectoring, errorCode: read(.idtVectoringErrorCode),
                                                                exitInstructionLength: read(.exitInstructionLength)).at(reason)
        }
        if reason == .interruptWindow {
            vcpu.pointee.interruptWindowRequested = false
            vcpu.pointee.interruptWindowArmed = false
            write(.processorBasedControls, primary)
        }
        return (reason, raw)
    }

    /// An exception exit the kernel answers itself: a #DB or #AC goes back into the guest as it would have
    /// been delivered natively (`ReflectedException`); false for any other exit. The next entry injects it.
    static func reflect(_ vcpu: VCPUPointer) -> Bool {
        guard let event = ReflectedException.event(reflecting: read(.exitInterruptionInfo)) else { return false }
        if event & 0xFF == ReflectedException.debug {
            // The exit left DR6 (the guest's: VMX does not switch it, `DebugRegisters` does) and DR7.GD as they were.
            x86_write_dr6(ReflectedException.debugStatus(previous: x86_read_dr6(), pending: read(.exitQualification)))
            write(.guestDR7, ReflectedException.debugControlOnEntry(read(.guestDR7)))
        } else {
            write(.guestRFLAGS, ReflectedException.flagsForInjection(read(.guestRFLAGS), event: event))
        }
        // Delivered at the next entry as an interrupted event is (`VCPU.entryInjection`), so a recall exit
        // first shows it to the VMM; an event this exception interrupted is dropped, as KVM drops the first
        // of a benign pair. INT1 (privileged software exception) needs its instruction's length.
        let errorCode = event & InterruptedEvent.EventType.errorCodeValid != 0 ? read(.exitInterruptionErrorCode) & 0xFFFF_FFFF : 0
        vcpu.pointee.interrupted = InterruptedEvent(information: event, errorCode: errorCode,
                                                    instructionLength: read(.exitInstructionLength) & 0xF)
        return true
    }

    /// The guest's SYSCALL MSRs are needed only while it can use them: SYSCALL/SYSRET with EFER.SCE, and
    /// SWAPGS with a KERNEL_GS_BASE of its own. Its RDMSR/WRMSR all exit (no MSR bitmap), so `state` has
    /// the values.
    private static func loadSyscallMSRs(_ vcpu: VCPUPointer) {
        let state = VCPU.state(of: vcpu)        // in place: a copy would cost 440 bytes per entry
        let needed = state.pointee.efer & 1 != 0 || state.pointee.kernelGSBase != 0
        if needed {
            if syscallMSRsOf == vcpu { return }
            x86_wrmsr(MSR.star, state.pointee.star)
            x86_wrmsr(MSR.lstar, state.pointee.lstar)
            x86_wrmsr(MSR.sfmask, state.pointee.sfmask)
            // CSTAR and KERNEL_GS_BASE are 0 for the kernel: written (and restored) only if the guest's are not.
            guestUsesCSTARAndGS = state.pointee.cstar != 0 || state.pointee.kernelGSBase != 0
            if guestUsesCSTARAndGS {
                x86_wrmsr(MSR.cstar, state.pointee.cstar)
                x86_wrmsr(MSR.kernelGSBase, state.pointee.kernelGSBase)
            }
            syscallMSRsOf = vcpu
        } else {
            restoreSyscallMSRs()
        }
    }

    /// Before user code runs after guest code (`GuestMode.leave`, after any entry): the kernel's SYSCALL
    /// MSRs and descriptor-table limits.
    static func restoreHostState() {
        restoreSyscallMSRs()
        DescriptorTables.reloadAfterVMExit()
    }

    nonisolated(unsafe) private static var guestUsesCSTARAndGS = false

    /// `vcpu` is being destroyed: its VMCS is cleared (written back, not current) and forgotten, and the
    /// translations tagged with its VPID are flushed, so the vCPU that gets the VPID next (the counter
    /// wraps at 65535) starts with none of them.
    static func retire(_ vcpu: VCPUPointer) {
        if syscallMSRsOf == vcpu { restoreSyscallMSRs() }
        _ = x86_vmclear(vcpu.pointee.control)
        if loaded == vcpu.pointee.control { loaded = 0 }
        guard vpids else { return }
        if invvpidType != 0 {
            if x86_invvpid(invvpidType, UInt64(vcpu.pointee.tag)) == 0 { vpidFlushes &+= 1 }
        } else if let machine = vcpu.pointee.machine {
            retire(machine: machine)
            vpidFlushes &+= 1
        }
    }

    /// A VM is being destroyed: the guest-physical and combined translations of its EPT go (all VPIDs).
    static func retire(machine: TaskPointer) {
        x86_invept(1, machine.pointee.pageTableRoot | 6 | (3 << 3))
    }

    private static func restoreSyscallMSRs() {
        guard syscallMSRsOf != nil else { return }
        PerCPU.loadSyscallMSRs(all: guestUsesCSTARAndGS)
        syscallMSRsOf = nil
    }

    // MARK: VMCS ↔ GuestState

    /// Reads what `mask` selects from the VMCS (the general registers are in `state` already).
    static func load(_ vcpu: VCPUPointer, _ mask: TransferMask) {
        // A recall before entry reads a vCPU whose VMCS another vCPU's entry may have replaced.
        if loaded != vcpu.pointee.control {
            _ = x86_vmptrld(vcpu.pointee.control)
            loaded = vcpu.pointee.control
        }
        if mask.contains(.ripAndLength) {
            vcpu.pointee.state.rip = read(.guestRIP)
            vcpu.pointee.state.instructionLength = read(.exitInstructionLength)
        }
        if mask.contains(.rsp) { vcpu.pointee.state.rsp = read(.guestRSP) }
        if mask.contains(.rflags) { vcpu.pointee.state.rflags = read(.guestRFLAGS) }
        if mask.contains(.qualification) {
            switch vcpu.pointee.reason {
            case .nestedPageFault: vcpu.pointee.state.qualification = read(.exitQualification) & 7
            case .exception: vcpu.pointee.state.qualification = read(.exitInterruptionInfo) & 0xFF   // the vector
            default: vcpu.pointee.state.qualification = read(.exitQualification)
            }
            vcpu.pointee.state.guestPhysical = read(.guestPhysicalAddress)
        }
        if mask.contains(.interruptibility) {
            vcpu.pointee.state.interruptibility = read(.guestInterruptibility)
            vcpu.pointee.state.activity = read(.guestActivityState)
        }
        // The rest of the system state moves rarely (startup, faults): one test skips all of it.
        if !mask.isDisjoint(with: .rareSystemState) {
            if mask.contains(.controlRegisters) {
                vcpu.pointee.state.cr0 = (read(.guestCR0) & ~cr0Forced) | (read(.cr0ReadShadow) & cr0Forced)
                vcpu.pointee.state.cr3 = read(.guestCR3)
                vcpu.pointee.state.cr4 = (read(.guestCR4) & ~cr4Forced) | (read(.cr4ReadShadow) & cr4Forced)
            }
            if mask.contains(.efer) { vcpu.pointee.state.efer = read(.guestIA32EFER) }
            if mask.contains(.codeStackSegments) {
                vcpu.pointee.state.cs = segment(.guestCS)
                vcpu.pointee.state.ss = segment(.guestSS)
            }
            if mask.contains(.dataSegments) {
                vcpu.pointee.state.ds = segment(.guestDS)
                vcpu.pointee.state.es = segment(.guestES)
            }
            if mask.contains(.extraSegments) {
                vcpu.pointee.state.fs = segment(.guestFS)
                vcpu.pointee.state.gs = segment(.guestGS)
            }
            if mask.contains(.taskAndLocalTables) {
                vcpu.pointee.state.tr = segment(.guestTR)
                vcpu.pointee.state.ldtr = segment(.guestLDTR)
            }
            if mask.contains(.descriptorTables) {
                vcpu.pointee.state.gdtr = GuestSegment(limit: UInt32(truncatingIfNeeded: read(.guestGDTRLimit)), base: read(.guestGDTRBase))
                vcpu.pointee.state.idtr = GuestSegment(limit: UInt32(truncatingIfNeeded: read(.guestIDTRLimit)), base: read(.guestIDTRBase))
            }
        }
    }

    /// Writes what `mask` selects into the VMCS. Values the VMCS cannot hold make the next entry fail,
    /// which the VMM hears of as `invalidGuestState`.
    private static func store(_ vcpu: VCPUPointer, _ mask: TransferMask) {
        let state = VCPU.state(of: vcpu)        // in place: a copy would cost 440 bytes per entry
        if mask.contains(.ripAndLength) { write(.guestRIP, state.pointee.rip) }
        if mask.contains(.rsp) { write(.guestRSP, state.pointee.rsp) }
        if mask.contains(.rflags) { write(.guestRFLAGS, state.pointee.rflags) }
        // The system state moves rarely (startup, faults): one test skips all of it.
        if !mask.isDisjoint(with: .systemState) {
            if mask.contains(.controlRegisters) {
                // Forced bits on; bits the CPU does not allow stay as given, so the entry fails on them.
                write(.guestCR0, state.pointee.cr0 | cr0Forced)
                write(.cr0ReadShadow, state.pointee.cr0)
                write(.guestCR3, state.pointee.cr3)
                write(.guestCR4, state.pointee.cr4 | cr4Forced)
                write(.cr4ReadShadow, state.pointee.cr4)
            }
            if mask.contains(.efer) {
                write(.guestIA32EFER, state.pointee.efer)
                // The guest is in long mode exactly when EFER.LMA says so.
                write(.entryControls, state.pointee.efer & (1 << 10) != 0 ? entryBase | Control.longModeGuest : entryBase)
            }
            if mask.contains(.interruptibility) {
                write(.guestInterruptibility, state.pointee.interruptibility)
                write(.guestActivityState, state.pointee.activity)
            }
            if mask.contains(.codeStackSegments) {
                setSegment(.guestCS, state.pointee.cs)
                setSegment(.guestSS, state.pointee.ss)
            }
            if mask.contains(.dataSegments) {
                setSegment(.guestDS, state.pointee.ds)
                setSegment(.guestES, state.pointee.es)
            }
            if mask.contains(.extraSegments) {
                setSegment(.guestFS, state.pointee.fs)
                setSegment(.guestGS, state.pointee.gs)
            }
            if mask.contains(.taskAndLocalTables) {
                setSegment(.guestTR, state.pointee.tr)
                setSegment(.guestLDTR, state.pointee.ldtr)
            }
            if mask.contains(.descriptorTables) {
                write(.guestGDTRBase, state.pointee.gdtr.base)
                write(.guestGDTRLimit, UInt64(state.pointee.gdtr.limit))
                write(.guestIDTRBase, state.pointee.idtr.base)
                write(.guestIDTRLimit, UInt64(state.pointee.idtr.limit))
            }
            // New values: load them afresh at this entry.
            if mask.contains(.syscallMSRs) && syscallMSRsOf == vcpu { restoreSyscallMSRs() }
        }
    }

    /// The four fields of a segment: the selector's encoding, then base, limit and rights at fixed distances.
    private static func segment(_ selector: VMCSField) -> GuestSegment {
        let index = (selector.rawValue - VMCSField.guestES.rawValue) / 2
        return GuestSegment(selector: UInt16(truncatingIfNeeded: read(selector)),
                            attributes: VMXSegmentRights.fromVMX(UInt32(truncatingIfNeeded: x86_vmread(UInt64(0x4814 + 2 * index)))),
                            limit: UInt32(truncatingIfNeeded: x86_vmread(UInt64(0x4800 + 2 * index))),
                            base: x86_vmread(UInt64(0x6806 + 2 * index)))
    }

    private static func setSegment(_ selector: VMCSField, _ segment: GuestSegment) {
        let index = UInt64((selector.rawValue - VMCSField.guestES.rawValue) / 2)
        write(selector, UInt64(segment.selector))
        _ = x86_vmwrite(0x6806 + 2 * index, segment.base)
        _ = x86_vmwrite(0x4800 + 2 * index, UInt64(segment.limit))
        _ = x86_vmwrite(0x4814 + 2 * index, UInt64(VMXSegmentRights.toVMX(segment.attributes)))
    }
}
