import SwiftletABI

public typealias ThreadPointer = UnsafeMutablePointer<Thread>
public typealias TaskPointer = UnsafeMutablePointer<Task>
public typealias EndpointPointer = UnsafeMutablePointer<Endpoint>

/// A thread control block. It fills one frame: this struct first, then the FPU save area.
///
/// Invariants:
/// - `context` is the first field (the entry code saves registers straight into it).
/// - A thread is linked into at most one ThreadQueue at a time through `next`/`previous`: a ready queue when
///   `.ready`, an endpoint's queue when `.sending` or `.receiving`. `queuedOn` says which endpoint.
/// - It is in the timeout list (`timeoutNext`/`timeoutPrevious`) only while blocked with a finite timeout.
/// - `caller` is set only while that caller is `.waitingForReply` (or `.faulted`) on this thread (Kernel/Core/IPC/IPC.pml checks it).
public struct Thread {
    public var context = UserContext()
    /// The factory that paid for it and the capabilities naming it (ObjectHeader).
    public var header = ObjectHeader()
    public var state: ThreadState = .inactive
    public var priority: UInt8 = 0
    /// Ticks left in the current timeslice, and the slice it is refilled with.
    public var ticksLeft: UInt32 = 0
    public var timeslice: UInt32 = 10
    public var task: TaskPointer?
    /// Kernel view of the UTCB page (direct map), and where the task sees it.
    public var utcb: UnsafeMutablePointer<UInt64>?
    public var utcbAddress: UInt64 = 0

    public var next: ThreadPointer?
    public var previous: ThreadPointer?
    public var queuedOn: EndpointPointer?
    /// The task's list of its threads (`Task.threadList`), so destroying the task finds them.
    public var taskNext: ThreadPointer?
    public var taskPrevious: ThreadPointer?

    public var timeoutNext: ThreadPointer?
    public var timeoutPrevious: ThreadPointer?
    /// When its timeout expires, in the scheduler's clock units (`Scheduler.clock`).
    public var wakeupTime: UInt64 = 0
    public var inTimeoutList = false

    /// The thread that called this one and waits for its reply.
    public var caller: ThreadPointer?
    /// While `.waitingForReply` (or `.faulted` with a handler): the thread whose reply it waits for.
    public var callee: ThreadPointer?
    /// Callers whose reply this thread saved (`saveCaller`) and has not answered, linked through their
    /// `savedNext`/`savedPrevious`; `savedBy` is the server that saved this thread's call. So destroying a
    /// server finds every caller still waiting for it, saved or not.
    public var savedCallers: ThreadPointer?
    public var savedBy: ThreadPointer?
    public var savedNext: ThreadPointer?
    public var savedPrevious: ThreadPointer?
    /// Counts this thread's calls, so a saved reply capability answers only the call it was saved for.
    public var callCount: UInt64 = 0
    /// Badge of the capability the pending send or call used, and whether it may carry capabilities.
    public var sendBadge: UInt64 = 0
    public var sendCanGrant = false
    /// CR2 of the last page fault, for the exception message.
    public var faultAddress: UInt64 = 0
    /// Where faults go (an endpoint capability, copied at configuration time). A node, linked to the
    /// endpoint, so destroying the endpoint empties it; set it with `setCopy`.
    public var exceptionHandlerNode = CapabilityNode()
    /// Where page faults go, if set (an endpoint capability; a node like `exceptionHandlerNode`).
    public var pagerNode = CapabilityNode()
    /// The pending fault went to the pager (its reply maps memory) rather than to the exception handler.
    /// Never set for a vCPU (it takes no user-mode page faults): the exit fast path relies on that.
    public var faultToPager = false
    /// The vector of the last fault while `.faulted` / `.stopped` after a fault.
    public var faultVector: UInt64 = 0
    /// Set for a vCPU: the thread runs a guest, and its faults are VM exits (`IPC.deliverExit`).
    public var vcpu: VCPUPointer?
    /// The console line this thread is writing (debugWrite), printed when complete.
    public var consoleLine = LogLine()
    /// Offset of the 64-byte aligned FPU area within this thread's frame.
    public static let fpuAreaOffset = 1024

    public init() {}

    public var exceptionHandler: Capability { exceptionHandlerNode.capability }
    public var pager: Capability { pagerNode.capability }

    /// Replaces the TCB's exception-handler copy (`.empty`: none), relinking it.
    public static func setExceptionHandler(_ thread: ThreadPointer, _ capability: Capability) {
        replace(withUnsafeMutablePointer(to: &thread.pointee.exceptionHandlerNode) { $0 }, with: capability)
    }

    /// Replaces the TCB's pager copy (`.empty`: none), relinking it.
    public static func setPager(_ thread: ThreadPointer, _ capability: Capability) {
        replace(withUnsafeMutablePointer(to: &thread.pointee.pagerNode) { $0 }, with: capability)
    }

    private static func replace(_ node: CapabilityNodePointer, with capability: Capability) {
        ObjectHeader.clear(node)
        if !capability.isEmpty { ObjectHeader.fill(node, with: capability) }
    }

    public var isBlocked: Bool {
        switch state {
        case .sending, .receiving, .waitingForReply: return true
        default: return false
        }
    }
}

public enum ThreadState: Equatable {
    /// Created, not started.
    case inactive
    /// Runnable and in a ready queue.
    case ready
    /// The CPU's current thread (never in a ready queue).
    case running
    /// Blocked sending to `queuedOn`; `call` says whether it then waits for a reply.
    case sending(call: Bool)
    /// Blocked waiting on `queuedOn`.
    case receiving
    /// Called a thread and waits for its reply.
    case waitingForReply
    /// Stopped by its controller, or after a fault with no handler.
    case stopped
    /// Faulted; its exception message was sent and it waits for the handler's reply.
    case faulted

