import SwiftletABI
import SwiftletUser
import UserPlatform

/// Destroy (CapabilityOperation.destroy) of endpoints, threads and factories in every state they can be
/// in, each checking the partner's error code, that no capability to the object is left (the old
/// selectors answer `emptySlot`), and that the factory's quota (identify MR3) and the kernel's free
/// frames (identify of the machine capability, MR3) are back where they started. Then a soak of
/// create/destroy cycles of each type and map/unmap cycles, with the figures before and after.
enum Slot {
    static let factory = RootTaskLayout.factorySlot
    static let machine = Report.machineViewSlot
    static let endpoint: UInt64 = 20, badged: UInt64 = 21, weak: UInt64 = 22, idle: UInt64 = 23, other: UInt64 = 24
    static let savedReply: UInt64 = 25, childFactory: UInt64 = 26, childEndpoint: UInt64 = 27, grandchildFactory: UInt64 = 28
    /// Worker threads (one per spare-page area) and their own copy of the slot they are to destroy.
    static let workers: UInt64 = 30
    static let soak: UInt64 = 40
    static let child: UInt64 = 41, childThread: UInt64 = 42
    static let vm: UInt64 = 43, vcpu: UInt64 = 44, secondVCPU: UInt64 = 45
}

/// What the workers saw, written by them and read by the main thread (one word each, by worker index).
enum Seen {
    nonisolated(unsafe) static var results = InlineArray<4, UInt64>(repeating: 0xFFFF)
    nonisolated(unsafe) static var after = InlineArray<4, UInt64>(repeating: 0)
}

/// Operations a worker carries out (its argument: operation << 8 | worker index).
enum Work {
    static let wait: UInt64 = 1, sendWithTimeout: UInt64 = 2, call: UInt64 = 3, waitWithTimeout: UInt64 = 4
    static let destroySelf: UInt64 = 5, serveOnce: UInt64 = 6, destroyWorker0: UInt64 = 7, markRan: UInt64 = 8
    static let serveAndSave: UInt64 = 9, destroyChildFactory: UInt64 = 10, touchUnmapped: UInt64 = 11
}

/// The soak's length: 20,000 create/destroy cycles of each type and 20,000 map/unmap cycles (about 3 s
/// on QEMU, 45 s on Bochs), or what `swiftlet run --seed destroytest=N` writes into the image: N cycles
/// of each type and N / 10 map/unmap cycles (the full soak is N = 1,000,000).
let soakCycles: UInt64 = TaskParameters.seed.map { min(max($0, 1), 10_000_000) } ?? 20_000
let mapCycles: UInt64 = TaskParameters.seed != nil ? max(soakCycles / 10, 1) : 20_000
/// VMs (each with a vCPU and a page) made and destroyed in a row.
let vmCycles: UInt64 = 1_000

func worker(_ argument: UInt64, _ utcb: UInt64) {
    let index = Int(argument & 0xFF)
    var result: SyscallError = .ok
    switch argument >> 8 {
    case Work.wait: result = SystemCall.wait(Slot.endpoint).error
    case Work.sendWithTimeout: result = SystemCall.send(Slot.endpoint, MessageTag(label: 1), timeout: .microseconds(2_000_000))
    case Work.call: result = SystemCall.call(Slot.endpoint, MessageTag(label: 2)).error
    case Work.waitWithTimeout: result = SystemCall.wait(Slot.endpoint, timeout: .microseconds(300_000)).error
    case Work.destroySelf:
        Seen.results[index] = 0
        result = SystemCall.capability(Slot.workers + UInt64(index), .destroy).error
        Seen.after[index] = 1                 // never: the thread is gone
    case Work.serveOnce:
        result = SystemCall.wait(Slot.endpoint).error
        Seen.results[index] = result.rawValue
        // Received the call: never answer it; sleep where nobody sends.
        result = SystemCall.wait(Slot.idle).error
        Seen.after[index] = result.rawValue
        return
    case Work.serveAndSave:
        result = SystemCall.wait(Slot.endpoint).error
        Seen.results[index] = result.rawValue
        result = SystemCall.saveCaller(into: Slot.savedReply)
        Seen.results[index] = result.rawValue
        result = SystemCall.wait(Slot.idle).error        // never answers
        Seen.after[index] = result.rawValue
        return
    case Work.destroyWorker0:
        _ = SystemCall.wait(Slot.idle, timeout: .microseconds(50_000))
        result = SystemCall.capability(Slot.workers, .destroy).error
    case Work.markRan: result = .ok
    case Work.touchUnmapped:
        // A page nobody mapped: the fault goes to this thread's pager (the main thread).
        Seen.results[index] = 0
        Seen.after[index] = UnsafePointer<UInt64>(bitPattern: UInt(unmappedPlace))!.pointee | 1   // never: destroyed mid-map
        return
    case Work.destroyChildFactory:
        Seen.results[index] = 0
        result = SystemCall.capability(Slot.childFactory, .destroy).error
        Seen.after[index] = 1                 // never: the thread came from that factory
    default: result = .invalidArgument
    }
    Seen.results[index] = result.rawValue
}

