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
/// - `caller` is set only while that caller is `.waitingForReply` on this thread.
public struct Thread {
    public var context = UserContext()
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

    public var timeoutNext: ThreadPointer?
    public var timeoutPrevious: ThreadPointer?
    /// When its timeout expires, in the scheduler's clock units (`Scheduler.clock`).
    public var wakeupTime: UInt64 = 0
    public var inTimeoutList = false

    /// The thread that called this one and waits for its reply.
    public var caller: ThreadPointer?
    /// While `.waitingForReply` (or `.faulted` with a handler): the thread whose reply it waits for.
    public var callee: ThreadPointer?
    /// Counts this thread's calls, so a saved reply capability answers only the call it was saved for.
    public var callCount: UInt64 = 0
    /// Badge of the capability the pending send or call used, and whether it may carry capabilities.
    public var sendBadge: UInt64 = 0
    public var sendCanGrant = false
    /// CR2 of the last page fault, for the exception message.
    public var faultAddress: UInt64 = 0
    /// Where faults go (an endpoint capability, copied at configuration time).
    public var exceptionHandler = Capability.empty
    /// Where page faults go, if set (an endpoint capability).
    public var pager = Capability.empty
    /// The pending fault went to the pager (its reply maps memory) rather than to the exception handler.
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
    public var pageTableRoot: PhysicalAddress = 0
    public var capabilities: CapabilitySpace
    public var threads: Int = 0
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
