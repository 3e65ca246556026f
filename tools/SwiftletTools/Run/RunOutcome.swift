import Foundation
import SwiftletABI

/// How a boot ended, judged from the kernel's console markers and the emulator's fate.
public enum RunOutcome: Sendable, Equatable {
    /// The kernel printed `kernel: powering off: all tasks passed` and the machine went off.
    case poweredOff
    /// The machine went off, but the root task's reason says the system did not do what it should: the
    /// configuration was rejected, a task could not be started, or tasks failed or did not report.
    case poweredOffAfterFailure(PowerOffReason)
    /// Every task passed and a guest ended the run through its debug-exit port: the run returns the status
    /// the kernel's line gives, (value << 1) | 1 as QEMU's `isa-debug-exit`.
    case guestExited(status: Int32)
    /// The kernel printed a `KERNEL PANIC` report (and normally halted).
    case panicked
    /// The emulator exited without a power-off: a reset, a triple fault, or an emulator error.
    case emulatorExited(status: Int32)
    /// The timeout passed and the emulator was stopped.
    case timedOut
    /// The run was stopped on request (Ctrl-C) before it ended by itself.
    case interrupted

    /// The exit status of `swiftlet run` for this outcome (documented in its --help and in README.md).
    public var exitStatus: Int32 {
        switch self {
        case .poweredOff: return 0
        case .panicked: return 3
        case .emulatorExited: return 4
        case .poweredOffAfterFailure(let reason): return Self.exitStatus(of: reason)
        case .guestExited(let status): return status
        case .timedOut: return 124
        case .interrupted: return 130
        }
    }

    static func exitStatus(of reason: PowerOffReason) -> Int32 {
        switch reason {
        case .allPassed: return 0
        case .configurationRejected: return 5
        case .taskNotStarted: return 6
        case .tasksFailed: return 7
        case .guestExited: return 0
        }
    }

    /// The outcome of a run whose emulator exited by itself. A panic report wins over a power-off line
    /// (a panic while powering off is still a panic); neither means the machine went away on its own.
    init(emulatorExitStatus status: Int32, console: ConsoleMonitor) {
        if console.sawPanic {
            self = .panicked
        } else if let reason = console.powerOffReason {
            if reason == .guestExited, let status = console.guestStatus {
                self = .guestExited(status: status)
            } else {
                self = reason == .allPassed ? .poweredOff : .poweredOffAfterFailure(reason)
            }
        } else {
            self = .emulatorExited(status: status)
        }
    }

    /// What happened, for the one-line summary: "powered off", "kernel panic", ...
    public var summary: String {
        switch self {
        case .poweredOff: return "powered off"
        case .poweredOffAfterFailure(let reason): return "powered off (\(reason.description))"
        case .guestExited(let status): return "powered off (the guest exited with status \(status))"
        case .panicked: return "kernel panic"
        case .emulatorExited(let status): return "emulator exited (status \(status)) without a power-off"
        case .timedOut: return "timeout"
        case .interrupted: return "interrupted"
        }
    }
}