/// A worker thread in area `index` of the spare pages (its UTCB and stack), capability in
/// `Slot.workers + index`; the area is free again once that thread is destroyed.
func spawn(_ index: Int, _ operation: UInt64, priority: UInt8, start: Bool = true, factory: UInt64 = Slot.factory) -> SyscallError {
    let base = user_thread_pages() + UInt64(index) * ThreadSpawner.pagesPerThread * 4096
    let slot = Slot.workers + UInt64(index)
    Seen.results[index] = 0xFFFF
    Seen.after[index] = 0
    ThreadSpawner.prepare(utcb: base, worker, argument: operation << 8 | UInt64(index), slot: slot)
    var error = SystemCall.createThread(factory, into: slot, task: RootTaskLayout.taskSlot, priority: priority, utcb: base)
    guard error == .ok else { return error }
    error = SystemCall.thread(slot, .setEntry, (user_thread_trampoline(), base + ThreadSpawner.pagesPerThread * 4096, 0, 0)).error
    guard error == .ok, start else { return error }
    return SystemCall.thread(slot, .start).error
}

/// Where `Work.touchUnmapped` faults: outside the heap window, so only its own pager could map it.
let unmappedPlace: UInt64 = 0x0000_3000_0000_0000

/// Lets lower-priority threads run for `microseconds`.
func pause(_ microseconds: UInt64 = 30_000) {
    _ = SystemCall.wait(Slot.idle, timeout: .microseconds(microseconds))
}

func destroy(_ slot: UInt64) -> SyscallError { SystemCall.capability(slot, .destroy).error }

func name(_ type: ObjectType) -> StaticString {
    switch type {
    case .thread: return "thread"
    case .factory: return "factory"
    case .task: return "task"
    default: return "endpoint"
    }
}
func identify(_ slot: UInt64) -> SyscallError { SystemCall.capability(slot, .identify).error }

/// The factory's frames left and the kernel's free frames.
struct Figures: Equatable {
    var quota: UInt64
    var free: UInt64

    static var now: Figures {
        Figures(quota: SystemCall.capability(Slot.factory, .identify).words.3,
                free: SystemCall.capability(Slot.machine, .identify).words.3)
    }
}

@_cdecl("task_main")
func destroyTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("destroytest")
    guard checks.check(SystemCall.create(Slot.factory, .endpoint, into: Slot.idle) == .ok
                       && SystemCall.capability(Slot.machine, .identify).words.0 == UInt64(ObjectType.machine.rawValue),
                       "setup: an idle endpoint, and a view of the machine (identify only)") else {
        checks.report()
        return
    }
    prepareGuestCode()
    badDestroys(&checks)
    midMap(&checks)
    endpointStates(&checks)
    threadStates(&checks)
    factories(&checks)
    interrupts(&checks)
    tasks(&checks)
    virtualMachines(&checks)
    lifecycleBench(&checks)
    soak(&checks)
    checks.report()
}

/// A bad destroy returns an error and changes nothing.
func badDestroys(_ checks: inout TestChecks) {
    let before = Figures.now
    _ = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint)
    _ = SystemCall.capability(Slot.endpoint, .copy, (Slot.weak, UInt64(Rights([.send, .receive, .grant]).rawValue), 0, 0))
    checks.expect(destroy(Slot.weak), .missingRight, "destroy through a copy without the destroy right")
    checks.expect(identify(Slot.endpoint), .ok, "the endpoint is still there")
    checks.expect(destroy(0), .emptySlot, "destroy selector 0")
    checks.expect(destroy(99), .emptySlot, "destroy an empty slot")
    checks.expect(destroy(256), .selectorOutOfRange, "destroy selector 256")
    checks.expect(destroy(Slot.machine), .missingRight, "destroy the machine view (no rights)")
    checks.expect(destroy(Slot.endpoint), .ok, "destroy the endpoint")
    checks.expect(identify(Slot.endpoint), .emptySlot, "its capability")
    checks.expect(identify(Slot.weak), .emptySlot, "its copy without the destroy right")
    let after = Figures.now
    checks.check(after == before, "quota \(before.quota) -> \(after.quota) frames, kernel free frames \(before.free) -> \(after.free)")
}

