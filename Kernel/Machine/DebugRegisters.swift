import KernelPlatform

/// DR0-3 (and on VMX DR6) are each vCPU's own. Neither backend switches them (VMX switches DR7, SVM's
/// VMCB holds DR6 and DR7), so without this a guest reads, and with its own DR7 arms, the breakpoint
/// addresses another VM left there. Switched lazily, as the FPU is: the CPU holds one vCPU's values
/// (`owner`'s) and only the entry of another vCPU saves them and loads its own, so the exit round trip
/// of a VMM with one vCPU pays one compare.
///
/// The host's values need not be put back after an exit, because only a guest can observe DR0-3/DR6:
/// the kernel never arms a breakpoint (every exit leaves DR7 at 0x400: VMX loads it, #VMEXIT clears it)
/// and reads DR6 only for the vCPU that just exited (`VMX.reflect`, which is the owner); user tasks
/// cannot (MOV DR is privileged); and every guest entry passes `claim` first. Hence MOV DR is not
/// intercepted on either backend (no MOV-DR exiting, no DR read/write intercepts): a guest's MOV DR
/// runs natively on its own values without an exit. KVM intercepts until a guest first touches them so
/// that it can skip its switch on every entry; here the switch happens only when vCPUs alternate.
enum DebugRegisters {
    /// The vCPU whose values the CPU holds (nil: nobody's yet, the CPU's values since boot).
    nonisolated(unsafe) private static var owner: VCPUPointer?

    /// Before entering `vcpu`. `status`: DR6 is switched too (VMX).
    @inline(__always)
    static func claim(_ vcpu: VCPUPointer, status: Bool) {
        if owner != vcpu { swap(to: vcpu, status: status) }
    }

    /// A vCPU newly made in a frame: whatever held that frame before does not own the CPU's values.
    static func forget(_ vcpu: VCPUPointer) {
        if owner == vcpu { owner = nil }
    }

    @inline(never)
    private static func swap(to vcpu: VCPUPointer, status: Bool) {
        var held = GuestDebugRegisters()
        held.dr0 = x86_read_dr0()
        held.dr1 = x86_read_dr1()
        held.dr2 = x86_read_dr2()
        held.dr3 = x86_read_dr3()
        if status { held.status = x86_read_dr6() }
        if let previous = owner {
            if !status { held.status = previous.pointee.debugRegisters.status }
            previous.pointee.debugRegisters = held
        }
        // A MOV to a debug register serializes: only those that differ are written.
        let own = vcpu.pointee.debugRegisters
        if held.dr0 != own.dr0 { x86_write_dr0(own.dr0) }
        if held.dr1 != own.dr1 { x86_write_dr1(own.dr1) }
        if held.dr2 != own.dr2 { x86_write_dr2(own.dr2) }
        if held.dr3 != own.dr3 { x86_write_dr3(own.dr3) }
        if status && held.status != own.status { x86_write_dr6(own.status) }
        owner = vcpu
        switches &+= 1
    }

    /// Entries that switched the debug registers, reported at power-off.
    nonisolated(unsafe) private(set) static var switches: UInt64 = 0
}
