import SwiftletABI
import VMMCore
import SwiftletUser
import TestGuest

extension VirtualMachine {
    /// SHUTDOWN / triple fault (or the double fault before it, where the kernel intercepts #DF): the VM is
    /// dead. The hostile guest ends this way on purpose.
    mutating func tripleFault() -> Action {
        log("vmm: \(name) double/triple-faulted after \(exitCount) exits (\(devices.unbackedAccesses) unbacked accesses, \(devices.unhandledExits) exits the VMM does not handle); VM stopped")
        return .stop(failures: kind == .hostile ? 0 : 1)
    }

    /// VM entry refused the state (outside the bad-reply test: a VMM bug or a guest that made its own
    /// state unenterable). Stop the VM.
    mutating func invalidState(raw: UInt32) -> Action {
        log("vmm: \(name): VM entry failed (raw \(hex: raw), detail \(hex: guest.qualification)); VM stopped")
        return .stop(failures: 1)
    }

    /// A hardware task switch (task gate, CALL/JMP to a TSS, IRET with NT): this VMM does not emulate
    /// them (a 64-bit guest has none), so the VM cannot go on.
    mutating func taskSwitch(raw: UInt32) -> Action {
        log("vmm: \(name): task switch (raw \(hex: raw)) after \(exitCount) exits: not emulated; VM stopped")
        return .stop(failures: kind == .hostile ? 0 : 1)
    }

    mutating func unhandled(raw: UInt32) -> Action {
        // VMMCALL/VMCALL, the SVM instructions, XSETBV, and whatever else the VMM does not model: #UD.
        devices.unhandledExits += 1
        if devices.unhandledExits > 10_000 {
            log("vmm: \(name): too many exits the VMM does not handle (last \(reason.rawValue), raw \(hex: raw)); VM stopped")
            return .stop(failures: 1)
        }
        inject(exception: 6)
        return .resume([.event])
    }

    /// The debug-loop guest's watchdog fired: its #DB chain never came to the VMM (the kernel reflects each
    /// #DB), yet the VMM got the CPU. It reached its breakpoint once, its handler never completed an
    /// instruction (each #DB raises the next first, as on hardware); stop it. A CPU that raised no #DB at
    /// its breakpoints (QEMU 7.2 TCG in a nested guest) let it run on past them: noted, not a verdict.
    mutating func stopDebugLoop(ranFor ticks: UInt64) -> UInt64 {
        let stopped = SystemCall.thread(vcpu, .stop).error
        let reached = (memory.load64(UInt64(SPIN_COUNTER)) ?? 0) &- spinStart
        let handlerRuns = memory.load64(UInt64(DEBUG_LOOP_HANDLER_RUNS)) ?? UInt64.max
        let milliseconds = ticks / max(VMM.tscKHz, 1)
        if reached > 1 && handlerRuns == 0 && stopped == .ok {
            log("vmm: NOTE debug-loop guest: this CPU raised no #DB at its breakpoints (its counter went on to \(reached)); stopped after \(milliseconds) ms")
            return 0
        }
        let ok = stopped == .ok && reached == 1 && handlerRuns == 0
        log("vmm: \(ok ? "" as StaticString : "FAIL ")debug-loop guest: reached its breakpoints \(reached) time(s), then \(milliseconds) ms in its #DB chain without an exit to the VMM, its handler completed \(handlerRuns) instructions; stop: \(stopped.name)")
        return ok ? 0 : 1
    }
}