/// A thread destroyed mid-map: it faulted, its pager (this thread) holds the fault, and the thread is
/// destroyed before the pager's reply maps the page. The reply finds no caller, nothing is mapped at
/// the fault address, and nothing leaks.
func midMap(_ checks: inout TestChecks) {
    let before = Figures.now
    var ok = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint) == .ok
        && spawn(0, Work.touchUnmapped, priority: 90, start: false) == .ok
        && SystemCall.thread(Slot.workers, .setPager, (Slot.endpoint, 0, 0, 0)).error == .ok
        && SystemCall.thread(Slot.workers, .start).error == .ok
    let fault = SystemCall.wait(Slot.endpoint, timeout: .microseconds(1_000_000))
    ok = ok && fault.error == .ok && fault.tag.label == KernelMessageLabel.pageFault && fault.words.0 == unmappedPlace
    checks.expect(destroy(Slot.workers), .ok, "destroy a thread whose page fault its pager holds (fault at \(hex: fault.words.0))")
    let page = user_thread_pages() + 12 * 4096
    let (w0, w1) = TypedItem.map(Flexpage(base: page, order: 12, rights: [.read, .write]), hotSpot: unmappedPlace)
    checks.expect(SystemCall.reply(MessageTag(label: 0, items: 1), (w0, w1, 0, 0)), .noCaller, "the pager's reply with the page")
    checks.check(SystemCall.readMapping(RootTaskLayout.taskSlot, at: unmappedPlace).rights.rawValue == 0
                 && Seen.after[0] == 0, "nothing was mapped at the fault address, and the thread never ran on")
    ok = destroy(Slot.endpoint) == .ok && ok
    let after = Figures.now
    checks.check(ok && after == before, "mid-map: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
}

func endpointStates(_ checks: inout TestChecks) {
    let before = Figures.now
    // Two receivers queued.
    _ = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint)
    _ = SystemCall.capability(Slot.endpoint, .copy, (Slot.badged, UInt64(Rights.send.rawValue), 77, 0))
    var ok = spawn(0, Work.wait, priority: 90) == .ok && spawn(1, Work.waitWithTimeout, priority: 90) == .ok
    pause()
    checks.expect(destroy(Slot.endpoint), .ok, "destroy an endpoint with two receivers queued")
    pause()
    checks.check(ok && Seen.results[0] == SyscallError.aborted.rawValue && Seen.results[1] == SyscallError.aborted.rawValue,
                 "both receivers woke with \(SyscallError(rawValue: Seen.results[0])?.name ?? "?") and \(SyscallError(rawValue: Seen.results[1])?.name ?? "?")")
    checks.expect(SystemCall.call(Slot.badged, MessageTag(label: 1), timeout: .zero).error, .emptySlot,
                  "a call through its badged copy")
    ok = destroy(Slot.workers) == .ok && destroy(Slot.workers + 1) == .ok
    // A sender with a finite timeout and a caller queued.
    _ = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint)
    ok = ok && spawn(0, Work.sendWithTimeout, priority: 90) == .ok && spawn(1, Work.call, priority: 90) == .ok
    pause()
    checks.expect(destroy(Slot.endpoint), .ok, "destroy an endpoint with a sender (finite timeout) and a caller queued")
    pause()
    checks.check(ok && Seen.results[0] == SyscallError.aborted.rawValue && Seen.results[1] == SyscallError.aborted.rawValue,
                 "sender and caller woke with \(SyscallError(rawValue: Seen.results[0])?.name ?? "?") and \(SyscallError(rawValue: Seen.results[1])?.name ?? "?")")
    ok = destroy(Slot.workers) == .ok && destroy(Slot.workers + 1) == .ok
    let after = Figures.now
    checks.check(ok && after == before, "endpoints and workers gone: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
}