    public var code: ThreadStateCode {
        switch self {
        case .inactive: return .inactive
        case .ready: return .ready
        case .running: return .running
        case .sending: return .sending
        case .receiving: return .receiving
        case .waitingForReply: return .waitingForReply
        case .stopped: return .stopped
        case .faulted: return .faulted
        }
    }
}

/// An IPC endpoint: senders and receivers waiting for a partner, FIFO. At most one of the queues is
/// non-empty. Interrupts bound to the endpoint that fired while nobody waited queue up here too.
public struct Endpoint {
    public var header = ObjectHeader()
    public var senders = ThreadQueue()
    public var receivers = ThreadQueue()
    public var pendingInterrupts: InterruptPointer?
    public var pendingInterruptsTail: InterruptPointer?

    public init() {}

    /// Something a receiver would get at once: a queued sender or a pending interrupt.
    public var hasPending: Bool { !senders.isEmpty || pendingInterrupts != nil }

    public mutating func appendPending(_ interrupt: InterruptPointer) {
        interrupt.pointee.nextPending = nil
        if let tail = pendingInterruptsTail { tail.pointee.nextPending = interrupt } else { pendingInterrupts = interrupt }
        pendingInterruptsTail = interrupt
    }

    /// Takes `interrupt` out of the pending list wherever it is (its interrupt or endpoint is destroyed).
    public mutating func removePending(_ interrupt: InterruptPointer) {
        var previous: InterruptPointer? = nil
        var cursor = pendingInterrupts
        while let current = cursor, current != interrupt {
            previous = current
            cursor = current.pointee.nextPending
        }
        guard cursor != nil else { return }
        let next = interrupt.pointee.nextPending
        if let previous { previous.pointee.nextPending = next } else { pendingInterrupts = next }
        if pendingInterruptsTail == interrupt { pendingInterruptsTail = previous }
        interrupt.pointee.nextPending = nil
    }

    public mutating func takePending() -> InterruptPointer? {
        guard let first = pendingInterrupts else { return nil }
        pendingInterrupts = first.pointee.nextPending
        if pendingInterrupts == nil { pendingInterruptsTail = nil }
        first.pointee.nextPending = nil
        return first
    }
}

public typealias InterruptPointer = UnsafeMutablePointer<Interrupt>

/// An interrupt line (an IOAPIC input) given to a driver. When it fires the kernel masks it and sends a
/// message to the bound endpoint (or keeps it pending until a thread waits there); the driver
/// acknowledges it to unmask the line again.
public struct Interrupt {
    public var header = ObjectHeader()
    /// The global system interrupt number.
    public var line: UInt32
    public var endpoint: EndpointPointer?
    public var badge: UInt64 = 0
    /// Fired and not yet delivered.
    public var pending = false
    public var nextPending: InterruptPointer?

    public init(line: UInt32) {
        self.line = line
    }
}

/// A task: an address space and a capability space.
public struct Task {
    public var header = ObjectHeader()
    public var pageTableRoot: PhysicalAddress = 0
    public var capabilities: CapabilitySpace
    public var threads: Int = 0
    /// Its threads, linked through `Thread.taskNext`/`taskPrevious` (`threads` counts them).
    public var threadList: ThreadPointer?
    /// The factory that created the task (nil for the root task): the page tables its mappings need are
    /// charged to it, so filling an address space cannot exhaust kernel memory for others.
    public var factory: UnsafeMutablePointer<Factory>?
    /// The task's I/O permission bitmap (ports 0-32767 and 32768-65535, one frame each; a set bit denies
    /// the port, as the CPU reads it), or 0 for a task without ports.
    public var ioBitmapLow: PhysicalAddress = 0
    public var ioBitmapHigh: PhysicalAddress = 0
    /// A VM: `pageTableRoot` is the EPT/NPT root and the address space is guest-physical.
    public var isVirtualMachine = false
    /// Counts unmaps in a VM's address space; a vCPU flushes its guest TLB when it sees a new value.
    public var guestTLBGeneration: UInt64 = 0
    /// Tags the task's console lines (`[name] ...`), so they cannot pass for the kernel's.
    public var name = TaskName()

    public init(pageTableRoot: PhysicalAddress, capabilities: CapabilitySpace) {
        self.pageTableRoot = pageTableRoot
        self.capabilities = capabilities
    }
}

extension Task {
    /// Adds `thread` (new, of this task) to the task's list. O(1).
    public static func attach(_ thread: ThreadPointer, to task: TaskPointer) {
        thread.pointee.taskPrevious = nil
        thread.pointee.taskNext = task.pointee.threadList
        task.pointee.threadList?.pointee.taskPrevious = thread
        task.pointee.threadList = thread
        task.pointee.threads += 1
    }

    /// Takes `thread` out of its task's list. O(1).
    public static func detach(_ thread: ThreadPointer, from task: TaskPointer) {
        if let previous = thread.pointee.taskPrevious {
            previous.pointee.taskNext = thread.pointee.taskNext
        } else if task.pointee.threadList == thread {
            task.pointee.threadList = thread.pointee.taskNext
        }
        thread.pointee.taskNext?.pointee.taskPrevious = thread.pointee.taskPrevious
        thread.pointee.taskNext = nil
        thread.pointee.taskPrevious = nil
        task.pointee.threads -= 1
    }
}
