import SwiftletABI

/// Fixed-priority, preemptive, round-robin within a priority. The running thread is never in a ready
/// queue (Benno scheduling): an IPC that hands the CPU from one thread straight to another touches no queue.
public struct Scheduler {
    public var ready = ReadyQueues()
    public var timeouts = TimeoutList()
    /// The thread the CPU runs when it returns to user mode; nil means idle.
    public private(set) var current: ThreadPointer?
    /// Timer ticks since boot.
    public private(set) var now: UInt64 = 0
    public let hz: UInt64
    /// Timeouts run on their own clock, finer than the tick: the TSC on the machine (which programs the
    /// timer for the earliest of the next tick and the next timeout); microseconds by default (host tests).
    public let clockHz: UInt64
    /// The clock as last read (`readClock`, a timer interrupt), or, with no clock to read, advanced by one
    /// tick period per tick (host tests).
    public private(set) var clock: UInt64 = 0
    /// Reads the clock now (the TSC); nil: `clock` as the last tick left it.
    public var readClock: (@convention(c) () -> UInt64)? = nil

    public init(hz: UInt64, clockHz: UInt64 = 1_000_000) {
        self.hz = max(hz, 1)
        // At most 2^40 Hz, so a timeout's conversion (at most 2^40 µs) cannot overflow.
        self.clockHz = min(max(clockHz, 1), 1 << 40)
    }

    /// Makes a thread that was blocked, inactive or stopped runnable. It preempts the current thread only
    /// if its priority is strictly higher (the current one goes to the front... of its queue's tail).
    public mutating func wake(_ thread: ThreadPointer) {
        timeouts.remove(thread)
        thread.pointee.state = .ready
        if thread.pointee.ticksLeft == 0 { thread.pointee.ticksLeft = thread.pointee.timeslice }
        ready.enqueue(thread)
        if let current, thread.pointee.priority > current.pointee.priority {
            preemptCurrent()
        }
    }

    /// The current thread stopped being runnable (it blocked, stopped or faulted): run the best ready one.
    public mutating func currentBlocked() {
        current = nil
        chooseNext()
    }

    /// Hands the CPU directly from the current thread (now blocked) to `target` (blocked until now) if no
    /// ready thread has a higher priority; otherwise `target` queues like any woken thread.
    public mutating func switchDirectly(to target: ThreadPointer) {
        timeouts.remove(target)
        if let best = ready.highestPriority, best > Int(target.pointee.priority) {
            target.pointee.state = .ready
            if target.pointee.ticksLeft == 0 { target.pointee.ticksLeft = target.pointee.timeslice }
            ready.enqueue(target)
            currentBlocked()
            return
        }
        if target.pointee.ticksLeft == 0 { target.pointee.ticksLeft = target.pointee.timeslice }
        target.pointee.state = .running
        current = target
    }

    /// The fast path's switch: the current thread has blocked and `target` (blocked until now, not in
    /// any queue or the timeout list, and outranking every ready thread) runs next.
    @inline(__always)
    public mutating func switchFast(to target: ThreadPointer) {
        if target.pointee.ticksLeft == 0 { target.pointee.ticksLeft = target.pointee.timeslice }
        target.pointee.state = .running
        current = target
    }

    /// Puts the current thread at the tail of its priority and runs the best ready thread.
    public mutating func yield() {
        guard let running = current else { return chooseNext() }
        running.pointee.state = .ready
        running.pointee.ticksLeft = running.pointee.timeslice
        ready.enqueue(running)
        current = nil
        chooseNext()
    }

    /// If nothing runs, run the best ready thread (used after wakeups from idle).
    public mutating func chooseNext() {
        guard current == nil, let next = ready.dequeueHighest() else { return }
        next.pointee.state = .running
        current = next
    }

    /// One timer tick: charge the thread that ran during it, then wake expired timeouts (through `expire`;
    /// a woken thread that preempts is not charged for a tick it did not run).
    public mutating func tick(expire: (ThreadPointer, inout Scheduler) -> Void) {
        tick(at: clock &+ clockHz / hz, expire: expire)
    }

    /// A tick at clock reading `time`.
    public mutating func tick(at time: UInt64, expire: (ThreadPointer, inout Scheduler) -> Void) {
        now += 1
        if time > clock { clock = time }
        chargeCurrent()
        expireTimeouts(expire)
    }

    /// A timer interrupt between ticks, for a timeout: wake what expired by clock reading `time`.
    public mutating func expire(at time: UInt64, expire: (ThreadPointer, inout Scheduler) -> Void) {
        if time > clock { clock = time }
        expireTimeouts(expire)
    }

    private mutating func expireTimeouts(_ expire: (ThreadPointer, inout Scheduler) -> Void) {
        while let expired = timeouts.expired(now: clock) {
            expire(expired, &self)
        }
        if current == nil { chooseNext() }
    }

    /// When the first timeout expires (clock units; nil: none), for the timer.
    public var nextTimeout: UInt64? { timeouts.head?.pointee.wakeupTime }

    /// A timeout in clock units, rounded up so it never expires early. `timeout.raw` ≤ 2^40 µs (the
    /// syscall layer refuses larger) and `clockHz` ≤ 2^40: no product exceeds 2^60.
    public func clockUnits(_ timeout: Timeout) -> UInt64 {
        let seconds = timeout.raw / 1_000_000, rest = timeout.raw % 1_000_000
        return seconds &* clockHz &+ (rest &* clockHz &+ 999_999) / 1_000_000
    }

    private mutating func chargeCurrent() {
        if let running = current {
            if running.pointee.ticksLeft > 0 { running.pointee.ticksLeft -= 1 }
            if running.pointee.ticksLeft == 0 {
                if let best = ready.highestPriority, best >= Int(running.pointee.priority) {
                    yield()
                } else {
                    running.pointee.ticksLeft = running.pointee.timeslice
                }
            }
        }
    }

    /// Blocks with a timeout: a finite one puts the thread in the timeout list, to expire when the clock
    /// has advanced by the timeout from now (never early, and not rounded to the tick).
    public mutating func armTimeout(_ thread: ThreadPointer, _ timeout: Timeout) {
        guard !timeout.isInfinite else { return }
        if let readClock {
            let time = readClock()
            if time > clock { clock = time }
        }
        let (deadline, overflow) = clock.addingReportingOverflow(max(1, clockUnits(timeout)))
        timeouts.insert(thread, wakeupTime: overflow ? UInt64.max : deadline)
    }

    /// Makes `thread` current at boot or when the CPU is idle.
    public mutating func start(_ thread: ThreadPointer) {
        wake(thread)
        chooseNext()
    }

    private mutating func preemptCurrent() {
        guard let running = current else { return }
        running.pointee.state = .ready
        ready.enqueue(running)
        current = nil
        chooseNext()
    }
}
