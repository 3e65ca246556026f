import SwiftletABI
import SwiftletUser
import VMMCore

/// The guest's serial input: a third VMM thread, above the vCPU's priority, is the console service's
/// reader (ConsoleProtocol.read: blocked in IPC until the serial driver has input, no polling). What it
/// gets goes unchanged into `queue`, then it makes the exit loop look: a running vCPU is recalled (the
/// recall exit feeds the UART and injects its receive interrupt), a halted one is woken by a message on
/// the HLT loop's sleep endpoint. The exit loop moves the bytes into the UART's FIFO at every exit.
enum ConsoleInput {
    nonisolated(unsafe) static var queue = ConsoleInputQueue()
    /// Set by the HLT loop from before it looks at `queue` until it stops sleeping: a wake-up sent then
    /// waits (briefly) for the loop to reach its sleep, so input that comes between the look and the
    /// sleep is not left for the next timer deadline.
    nonisolated(unsafe) static var halting = false
    nonisolated(unsafe) static var vcpu: UInt64 = 0
    nonisolated(unsafe) static var sleeper: UInt64 = 0
    /// Why the thread stopped reading: the read's error (`.ok`: an empty answer, another reader took the
    /// console's focus); nil while it reads.
    nonisolated(unsafe) static var stopped: SyscallError? = nil
    /// Recalls of the running vCPU and HLT sleeps the input thread's message ended, and the reads that
    /// brought input (for the summary: bytes per read shows how well the serial driver batches a burst).
    nonisolated(unsafe) static var recalls: UInt64 = 0, haltWakeups: UInt64 = 0, reads: UInt64 = 0
    /// How long a wake-up waits for the HLT loop to reach its sleep.
    static let wakeMicroseconds: UInt64 = 2_000

    static func start(vcpu: UInt64, sleeper: UInt64, thread: UInt64, priority: UInt8, spawner: inout ThreadSpawner) -> SyscallError {
        (self.vcpu, self.sleeper) = (vcpu, sleeper)
        return spawner.spawn(readLoop, argument: 0, priority: priority, slot: thread)
    }

    static let readLoop: ThreadSpawner.Body = { _, _ in
        while true {
            let (error, words, count) = ConsoleClient.read()
            // An error, or an empty answer (another reader took the focus): the guest gets no more input.
            guard error == .ok, count > 0 else {
                ConsoleInput.stopped = error
                return
            }
            ConsoleInput.reads &+= 1
            for index in 0..<min(count, ConsoleProtocol.chunk) {
                ConsoleInput.queue.put(ConsoleProtocol.byte(words, index))
            }
            if TimerKick.guestRunning {
                _ = SystemCall.thread(ConsoleInput.vcpu, .recall)
                ConsoleInput.recalls &+= 1
            }
            _ = SystemCall.send(ConsoleInput.sleeper, MessageTag(label: 0),
                                timeout: ConsoleInput.halting ? .microseconds(ConsoleInput.wakeMicroseconds) : .zero)
        }
    }
}
