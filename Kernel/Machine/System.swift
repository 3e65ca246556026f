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
    /// no trace. At a device interrupt, a timeout more than two seconds overdue cannot be legitimate (every
    /// timer interrupt expires what is due), so the kernel says once what the timer looks like.
    static func checkOverdueTimeouts() {
        guard !overdueReported, let first = scheduler.timeouts.head else { return }
        let now = x86_rdtsc()
        let tscHz = scheduler.clockHz
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
