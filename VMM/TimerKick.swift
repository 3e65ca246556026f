import SwiftletABI
import SwiftletUser

/// The guest's timer when the guest does not exit by itself: a second VMM thread, above the vCPU's
/// priority, sleeps until the local APIC's next deadline and then recalls the vCPU (NOVA's recall, KVM's
/// kick), so the exit loop gets an exit at which it injects the timer interrupt. The exit loop publishes
/// the deadline before each reply and says whether the guest runs; a recall that races with an exit only
/// costs one more `recall` exit, which the loop answers as it is.
enum TimerKick {
    /// Guest TSC of the next timer interrupt; 0: none armed.
    nonisolated(unsafe) static var deadline: UInt64 = 0
    nonisolated(unsafe) static var guestRunning = false
    nonisolated(unsafe) static var vcpu: UInt64 = 0
    nonisolated(unsafe) static var sleeper: UInt64 = 0
    nonisolated(unsafe) static var tscKHz: UInt64 = 1
    /// Recalls sent (for the summary).
    nonisolated(unsafe) static var recalls: UInt64 = 0
    /// With nothing armed the thread looks again this often.
    static let idleMicroseconds: UInt64 = 10_000

    /// Starts the thread (capability in `thread`) sleeping on endpoint `sleeper` at `priority`.
    static func start(vcpu: UInt64, sleeper: UInt64, thread: UInt64, priority: UInt8, tscKHz: UInt64,
                      spawner: inout ThreadSpawner) -> SyscallError {
        (self.vcpu, self.sleeper, self.tscKHz) = (vcpu, sleeper, max(tscKHz, 1))
        return spawner.spawn(kickLoop, argument: 0, priority: priority, slot: thread)
    }

    static let kickLoop: ThreadSpawner.Body = { _, _ in
        while true {
            let armed = TimerKick.deadline, now = timestamp()
            var sleep = TimerKick.idleMicroseconds
            if armed != 0 {
                if Int64(bitPattern: now &- armed) >= 0 {
                    if TimerKick.guestRunning {
                        _ = SystemCall.thread(TimerKick.vcpu, .recall)
                        TimerKick.recalls &+= 1
                    }
                    TimerKick.deadline = 0                  // the loop publishes the next one after the exit
                } else {
                    let ticks = min(armed &- now, TimerKick.tscKHz * 1000)
                    sleep = min(ticks * 1000 / TimerKick.tscKHz + 1, TimerKick.idleMicroseconds)
                }
            }
            _ = SystemCall.wait(TimerKick.sleeper, timeout: .microseconds(sleep))
        }
    }
}
