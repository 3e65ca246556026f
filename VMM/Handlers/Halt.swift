import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// HLT: the guest waits for an interrupt. The VMM sleeps until the next timer deadline or console input
    /// (on an endpoint only the input thread sends to, with a timeout), then the interrupt decision
    /// injects what is due. A guest that
    /// halts with interrupts off can never wake: it is stopped.
    mutating func hlt() -> Action {
        advance()
        guard guest.rflags & InterruptInjection.interruptFlag != 0 else {
            log("vmm: \(name): the guest halted with interrupts off after \(bootExits) exits (RIP \(hex: guest.rip)); VM stopped")
            return .stop(failures: 1)
        }
        flushConsole()              // an echo or a prompt shows before the VMM sleeps
        var idle: UInt64 = 0
        ConsoleInput.halting = true
        defer { ConsoleInput.halting = false }
        while true {
            ConsoleInput.queue.feed(&board.uart)
            guard board.pendingInterrupt(now: timestamp()) == nil else { break }
            let now = timestamp()
            var microseconds: UInt64 = 10_000
            if let deadline = board.apic.nextDeadline {
                // Capped (a deadline far ahead is re-checked); never 0, so the loop always sleeps.
                let ticks = min(deadline &- now, tscKHz * 1000)
                microseconds = min(ticks * 1000 / tscKHz, 1_000_000) + 1
                idle = 0
            } else {
                idle += microseconds
                if idle > Self.idleLimitMicroseconds {
                    log("vmm: \(name): the guest halted with no timer armed and no interrupt pending for \(idle / 1_000_000) s; VM stopped")
                    return .stop(failures: 1)
                }
            }
            // A message (not the timeout) is the input thread's wake-up.
            if SystemCall.wait(sleeper, timeout: .microseconds(microseconds)).succeeded { ConsoleInput.haltWakeups &+= 1 }
        }
        return .resume(Self.stepped)
    }
}
