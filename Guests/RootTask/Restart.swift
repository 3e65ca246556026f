import SwiftletABI
import SwiftletUser

/// What the root task made for a task it started, so that it can remove the task and start it again
/// from its module: the launcher's capability slots and pool pages the start took (both handed out in
/// order, so each is one range). The pool hands pages out in order and cannot free them, so a restart
/// loads the task into the very pages (and slots) its first start took: the same image and the same
/// configuration need no more, and a restarted task costs nothing new however often it restarts.
struct Footprint {
    var launched: TaskLauncher.Launched
    var slots: Range<UInt64>
    /// Pool addresses, page-aligned; the task's paging budget is the last part.
    var pages: Range<UInt64>
    /// The interrupt objects made for it (the first of `count` consecutive slots).
    var interrupts: (first: UInt64, count: Int)
    var restartsLeft: UInt32
    /// Restarts left after failures (`restart-on-failure`): a fault, an exception, a kill.
    var failureRestartsLeft: UInt32 = 0
    var restarts: UInt32 = 0
    /// The root task's figures right before and after the task's first start, and after its first removal.
    var beforeFirstStart: Figures
    var afterFirstStart: Figures
    var afterFirstRemoval: Figures?
    /// Whether every later start and removal left the figures the first left.
    var unchanged = true

    /// The last line about a restarted task, when its last incarnation reported or faulted.
    func logSummary(_ node: ByteString) {
        log("roottask: \(node) restarted \(UInt64(restarts)) times; factory quota and free frames after each start as after its first (\(afterFirstStart.quota), \(afterFirstStart.free)) and after each removal as after its first: \(unchanged ? "yes" as StaticString : "NO")")
    }
}

/// The root task's factory quota (identify MR3) and the kernel's free frames (identify MR3 on the machine).
struct Figures: Equatable {
    var quota: UInt64, free: UInt64

    static var now: Figures {
        Figures(quota: SystemCall.capability(RootTaskLayout.factorySlot, .identify).words.3,
                free: SystemCall.capability(RootTaskLayout.machineSlot, .identify).words.3)
    }
}

/// Removes the task `footprint` describes: destroys the task (its threads, capability space, mappings,
/// I/O ports and page tables go with it), the factory made for it (with what the task made from it) and
/// its interrupts, and empties every
/// slot its start took (badged copies of the root task's endpoints, which stay). An error names the step.
func remove(_ footprint: Footprint) -> (error: SyscallError, step: StaticString) {
    var error = SystemCall.capability(footprint.launched.task, .destroy).error
    guard error == .ok else { return (error, "destroy its task") }
    // Its factory goes with everything the task made from it (endpoints, threads, child factories).
    error = SystemCall.capability(footprint.launched.factory, .destroy).error
    guard error == .ok else { return (error, "destroy its factory") }
    for index in 0..<UInt64(footprint.interrupts.count) {
        error = SystemCall.capability(footprint.interrupts.first + index, .destroy).error
        guard error == .ok else { return (error, "destroy its interrupt") }
    }
    for slot in footprint.slots {
        error = SystemCall.capability(slot, .delete).error
        guard error == .ok || error == .emptySlot else { return (error, "empty its slots") }
    }
    return (.ok, "")
}

/// Removes task `number` and starts it again from its module with the same configuration, in the slots
/// and pages its first start took; logs the cause, the time each part took and the root task's figures.
/// False when the task is gone for good (the reason logged).
func restart(_ task: SystemConfiguration.Task, number: UInt64, cause: StaticString, failure: Bool = false, info: BootInformation,
             launcher: inout TaskLauncher, services: inout Services) -> Bool {
    guard number < 17, var footprint = services.footprints[Int(number)] else { return false }
    let begin = timestamp()
    let removal = remove(footprint)
    let removed = timestamp()
    guard removal.error == .ok else {
        log("roottask: \(task.node) not restarted: \(removal.step): \(removal.error.name)")
        return false
    }
    let afterRemoval = Figures.now
    if let first = footprint.afterFirstRemoval {
        footprint.unchanged = footprint.unchanged && first == afterRemoval
    } else {
        footprint.afterFirstRemoval = afterRemoval
    }
    // The same slots and pages again; the launcher's own place in each is kept for what comes after.
    let (pool, nextSlot) = (launcher.pool, launcher.nextSlot)
    launcher.pool = PagePool(base: footprint.pages.lowerBound, pages: UInt64(footprint.pages.count) / 4096)
    launcher.nextSlot = footprint.slots.lowerBound
    let started = start(task, number: number, info: info, launcher: &launcher, services: &services)
    let fits = launcher.nextSlot <= footprint.slots.upperBound && launcher.pool.next <= footprint.pages.upperBound
    (launcher.pool, launcher.nextSlot) = (pool, nextSlot)
    let end = timestamp()
    guard started, fits, let again = services.footprints[Int(number)] else {
        log("roottask: \(task.node) not restarted: \(fits ? "its start failed" as StaticString : "it took more than its first start")")
        return false
    }
    let afterStart = Figures.now
    // A service starts before the tasks that use it, so the figures after its first start lack theirs:
    // after its first restart everything is in place, and that is what each later start must leave.
    if task.service && footprint.restarts == 0 { footprint.afterFirstStart = afterStart }
    footprint.launched = again.launched
    // A failure uses a restart-on-failure first; a report (or a fault of a restart-after-report task) the other kind.
    if failure && footprint.failureRestartsLeft > 0 { footprint.failureRestartsLeft -= 1 } else if footprint.restartsLeft > 0 { footprint.restartsLeft -= 1 }
    footprint.restarts += 1
    footprint.unchanged = footprint.unchanged && afterStart == footprint.afterFirstStart
    services.footprints[Int(number)] = footprint
    func microseconds(_ ticks: UInt64) -> UInt64 { info.tscKHz == 0 ? 0 : ticks &* 1000 / info.tscKHz }
    let before = footprint.beforeFirstStart, first = footprint.afterFirstStart
    log("roottask: restart \(UInt64(footprint.restarts)) of \(task.node) (cause: \(cause)): removed in \(microseconds(removed &- begin)) us, started again in \(microseconds(end &- removed)) us")
    log("roottask: restart \(UInt64(footprint.restarts)) of \(task.node): removed: quota \(afterRemoval.quota), free frames \(afterRemoval.free) (before its first start \(before.quota), \(before.free))")
    let reference: StaticString = task.service ? "after its first restart" : "after its first start"
    log("roottask: restart \(UInt64(footprint.restarts)) of \(task.node): started: quota \(afterStart.quota), free frames \(afterStart.free) (\(reference) \(first.quota), \(first.free))")
    return true
}