func threadStates(_ checks: inout TestChecks) {
    let before = Figures.now
    _ = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint)
    // Inactive (never started).
    var ok = spawn(0, Work.markRan, priority: 90, start: false) == .ok
    checks.expect(destroy(Slot.workers), .ok, "destroy a thread never started")
    checks.expect(SystemCall.thread(Slot.workers, .readState).error, .emptySlot, "its capability")
    // Ready (same priority: started, not yet run).
    ok = ok && spawn(0, Work.markRan, priority: 100) == .ok
    let ready = SystemCall.thread(Slot.workers, .readState).words.0
    checks.expect(destroy(Slot.workers), .ok, "destroy a ready thread (state \(ready))")
    pause()
    checks.check(ok && ready == ThreadStateCode.ready.rawValue && Seen.results[0] == 0xFFFF, "it never ran")
    // Blocked in receive with a finite timeout pending.
    ok = spawn(0, Work.waitWithTimeout, priority: 90) == .ok
    pause()
    let receiving = SystemCall.thread(Slot.workers, .readState).words.0
    checks.expect(destroy(Slot.workers), .ok, "destroy a thread blocked in receive with a timeout pending (state \(receiving))")
    pause(400_000)                               // past its timeout: nothing may fire
    checks.expect(SystemCall.wait(Slot.endpoint, timeout: .zero).error, .timeout, "its endpoint has nobody queued")
    checks.check(ok && receiving == ThreadStateCode.receiving.rawValue && Seen.results[0] == 0xFFFF, "its timeout never came back to it")
    // Blocked in call (queued as a sender): the endpoint forgets it.
    ok = spawn(0, Work.call, priority: 90) == .ok
    pause()
    checks.expect(destroy(Slot.workers), .ok, "destroy a thread blocked in call")
    checks.expect(SystemCall.wait(Slot.endpoint, timeout: .zero).error, .timeout, "no sender left on the endpoint")
    // Waiting for a reply (this thread received its call): the reply finds no caller.
    ok = ok && spawn(0, Work.call, priority: 90) == .ok
    let received = SystemCall.wait(Slot.endpoint, timeout: .microseconds(1_000_000)).error
    checks.expect(destroy(Slot.workers), .ok, "destroy a caller waiting for the reply (received: \(received.name))")
    checks.expect(SystemCall.reply(MessageTag(label: 0)), .noCaller, "the server's reply")
    // Its reply saved: replying through the saved capability finds no caller.
    ok = ok && spawn(0, Work.call, priority: 90) == .ok
    let second = SystemCall.wait(Slot.endpoint, timeout: .microseconds(1_000_000)).error
    let saved = SystemCall.saveCaller(into: Slot.savedReply)
    checks.expect(destroy(Slot.workers), .ok, "destroy a caller whose reply is saved (received: \(second.name), saved: \(saved.name))")
    checks.expect(SystemCall.reply(through: Slot.savedReply, MessageTag(label: 0)), .noCaller, "the reply through the saved capability")
    checks.expect(identify(Slot.savedReply), .emptySlot, "the saved reply is used up")
    // A server destroyed while its caller (this thread) waits for the reply: the call is aborted.
    ok = ok && spawn(0, Work.serveOnce, priority: 90) == .ok && spawn(1, Work.destroyWorker0, priority: 80) == .ok
    pause()
    let call = SystemCall.call(Slot.endpoint, MessageTag(label: 3)).error
    pause()
    checks.check(ok && call == .aborted && Seen.results[1] == SyscallError.ok.rawValue && Seen.after[0] == 0,
                 "a server destroyed by another thread while this one waits for its reply: the call -> \(call.name), the destroy -> \(SyscallError(rawValue: Seen.results[1])?.name ?? "?")")
    checks.expect(identify(Slot.workers), .emptySlot, "the destroyed server's capability")
    ok = destroy(Slot.workers + 1) == .ok
    // The same with a server that saved this thread's reply (it would wait forever for a dead server).
    ok = ok && spawn(0, Work.serveAndSave, priority: 90) == .ok && spawn(1, Work.destroyWorker0, priority: 80) == .ok
    pause()
    let savedCall = SystemCall.call(Slot.endpoint, MessageTag(label: 4)).error
    pause()
    checks.check(ok && savedCall == .aborted && Seen.results[1] == SyscallError.ok.rawValue,
                 "a server destroyed while it holds this thread's saved reply: the call -> \(savedCall.name)")
    checks.expect(identify(Slot.savedReply), .ok, "the reply it saved (to this thread) is still in its slot")
    checks.expect(SystemCall.reply(through: Slot.savedReply, MessageTag(label: 0)), .noCaller, "replying through it")
    ok = destroy(Slot.workers + 1) == .ok
    // A thread destroying itself.
    ok = ok && spawn(0, Work.destroySelf, priority: 90) == .ok
    pause()
    checks.check(ok && Seen.results[0] == 0 && Seen.after[0] == 0 && identify(Slot.workers) == .emptySlot,
                 "a thread destroyed itself: it never ran past its destroy, its capability is empty")
    ok = destroy(Slot.endpoint) == .ok
    let after = Figures.now
    checks.check(ok && after == before, "every thread gone: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
}

