import KernelPlatform
import SwiftletABI

/// Turning the machine off. Until the kernel reads the FADT (with the ACPI work for the VMM), it uses the
/// PM1a control ports the emulators' firmware sets up: QEMU's PIIX4 at 0x604, Bochs's at 0xB004.
enum Power {
    private static let sleepEnableS5: UInt16 = 0x2000

    /// `reason` goes on the kernel's own (untagged) power-off line, which the run harness judges the run by.
    static func off(_ reason: PowerOffReason, guestStatus: UInt8 = 0) -> Never {
        if GuestMode.backend != .none {
            log("virt: \(GuestMode.exitsToVMM) VM exits sent to VMMs, \(GuestMode.interruptsInGuest) host interrupts and preemptions taken in guest mode, \(GuestMode.exceptionsReflected) #DB/#AC reflected into guests by the kernel, \(GuestMode.xsetbvRefused) XSETBV refused in the kernel, the host's XCR0 put back after \(SVM.xcr0Restored) exits")
            log("virt: debug registers (DR0-3, DR6 on VMX) switched between vCPUs at \(DebugRegisters.switches) entries")
            if GuestMode.backend == .vmx { log("virt: \(VMX.vpidFlushes) VPIDs of destroyed vCPUs flushed (\(VMX.vpidFlushKind))") }
        }
        if reason == .guestExited {
            VerdictLine.log("kernel: powering off: \(reason.description) \(UInt64(guestStatus))")
        } else {
            VerdictLine.log("kernel: powering off: \(reason.description)")
        }
        SerialPort.flush()
        x86_cli()
        x86_outw(0x604, sleepEnableS5)
        x86_outw(0xB004, sleepEnableS5)
        // The emulator acts on the write asynchronously; give it 200 ms before calling it a failure.
        for _ in 0..<20 {
            ProgrammableIntervalTimer.startOneShot(milliseconds: 10)
            ProgrammableIntervalTimer.waitForOneShot()
        }
        log("kernel: ACPI power-off did not take effect")
        halt()
    }
}
