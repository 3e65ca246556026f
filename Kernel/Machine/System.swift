import KernelPlatform
import SwiftletABI

/// The kernel's scheduling state (one CPU) and the step every kernel entry ends with: choose the thread
/// to resume and make the exit path resume it.
enum System {
    nonisolated(unsafe) static var scheduler = Scheduler(hz: 1000)

    /// Runs until a user thread is current, then points the exit path, the address space and the FPU at
    /// it. A vCPU thread runs its guest from here until it blocks on an exit or loses the CPU.
    @inline(__always)
    static func prepareReturn() {
        // A timeout armed since the timer was last programmed may come before its deadline.
        // (The timer is always armed for the next tick or earlier: only an earlier timeout matters.)
        if let first = scheduler.timeouts.head, first.pointee.wakeupTime < LocalAPIC.armedFor {
            LocalAPIC.arm(first.pointee.wakeupTime)
        }
        var thread: ThreadPointer
        while true {
            while scheduler.current == nil {
                // Idle: interrupts (taken on the kernel stack) may wake a thread.
                x86_sti_hlt()
                x86_cli()
                // Idle after an interrupt (a tick): the hang report's check costs no hot path here.
                checkOverdueTimeouts()
            }
            thread = scheduler.current!
            guard thread.pointee.vcpu != nil else { break }
            GuestMode.run(thread)
        }
        GuestMode.leave()
        PerCPU.setCurrent(UnsafeMutableRawPointer(thread))     // the context is the TCB's first field
        let task = thread.pointee.task!
        AddressSpace.activate(task.pointee.pageTableRoot)
        IOPorts.switched(to: task)
        FPU.switched(to: thread)
    }

    /// The timer interrupt: a scheduler tick if one is due, else a timeout's; then the timer is armed for
    /// whichever comes next.
    static func timerInterrupt() {
        let now = x86_rdtsc()
        if LocalAPIC.timerInterrupt(now: now) {
            scheduler.tick(at: now) { thread, scheduler in IPC.expire(thread, scheduler: &scheduler) }
        } else {
            scheduler.expire(at: now) { thread, scheduler in IPC.expire(thread, scheduler: &scheduler) }
        }
        LocalAPIC.arm(scheduler.nextTimeout ?? UInt64.max)
    }

    nonisolated(unsafe) private static var overdueReported = false

    /// A rare hang seen in CI (QEMU: timeouts stopped expiring while device interrupts still came) left
    /// no trace. At a device interrupt or idle, a timeout more than two seconds overdue cannot be
    /// legitimate (every timer interrupt expires what is due), nor a timeout clock seconds ahead of the TSC,
    /// nor threads in the timeout list that its head does not reach: the kernel says once which it is.
    static func checkOverdueTimeouts() {
        guard !overdueReported else { return }
        let now = x86_rdtsc()
        let tscHz = scheduler.clockHz
        // The timeout clock is the largest TSC reading seen: ahead of the TSC, it holds every new timeout
        // back by as much (a TSC that jumped, or went back).
        if scheduler.clock > now, scheduler.clock - now > 2 * tscHz {
            overdueReported = true
            log("kernel: the timeout clock is \((scheduler.clock - now) / (tscHz / 1000 + 1)) ms ahead of the TSC (clock \(scheduler.clock), TSC \(now)): new timeouts are held back by as much")
            return
        }
        // Walked at most one step past its count: a cycle ends the walk too.
        var reachable = 0
        var cursor = scheduler.timeouts.head
        while let thread = cursor, reachable <= scheduler.timeouts.count {
            reachable += 1
            cursor = thread.pointee.timeoutNext
        }
        if reachable != scheduler.timeouts.count {
            overdueReported = true
            log("kernel: the timeout list reaches \(reachable) threads of the \(scheduler.timeouts.count) in it: the others' timeouts will not expire")
            return
        }
        guard let first = scheduler.timeouts.head else { return }
        guard now > first.pointee.wakeupTime, now - first.pointee.wakeupTime > 2 * tscHz else { return }
        overdueReported = true
        let timer = LocalAPIC.timerState
        log("kernel: a timeout is \((now - first.pointee.wakeupTime) / (tscHz / 1000 + 1)) ms overdue: timer armed for \(LocalAPIC.armedFor), next tick \(LocalAPIC.nextTickDeadline), now \(now); LVT \(hex: UInt64(timer.lvt)), count \(timer.current) of \(timer.initial), ISR 32-63 \(hex: UInt64(timer.inService)), IRR 32-63 \(hex: UInt64(timer.requested)); \(LocalAPIC.ticks) ticks")
    }

    /// Enters user mode for the first time: the boot path ends here.
    static func start() -> Never {
        prepareReturn()
        return_to_user()
    }
}