/// A factory goes with everything made from it: objects, child factories and theirs, whatever state
/// they are in, and the thread destroying it when that thread came from it.
func factories(_ checks: inout TestChecks) {
    let before = Figures.now
    var ok = SystemCall.create(Slot.factory, .factory, into: Slot.childFactory, (10, 0, 0)) == .ok
    ok = ok && SystemCall.create(Slot.childFactory, .endpoint, into: Slot.childEndpoint) == .ok
    let left = SystemCall.capability(Slot.childFactory, .identify).words.3
    checks.expect(destroy(Slot.childFactory), .ok, "destroy a factory with an endpoint made from it (\(left) of 10 frames left in it)")
    checks.expect(identify(Slot.childEndpoint), .emptySlot, "the endpoint went with it")
    checks.expect(SystemCall.create(Slot.childFactory, .endpoint, into: Slot.childEndpoint), .emptySlot, "create from the destroyed factory")
    var after = Figures.now
    checks.check(ok && left == 9 && after == before, "quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")

    // Three levels: a child factory made a task and a grandchild factory, which made an endpoint and a
    // thread of this task blocked receiving on it.
    ok = SystemCall.create(Slot.factory, .factory, into: Slot.childFactory, (40, 0, 0)) == .ok
    ok = ok && SystemCall.create(Slot.childFactory, .factory, into: Slot.grandchildFactory, (20, 0, 0)) == .ok
    ok = ok && SystemCall.create(Slot.grandchildFactory, .endpoint, into: Slot.endpoint) == .ok
    ok = ok && SystemCall.create(Slot.childFactory, .task, into: Slot.child) == .ok
    ok = ok && spawn(0, Work.wait, priority: 90, factory: Slot.grandchildFactory) == .ok
    pause()
    let receiving = SystemCall.thread(Slot.workers, .readState).words.0
    checks.expect(destroy(Slot.childFactory), .ok,
                  "destroy a factory that made a task and a factory, which made an endpoint and a thread blocked on it (state \(receiving))")
    pause()
    var gone = true
    for slot in [Slot.childFactory, Slot.grandchildFactory, Slot.endpoint, Slot.child, Slot.workers] {
        gone = gone && identify(slot) == .emptySlot
    }
    checks.check(ok && gone && receiving == ThreadStateCode.receiving.rawValue && Seen.results[0] == 0xFFFF,
                 "all five capabilities are empty, and the blocked thread went without returning")
    after = Figures.now
    checks.check(after == before, "three levels gone: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")

    // A thread made from a factory destroys that factory: it goes too, and never returns.
    ok = SystemCall.create(Slot.factory, .factory, into: Slot.childFactory, (10, 0, 0)) == .ok
    ok = ok && spawn(0, Work.destroyChildFactory, priority: 90, factory: Slot.childFactory) == .ok
    pause()
    checks.check(ok && Seen.results[0] == 0 && Seen.after[0] == 0 && identify(Slot.childFactory) == .emptySlot
                 && identify(Slot.workers) == .emptySlot,
                 "a thread destroyed the factory it came from: it never ran past its destroy, both capabilities are empty")
    after = Figures.now
    checks.check(after == before, "quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
}

/// The interrupt the root task gave (control only, so no destroy) bound to an endpoint that is
/// destroyed: the interrupt is unbound (acknowledge says so), and nothing leaks.
func interrupts(_ checks: inout TestChecks) {
    let irq = ConsoleProtocol.interruptSlot
    let before = Figures.now
    let identity = SystemCall.capability(irq, .identify)
    checks.check(identity.words.0 == UInt64(ObjectType.interrupt.rawValue) && identity.words.1 == UInt64(Rights.control.rawValue),
                 "slot \(irq) holds an interrupt with rights \(hex: identity.words.1)")
    checks.expect(destroy(irq), .missingRight, "destroy the interrupt the root task made (no destroy right given)")
    var ok = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint) == .ok
    ok = ok && SystemCall.interrupt(irq, .bind, (Slot.endpoint, 5, 0, 0)) == .ok
    checks.expect(SystemCall.interrupt(irq, .acknowledge), .ok, "acknowledge while bound")
    checks.expect(destroy(Slot.endpoint), .ok, "destroy the endpoint the interrupt is bound to")
    checks.expect(SystemCall.interrupt(irq, .acknowledge), .invalidThreadState, "acknowledge after: the interrupt was unbound")
    ok = ok && SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint) == .ok
    checks.expect(SystemCall.interrupt(irq, .bind, (Slot.endpoint, 6, 0, 0)), .ok, "bind it to a new endpoint")
    ok = ok && SystemCall.interrupt(irq, .unbind) == .ok && destroy(Slot.endpoint) == .ok
    let after = Figures.now
    checks.check(ok && after == before, "quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
}

