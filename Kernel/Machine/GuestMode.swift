import KernelPlatform
import SwiftletABI

/// The architecture-neutral vCPU layer: picks the backend at boot, creates VMs and vCPUs, and runs a vCPU
/// thread when the scheduler chooses it. Host interrupts that arrive in guest mode are taken here and never
/// reach the VMM; every other exit becomes an IPC call to the vCPU's exception handler (`IPC.deliverExit`),
/// and the thread waits, `.faulted`, for the VMM's reply.
enum GuestMode {
    enum Backend { case none, vmx, svm }
    nonisolated(unsafe) private(set) static var backend = Backend.none
    /// Exits sent to VMMs and host interrupts taken in guest mode, reported at power-off.
    nonisolated(unsafe) private(set) static var exitsToVMM: UInt64 = 0
    nonisolated(unsafe) private(set) static var interruptsInGuest: UInt64 = 0
    /// #DB and #AC exits the kernel reflected into their guests (`ReflectedException`).
    nonisolated(unsafe) private(set) static var exceptionsReflected: UInt64 = 0
    /// XSETBV exits the kernel answered with #UD or #GP (XCR0 is not switched).
    nonisolated(unsafe) private(set) static var xsetbvRefused: UInt64 = 0

    /// Turns on what the CPU offers (after the optional self-test, which uses the hardware on its own).
    static func initialize(_ features: VirtualizationFeatures, tscHz: UInt64, timerHz: UInt64) -> LogLine {
        switch features {
        case .vmx(let vmx) where VMX.enable(vmx, tscTicksPerTimerTick: tscHz / max(timerHz, 1)):
            backend = .vmx
            return "virt: VMX backend ready: vCPUs with EPT\(vmx.vpid ? " and VPID" as StaticString : ""), unrestricted guest"
        case .svm(let svm) where SVM.enable(svm):
            backend = .svm
            return "virt: SVM backend ready: vCPUs with nested paging and ASIDs\(svm.nextRIP ? "" as StaticString : " (no NRIPS: instruction lengths from the exit code)")"
        default:
            return "virt: no usable VMX or SVM: VMs cannot be created"
        }
    }

