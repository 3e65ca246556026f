import SwiftletABI
import VMMCore
import SwiftletUser

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
}