/// A task with pages, capabilities and a thread: destroying it takes them all (and refunds its page
/// tables and mapping nodes), and leaves the pages it was given with their owner. Done twice: the first
/// time may grow the mapping database's node pool and frame index, which keep their frames (the quota
/// is exact either way); the second must give back every frame.
func tasks(_ checks: inout TestChecks) {
    let first = Figures.now
    var firstAfter = first
    for round in 1...2 {
        let before = Figures.now
        let pages = user_thread_pages() + 8 * 4096            // areas 2 and 3 of the spare pages
        let place: UInt64 = 0x0000_2000_0000_0000
        _ = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint)
        var ok = SystemCall.create(Slot.factory, .task, into: Slot.child) == .ok
        ok = ok && SystemCall.task(Slot.child, .mapPages, (pages, place, 4, 1)) == .ok
        ok = ok && SystemCall.task(Slot.child, .copyCapability, (Slot.endpoint, 20, UInt64(Rights.all.rawValue), 0)) == .ok
        ok = ok && SystemCall.task(Slot.child, .copyCapability, (Slot.endpoint, 21, UInt64(Rights.send.rawValue), 0)) == .ok
        ok = ok && SystemCall.createThread(Slot.factory, into: Slot.childThread, task: Slot.child, priority: 10, utcb: place) == .ok
        ok = ok && SystemCall.ports(Slot.child, .give, first: 0x2F8, count: 8).error == .ok
            && SystemCall.ports(Slot.child, .query, first: 0x2FF).words.0 == 1
        let mapped = SystemCall.readMapping(Slot.child, at: place + 3 * 4096).rights
        let withChild = Figures.now
        checks.expect(destroy(Slot.child), .ok,
                      "round \(round): destroy a task with 4 pages mapped (rights \(hex: mapped.rawValue)), 2 capabilities, a thread and 8 I/O ports (it held \(before.quota &- withChild.quota) frames of the quota)")
        checks.expect(identify(Slot.child), .emptySlot, "its capability")
        checks.expect(SystemCall.thread(Slot.childThread, .readState).error, .emptySlot, "its thread's capability")
        checks.check(SystemCall.readMapping(RootTaskLayout.taskSlot, at: pages + 3 * 4096).rights.contains(.write),
                     "the pages it was given are still this task's")
        checks.check(SystemCall.ports(RootTaskLayout.taskSlot, .query, first: 0x2FF).words.0 == 1,
                     "the ports it was given are still this task's too")
        ok = ok && destroy(Slot.endpoint) == .ok
        let after = Figures.now
        if round == 1 {
            firstAfter = after
            checks.check(ok && mapped.contains(.write) && after.quota == before.quota,
                         "task gone, page tables and nodes refunded: quota \(before.quota) -> \(after.quota) (free frames \(before.free) -> \(after.free): the mapping database may keep what its pool and index grew by)")
        } else {
            checks.check(ok && mapped.contains(.write) && after == before,
                         "task gone again: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
        }
    }
    checks.check(first.free &- firstAfter.free <= 2, "the mapping database kept \(first.free &- firstAfter.free) frames (at most 2: a node frame and an index leaf)")
}

