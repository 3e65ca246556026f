import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// The guest pulled a reset line (the ACPI reset register, which Linux's `reboot` reaches directly or
    /// through the reset vector, the keyboard controller or port 0xCF9): the VM boots again from scratch,
    /// as a PC does, and the run goes on. What the boot protocol placed in RAM is placed again from the
    /// read-only modules (`LinuxGuestSetup.load`: the kernel, initrd, command line, ACPI tables, zero page,
    /// page tables, GDT), the board is reset (APIC, IOAPIC, UART, MSRs, kvmclock's pages; the CMOS clock
    /// runs on), kvmclock's time zero is now and the vCPU re-enters the kernel's entry with the whole
    /// startup state. Allocates nothing: a guest that reboots in a loop would exhaust the VMM's
    /// never-freeing heap; the reset line says how much it took (0).
    ///
    /// What a reset leaves as it is, as on hardware or because the kernel keeps it per vCPU and no reply
    /// can set it: RAM beyond what is placed again (a real machine's RAM keeps its contents too); the TSC
    /// (the host's, not offset: Linux takes it as it finds it); FPU/SSE state (kept by INIT as well; Linux
    /// initialises it at boot) and XCR0 (never the guest's); DR0-3, DR6 and DR7 (Linux clears them in
    /// `cpu_init`, and only a debugger sets them); SVM's V_TPR (the kernel's interrupt window ignores it);
    /// an interrupt-window request the old boot left (sticky in the kernel: one spare window exit that is
    /// answered like any other) and a recall on its way (one spare recall exit). No event is in flight:
    /// the reset is an OUT's exit, never taken during event delivery, and nothing is injected with this
    /// reply. The startup mask covers the rest the old boot changed: EFER, the SYSCALL MSRs and
    /// KERNEL_GS_BASE, the FS/GS bases, CR0-CR4, the descriptor tables, the interruptibility state; the
    /// MSRs the board keeps (PAT, MTRRs, APIC base, kvmclock) start again with it. Console input keeps
    /// flowing: the reader thread and its ring are untouched (bytes in the old UART's FIFO are lost with
    /// it, as on hardware). The exit statistics count the whole run; the reset line counts this boot.
    mutating func reset(_ source: LinuxBoard.ResetSource) -> Action {
        flushConsole()
        guard let setup else {
            log("vmm: \(name): the guest reset before the VMM had built it; VM stopped")
            return .stop(failures: 1)
        }
        let heap = Allocator.next
        switch setup {
        case .linux(let linux):
            LinuxGuestSetup.load(linux, ram: memory.buffer, kernel: kernel, initrd: initrd, bootargs: bootargs)
        case .multiboot(let multiboot):
            MultibootGuestSetup.load(multiboot, ram: memory.buffer, kernel: kernel, modules: multibootModules, commandLine: bootargs)
        }
        board.reset()
        TimerKick.deadline = 0
        let allocated = Allocator.next &- heap
        // The IO handler stepped over the OUT: CS base + RIP is the address after it (real mode there).
        let byResetVector = source == .acpiRegister && guest.segmentBase(0) &+ guest.rip == ResetVector.afterOut
        let by: StaticString = byResetVector ? ", by the reset vector's code" : ""
        log("vmm: \(name): the guest reset (\(source.description)\(by)) after \(bootExits) exits; booting it again (boot \(boot &+ 1), the reset allocated \(allocated) bytes of the VMM's heap)")
        boot &+= 1
        exitsBeforeBoot = statistics.total
        bootTSC = timestamp()
        guest.set(entryState, FlatLongMode.startupMask)
        return .resume(FlatLongMode.startupMask)
    }
}