    /// The GuestState's general-register block, as the entry stubs use it (`state` is VCPU's first field
    /// and `rax` GuestState's; `layoutMatchesAssembly` checks both at boot).
    @inline(__always)
    static func registers(_ vcpu: VCPUPointer) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutableRawPointer(VCPU.state(of: vcpu)).assumingMemoryBound(to: UInt64.self)
    }

    static func layoutMatchesAssembly() -> Bool {
        var probe = VCPU()
        probe.state.rax = 1
        probe.state.rdi = 2
        probe.state.r15 = 3
        return withUnsafeBytes(of: probe) { bytes in
            bytes.load(fromByteOffset: 0, as: UInt64.self) == 1 && bytes.load(fromByteOffset: 48, as: UInt64.self) == 2
                && bytes.load(fromByteOffset: 112, as: UInt64.self) == 3
        } && MemoryLayout<VCPU>.size <= SVM.backupOffset     // the VCPU's frame also holds SVM's save-area copy
    }

    // MARK: Objects

    /// A task whose page tables are the guest-physical address space: empty, without the kernel half.
    static func newMachine(factory: UnsafeMutablePointer<Factory>) -> Result<TaskPointer, SyscallError> {
        guard backend != .none else { return .failure(.notSupported) }
        return KernelObjects.newTask(factory: factory, guestPhysical: true)
    }

    /// A vCPU thread of `machine`: a TCB (its FPU area holds the guest's), the VCPU and the VMCS/VMCB.
    static func newVCPU(in machine: TaskPointer, priority: UInt8, factory: UnsafeMutablePointer<Factory>) -> Result<ThreadPointer, SyscallError> {
        guard backend != .none else { return .failure(.notSupported) }
        guard machine.pointee.isVirtualMachine else { return .failure(.wrongObjectType) }
        // The VCPU and its VMCS/VMCB; the TCB is charged by newThread. Whatever fails later gives it all back.
        let ownFrames = Factory.cost(of: .virtualCPU) - Factory.cost(of: .thread)
        guard factory.pointee.charge(ownFrames) else { return .failure(.quotaExceeded) }
        let thread: ThreadPointer
        switch KernelObjects.newThread(in: machine, priority: priority, factory: factory) {
        case .success(let created): thread = created
        case .failure(let error):
            factory.pointee.refund(ownFrames)
            return .failure(error)
        }
        func undo(_ first: PhysicalAddress?, _ second: PhysicalAddress?) {
            KernelObjects.release(first)
            KernelObjects.release(second)
            KernelObjects.discardNewThread(thread, factory: factory)
            factory.pointee.refund(ownFrames)
        }
        let vcpuFrame = KernelMemory.allocateFrame()?.adopt(), controlFrame = KernelMemory.allocateFrame()?.adopt()
        guard let address = vcpuFrame, let control = controlFrame else {
            undo(vcpuFrame, controlFrame)
            return .failure(.quotaExceeded)
        }
        PhysicalMemory.zeroFrame(address)
        let vcpu = PhysicalMemory.object(at: address, as: VCPU.self)
        vcpu.initialize(to: VCPU())
        DebugRegisters.forget(vcpu)
        vcpu.pointee.machine = machine
        // Neither backend leaves the control block loaded when it fails (VMX fails only at VMCLEAR/VMPTRLD).
        let ready = backend == .vmx ? VMX.create(vcpu, control: control) : SVM.create(vcpu, control: control)
        guard ready else {
            undo(address, control)
            return .failure(.notSupported)
        }
        thread.pointee.vcpu = vcpu
        // Anything but 0, so `start` accepts it; the guest's RIP is in the VCPU.
        thread.pointee.context.rip = 1
        return .success(thread)
    }

    /// Destroy of a vCPU thread: the backend lets go of its control block (VMCLEAR on VMX, so the CPU
    /// holds no cached copy of a frame about to be reused; SVM forgets it ran last, so an ASID it shared
    /// is flushed before the next vCPU uses it), the debug registers forget it, and its VCPU and control
    /// frames go back. The caller destroys the thread itself and refunds the rest of the charge.
    static func retire(_ vcpu: VCPUPointer) {
        if backend == .vmx { VMX.retire(vcpu) } else { SVM.retire(vcpu) }
        DebugRegisters.forget(vcpu)
        KernelMemory.releaseFrame(vcpu.pointee.control)
        KernelMemory.releaseFrame(PhysicalMemory.physicalAddress(of: vcpu))
    }

    /// Destroy of a VM task (its vCPUs are gone): translations tagged with its EPT/NPT root go before
    /// the root's frame can be reused by another VM.
    static func retire(machine: TaskPointer) {
        if backend == .vmx { VMX.retire(machine: machine) }
        // SVM: every vCPU of the VM had its own ASID (or a shared one flushed at every switch).
    }

    // MARK: Running

    /// Runs the current thread, a vCPU, until an exit goes to its VMM or the scheduler picks another thread.
    @inline(never)
    static func run(_ thread: ThreadPointer) {
        let vcpu = thread.pointee.vcpu!
        FPU.claim(thread)
        if !vcpu.pointee.started {
            vcpu.pointee.started = true
            return exit(thread, vcpu, .startup, raw: 0)
        }
        if let refusal = vcpu.pointee.refusal {
            vcpu.pointee.pendingEvent = 0
            return exit(thread, vcpu, .invalidGuestState, raw: refusal.raw)
        }
        // A recall asked for while the vCPU was ready, preempted or waiting for its VMM: exit before entering.
        if vcpu.pointee.takeRecall() { return exit(thread, vcpu, .recall, raw: 0) }
        while true {
            let (reason, raw) = backend == .vmx ? VMX.enter(vcpu) : SVM.enter(vcpu)
            switch reason {
            case .externalInterrupt, .preemption:
                // The interrupt is still pending at the local APIC: take it, then go on if still chosen. An
                // event the exit interrupted is injected again at the next entry (`VCPU.entryInjection`).
                interruptsInGuest &+= 1
                x86_sti_nop_cli()
            case .xsetbv:
                // XCR0 is the host's: the guest gets the fault a CPU would give (`VCPU.refuseXSETBV`).
                if backend == .vmx { VMX.load(vcpu, .controlRegisters) } else { SVM.load(vcpu, .controlRegisters) }
                vcpu.pointee.refuseXSETBV(guestCR4: vcpu.pointee.state.cr4)
                xsetbvRefused &+= 1
            case .exception, .other:
                // A #DB or #AC goes back into the guest without the VMM. A guest can chain them forever (the
                // reason they are intercepted): each one is a point to take host interrupts and reschedule.
                guard backend == .vmx ? VMX.reflect(vcpu) : SVM.reflect(vcpu) else { return exit(thread, vcpu, reason, raw: raw) }
                exceptionsReflected &+= 1
                x86_sti_nop_cli()
            default:
                return exit(thread, vcpu, reason, raw: raw)
            }
            if vcpu.pointee.takeRecall() { return exit(thread, vcpu, .recall, raw: 0) }
            if System.scheduler.current != thread { return }
        }
    }

    /// Sends the exit to the vCPU's exception handler, with the state its reason's mask selects.
    private static func exit(_ thread: ThreadPointer, _ vcpu: VCPUPointer, _ reason: ExitReason, raw: UInt32) {
        vcpu.pointee.reason = reason
        vcpu.pointee.rawReason = raw
        // At startup `state` is the reset state the backend wrote; after an exit, read what the mask needs.
        // A recall before entry: what the reply changed and no entry wrote yet is in `state` already. (A
        // refused reply's message shows the guest's state as the hardware has it, not the reply's.)
        if reason != .startup {
            let mask = vcpu.pointee.messageMask()
            let fromHardware = reason == .recall ? mask.subtracting(vcpu.pointee.dirty) : mask
            if backend == .vmx { VMX.load(vcpu, fromHardware) } else { SVM.load(vcpu, fromHardware) }
            vcpu.pointee.completeMessage(mask)
        }
        let handler = thread.pointee.exceptionHandler
        guard handler.info & 0xFF == UInt64(ObjectType.endpoint.rawValue) else {    // type, without a lookup table
            log("vcpu: exit \(reason.rawValue) (raw \(hex: UInt64(raw))) and no VMM to handle it: vCPU stopped")
            thread.pointee.state = .stopped
            System.scheduler.currentBlocked()
            return
        }
        exitsToVMM &+= 1
        let endpoint = PhysicalMemory.object(fromCapabilityAddress: handler.object, as: Endpoint.self)
        if !FastPath.sendExit(thread, to: endpoint, badge: handler.badge, scheduler: &System.scheduler) {
            IPC.sendFault(thread, to: endpoint, badge: handler.badge, scheduler: &System.scheduler)
        }
    }

    /// Set by a backend whose exits leave host state to restore before user code runs (VMX).
    nonisolated(unsafe) static var hostStateDirty = false

    /// Before a user thread runs after a guest did: one flag on the common path.
    @inline(__always)
    static func leave() {
        if hostStateDirty {
            hostStateDirty = false
            VMX.restoreHostState()
        }
    }
}
