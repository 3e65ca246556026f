import KernelPlatform
import SwiftletABI

/// The kernel's scheduling state (one CPU) and the step every kernel entry ends with: choose the thread
/// to resume and make the exit path resume it.
enum System {
    nonisolated(unsafe) static var scheduler = Scheduler(hz: 1000)

    /// Runs until a thread is current, then points the exit path, the address space and the FPU at it.
    @inline(__always)
    static func prepareReturn() {
        while scheduler.current == nil {
            // Idle: interrupts (taken on the kernel stack) may wake a thread.
            x86_sti_hlt()
            x86_cli()
        }
        let thread = scheduler.current!
        PerCPU.setCurrent(UnsafeMutableRawPointer(thread))     // the context is the TCB's first field
        let task = thread.pointee.task!
        AddressSpace.activate(task.pointee.pageTableRoot)
        IOPorts.switched(to: task)
        FPU.switched(to: thread)
    }

    static func timerTick() {
        scheduler.tick { thread, scheduler in IPC.expire(thread, scheduler: &scheduler) }
    }

    /// Enters user mode for the first time: the boot path ends here.
    static func start() -> Never {
        prepareReturn()
        return_to_user()
    }
}