/// A VM (a task whose address space is guest-physical) with vCPUs that never ran and a page of guest
/// RAM: a vCPU destroyed alone, then the VM with its other vCPU; then `vmCycles` VMs made and destroyed.
func virtualMachines(_ checks: inout TestChecks) {
    let before = Figures.now
    let made = SystemCall.create(Slot.factory, .virtualMachine, into: Slot.vm)
    if made == .notSupported {
        checks.check(true, "no VMX or SVM: the VM checks are skipped")
        return
    }
    let page = user_thread_pages() + 13 * 4096
    var ok = made == .ok && SystemCall.task(Slot.vm, .mapPages, (page, 0x1000, 1, 1)) == .ok
    ok = ok && SystemCall.create(Slot.factory, .virtualCPU, into: Slot.vcpu, (Slot.vm, 50, 0)) == .ok
    ok = ok && SystemCall.create(Slot.factory, .virtualCPU, into: Slot.secondVCPU, (Slot.vm, 50, 0)) == .ok
    let withVM = Figures.now
    checks.expect(destroy(Slot.vcpu), .ok, "destroy a vCPU (the VM with 2 vCPUs and a page held \(before.quota &- withVM.quota) frames)")
    checks.expect(SystemCall.thread(Slot.vcpu, .readState).error, .emptySlot, "its capability")
    checks.expect(destroy(Slot.vm), .ok, "destroy the VM with its other vCPU")
    checks.expect(SystemCall.thread(Slot.secondVCPU, .readState).error, .emptySlot, "the other vCPU's capability")
    checks.check(SystemCall.readMapping(RootTaskLayout.taskSlot, at: page).rights.contains(.write), "the guest RAM page is still this task's")
    var after = Figures.now
    checks.check(ok && after == before, "VM gone: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
    ok = vcpuThatRan(&checks, page: page)
    after = Figures.now
    checks.check(ok && after == before, "VMs whose vCPUs ran gone: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
    // Each VM runs: its vCPU's startup exit comes here, the reply runs the guest from its reset state
    // into memory the VM does not have, and the VM is destroyed while this thread holds that second exit.
    var cycles: UInt64 = 0, failures: UInt64 = 0, exits: UInt64 = 0
    ok = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint) == .ok
    while cycles < vmCycles {
        var ran = SystemCall.create(Slot.factory, .virtualMachine, into: Slot.vm) == .ok
            && SystemCall.task(Slot.vm, .mapPages, (page, 0x1000, 1, 1)) == .ok
            && SystemCall.create(Slot.factory, .virtualCPU, into: Slot.vcpu, (Slot.vm, 50, 0)) == .ok
            && SystemCall.thread(Slot.vcpu, .setExceptionHandler, (Slot.endpoint, 0, 0, 0)).error == .ok
            && SystemCall.thread(Slot.vcpu, .start).error == .ok
        for exit in 0..<2 where ran {
            let message = SystemCall.wait(Slot.endpoint, timeout: .microseconds(1_000_000))
            ran = message.error == .ok && message.tag.label == KernelMessageLabel.vmExit
            if ran { exits += 1 }
            if ran && exit == 0 { ran = SystemCall.reply(MessageTag(label: 0)) == .ok }
        }
        if !ran || destroy(Slot.vm) != .ok { failures += 1 }
        cycles += 1
    }
    ok = destroy(Slot.endpoint) == .ok && ok
    after = Figures.now
    checks.check(ok && failures == 0 && exits == 2 * vmCycles && after == before,
                 "soak: \(cycles) VMs with a vCPU and a page made, run (\(exits) exits in all) and destroyed: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free), \(failures) failed")
}

/// vCPUs that ran: one destroyed while this thread holds its startup exit (its reply then finds no
/// caller), one destroyed while its next exit is queued on the endpoint (after the guest ran from its
/// reset state into memory the VM does not have).
func vcpuThatRan(_ checks: inout TestChecks, page: UInt64) -> Bool {
    var ok = SystemCall.create(Slot.factory, .endpoint, into: Slot.endpoint) == .ok
        && SystemCall.create(Slot.factory, .virtualMachine, into: Slot.vm) == .ok
        && SystemCall.task(Slot.vm, .mapPages, (page, 0x1000, 1, 1)) == .ok
    for (slot, queued) in [(Slot.vcpu, false), (Slot.secondVCPU, true)] {
        ok = ok && SystemCall.create(Slot.factory, .virtualCPU, into: slot, (Slot.vm, 50, 0)) == .ok
            && SystemCall.thread(slot, .setExceptionHandler, (Slot.endpoint, 0, 0, 0)).error == .ok
            && SystemCall.thread(slot, .start).error == .ok
        let startup = SystemCall.wait(Slot.endpoint, timeout: .microseconds(1_000_000))
        let isExit = startup.error == .ok && startup.tag.label == KernelMessageLabel.vmExit
        if !queued {
            checks.expect(destroy(slot), .ok, "destroy a vCPU in its startup exit, held by this thread (an exit message: \(yesNo: isExit))")
            checks.expect(SystemCall.reply(MessageTag(label: 0)), .noCaller, "the reply to the destroyed vCPU's exit")
        } else {
            ok = ok && SystemCall.reply(MessageTag(label: 0)) == .ok     // run on from the reset state
            pause()
            let state = SystemCall.thread(slot, .readState).words.0
            checks.expect(destroy(slot), .ok, "destroy a vCPU that ran its guest and is queued with its next exit (state \(state))")
            checks.expect(SystemCall.wait(Slot.endpoint, timeout: .zero).error, .timeout, "no exit left queued on the endpoint")
        }
        ok = ok && isExit
    }
    ok = destroy(Slot.vm) == .ok && ok
    ok = vcpuInGuestMode(&checks) && ok
    return destroy(Slot.endpoint) == .ok && ok
}

/// The guest code page of `vcpuInGuestMode`: the first page the root task pages in on demand above the
/// heap, executable as the default plan gives destroytest `guest-memory` (its own data pages are
/// no-execute, and a VM gets only rights its giver holds). `main` touches it before any figures are taken.
let guestCodePage = TaskLayout.heap + TaskLayout.heapPages * 4096

/// Writes `jmp $` at the start of the guest code page (paging it in): a vCPU starts in real mode at 0.
func prepareGuestCode() {
    let spin = UnsafeMutablePointer<UInt8>(bitPattern: UInt(guestCodePage))!
    spin[0] = 0xEB
    spin[1] = 0xFE
}

/// A vCPU taken out of guest mode by preemption, not by an exit of its own: its guest spins (`jmp $` at
/// guest-physical 0, where its reset state starts it), this thread's timeout preempts it,
/// and it is destroyed while ready to go back into the guest. Nothing reaches the exit endpoint.
func vcpuInGuestMode(_ checks: inout TestChecks) -> Bool {
    let rights = SystemCall.readMapping(RootTaskLayout.taskSlot, at: guestCodePage).rights
    guard rights.contains(.execute) else {
        log("destroytest: the vCPU preempted in guest mode is not tested: no executable page (rights \(hex: rights.rawValue): no guest-memory)")
        return true
    }
    var ok = SystemCall.create(Slot.factory, .virtualMachine, into: Slot.vm) == .ok
        && SystemCall.task(Slot.vm, .mapPages, (guestCodePage, 0, 1, 3)) == .ok
        && SystemCall.create(Slot.factory, .virtualCPU, into: Slot.vcpu, (Slot.vm, 50, 0)) == .ok
        && SystemCall.thread(Slot.vcpu, .setExceptionHandler, (Slot.endpoint, 0, 0, 0)).error == .ok
        && SystemCall.thread(Slot.vcpu, .start).error == .ok
    let startup = SystemCall.wait(Slot.endpoint, timeout: .microseconds(1_000_000))
    ok = ok && startup.error == .ok && startup.tag.label == KernelMessageLabel.vmExit
        && SystemCall.reply(MessageTag(label: 0)) == .ok
    pause()                                       // the guest spins until this thread's timeout preempts it
    let state = SystemCall.thread(Slot.vcpu, .readState).words.0
    checks.expect(destroy(Slot.vcpu), .ok, "destroy a vCPU preempted in guest mode, its guest spinning (state \(state))")
    checks.expect(SystemCall.wait(Slot.endpoint, timeout: .zero).error, .timeout, "no exit of it reached the endpoint")
    return destroy(Slot.vm) == .ok && ok && state == ThreadStateCode.ready.rawValue
}

/// `soakCycles` create/destroy cycles of each type and `mapCycles` map/unmap cycles.
func soak(_ checks: inout TestChecks) {
    let start = Figures.now
    let base = user_thread_pages()
    var failures: UInt64 = 0
    for type in [ObjectType.endpoint, .factory, .thread, .task] {
        let before = Figures.now
        var cycles: UInt64 = 0
        while cycles < soakCycles {
            let made: SyscallError
            switch type {
            case .thread: made = SystemCall.createThread(Slot.factory, into: Slot.soak, task: RootTaskLayout.taskSlot, priority: 10, utcb: base)
            case .factory: made = SystemCall.create(Slot.factory, .factory, into: Slot.soak, (1, 0, 0))
            case .task:
                // With a page mapped: its page tables and mapping node are paid and refunded each time.
                made = SystemCall.create(Slot.factory, .task, into: Slot.soak) == .ok
                    ? SystemCall.task(Slot.soak, .mapPages, (base + 14 * 4096, 0x0000_1000_0000_0000, 1, 1)) : .quotaExceeded
            default: made = SystemCall.create(Slot.factory, type, into: Slot.soak)
            }
            if made != .ok || destroy(Slot.soak) != .ok { failures += 1 }
            cycles += 1
        }
        let after = Figures.now
        checks.check(failures == 0 && after == before,
                     "soak: \(cycles) create/destroy cycles of \(name(type)): quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free), \(failures) failed")
    }
    // Map one of this task's pages to a second place in its own space and unmap it again; the page
    // tables the place needs are paid once (they stay with the task), so the count starts after one.
    let source = base + 15 * 4096, destination: UInt64 = 0x0000_3000_0000_0000
    let unwarmed = Figures.now
    var mapped = SystemCall.task(RootTaskLayout.taskSlot, .mapPages, (source, destination, 1, 1)) == .ok
        && SystemCall.unmap(Flexpage(base: source, order: 12, rights: .all)) == .ok
    let before = Figures.now
    var cycles: UInt64 = 0
    while cycles < mapCycles && mapped {
        mapped = SystemCall.task(RootTaskLayout.taskSlot, .mapPages, (source, destination, 1, 1)) == .ok
            && SystemCall.readMapping(RootTaskLayout.taskSlot, at: destination).rights.contains(.write)
            && SystemCall.unmap(Flexpage(base: source, order: 12, rights: .all)) == .ok
        cycles += 1
    }
    let after = Figures.now
    let gone = SystemCall.readMapping(RootTaskLayout.taskSlot, at: destination).rights.isEmpty
    checks.check(mapped && gone && after == before,
                 "soak: \(cycles) map/unmap cycles: quota \(before.quota) -> \(after.quota), free frames \(before.free) -> \(after.free)")
    let end = Figures.now
    let tables = unwarmed.free &- before.free
    checks.check(tables <= 3 && end.free == start.free &- tables,
                 "soak: the kernel's free frames \(start.free) -> \(end.free) over the whole soak: the \(tables) page tables of the mapped place, which stay with the task")
}
