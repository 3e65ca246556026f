/// The system-call interface, shared by the kernel and the user library (one definition, no drift).
///
/// Register convention (SYSCALL): in — RAX number, RDI capability selector, RSI message tag or operation,
/// RDX R10 R8 R9 the first four message registers (MR0-MR3), R12 timeout. Out — RAX error code,
/// RDI badge of the sender, RSI tag, RDX R10 R8 R9 MR0-MR3. Every other register is preserved;
/// RCX and R11 are clobbered by the SYSCALL instruction itself. Message registers beyond MR3 live in the UTCB.
public enum Syscall: UInt64, Sendable {
    /// Send to an endpoint and wait for the receiver's reply (which comes through the implicit reply right).
    case call = 1
    /// Reply to the thread whose call was last received (if it still waits), then wait on an endpoint.
    case replyWait = 2
    /// Send to an endpoint.
    case send = 3
    /// Wait for a message on an endpoint.
    case wait = 4
    /// Reply without waiting: to the caller just received (RDI = 0) or through a saved reply capability.
    case reply = 5
    /// Give up the rest of the timeslice.
    case yield = 6
    /// Text for the kernel console: RSI = byte count (at most 32) | `debugWriteContinues` if the line goes
    /// on; the bytes packed little-endian in MR0-MR3. The kernel prints a thread's line when it ends.
    case debugWrite = 7
    /// Create an object from a factory: RDI factory, RSI object type, RDX destination slot, R10... arguments.
    /// A create that fails takes nothing from the factory's quota. A thread's UTCB page (R9) must be a
    /// writable page of the task and not the UTCB of a thread that may still run (`slotOccupied`; a
    /// stopped or never-started thread's page is taken over, and that thread loses its UTCB); revoking
    /// or write-protecting the page later stops the thread and detaches its UTCB.
    case create = 8
    /// Operations on a thread capability (RSI = ThreadOperation).
    case threadControl = 9
    /// Operations on a task capability (RSI = TaskOperation).
    case taskControl = 10
    /// Operations on the caller's own capability space (RSI = CapabilityOperation).
    case capabilityControl = 11
    /// Operations on the machine capability (RSI = MachineOperation).
    case machineControl = 12
    /// Revoke memory: RDI = a flexpage of the caller's space whose rights field names the rights to take
    /// away (all three: the mappings go); RSI bit 0 = the caller's own mappings too, not only what was
    /// derived from them (recursively: A→B→C loses C when A unmaps).
    case unmap = 13
    /// Operations on an interrupt capability (RSI = InterruptOperation).
    case interruptControl = 14
    /// Operations on the caller's I/O ports (RSI = PortOperation).
    case portControl = 15
    /// Physical memory (RDI = the physical-memory capability, RSI = MemoryOperation).
    case memoryControl = 16

    public static let count: UInt64 = 17
    public static let unmapOwn: UInt64 = 1
    public static let debugWriteContinues: UInt64 = 1 << 63
    public static let debugWriteChunk = 32
}

/// What every system call returns in RAX. Each invalid argument has its own code so tests can tell them apart.
public enum SyscallError: UInt64, Error, Sendable, Equatable {
    case ok = 0
    case unknownSyscall = 1
    /// The selector is beyond the capability space.
    case selectorOutOfRange = 2
    /// The slot is empty.
    case emptySlot = 3
    /// The capability names an object of another type.
    case wrongObjectType = 4
    /// The capability lacks a right the operation needs.
    case missingRight = 5
    /// An address is outside user space or not mapped as required.
    case invalidAddress = 6
    /// An address is not aligned as required (UTCB: page; mappings: page).
    case unalignedAddress = 7
    /// A timeout value that is neither zero, infinite nor a relative time within range.
    case invalidTimeout = 8
    /// An operation or argument value the call does not define.
    case invalidArgument = 9
    /// The timeout expired before the partner arrived.
    case timeout = 10
    /// The factory's kernel-memory quota is spent.
    case quotaExceeded = 11
    /// The destination slot is occupied.
    case slotOccupied = 12
    /// A message longer than the UTCB holds.
    case messageTooLong = 13
    /// reply without a caller waiting for it.
    case noCaller = 14
    /// The thread is not in a state that allows the operation (start twice, configure while running).
    case invalidThreadState = 15
    /// The partner was deleted or stopped while the operation was pending.
    case aborted = 16
    /// A priority above the caller's own.
    case priorityTooHigh = 17
    /// A capability in the message could not be transferred.
    case transferFailed = 18
    /// The CPU lacks what the operation needs (a VM without VMX or SVM).
    case notSupported = 19
    /// destroy of an object the kernel made at boot (it belongs to no factory).
    case permanentObject = 20

    public var name: StaticString {
        switch self {
        case .ok: return "ok"
        case .unknownSyscall: return "unknown syscall"
        case .selectorOutOfRange: return "selector out of range"
        case .emptySlot: return "empty slot"
        case .wrongObjectType: return "wrong object type"
        case .missingRight: return "missing right"
        case .invalidAddress: return "invalid address"
        case .unalignedAddress: return "unaligned address"
        case .invalidTimeout: return "invalid timeout"
        case .invalidArgument: return "invalid argument"
        case .timeout: return "timeout"
        case .quotaExceeded: return "quota exceeded"
        case .slotOccupied: return "slot occupied"
        case .messageTooLong: return "message too long"
        case .noCaller: return "no caller"
        case .invalidThreadState: return "invalid thread state"
        case .aborted: return "aborted"
        case .priorityTooHigh: return "priority too high"
        case .transferFailed: return "transfer failed"
        case .notSupported: return "not supported"
        case .permanentObject: return "permanent object"
        }
    }
}

/// The kinds of kernel object a capability can name.
public enum ObjectType: UInt8, Sendable, Equatable {
    case empty = 0
    case task = 1
    case thread = 2
    case endpoint = 3
    case factory = 4
    case machine = 5
    /// Hands out interrupt objects, each line once (the root task has it).
    case interruptController = 6
    case interrupt = 7
    /// A saved right to reply to one particular call (see CapabilityOperation.saveCaller).
    case reply = 8
    /// The right to take physical memory (sigma0's): RAM the kernel handed over, and device memory.
    case physicalMemory = 9
    /// `create` only: a task whose address space is guest-physical (its page tables are the EPT/NPT);
    /// the capability is a task capability.
    case virtualMachine = 10
    /// `create` only: a virtual CPU of the VM task in R10, at priority R8; the capability is a thread
    /// capability. Its exits go to its exception handler as `KernelMessageLabel.vmExit` calls.
    case virtualCPU = 11
}

/// Rights a capability carries; derived capabilities can only lose rights.
public struct Rights: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Endpoint: send and call.
    public static let send = Rights(rawValue: 1 << 0)
    /// Endpoint: wait and reply-wait.
    public static let receive = Rights(rawValue: 1 << 1)
    /// Endpoint: capabilities may travel in messages sent through it.
    public static let grant = Rights(rawValue: 1 << 2)
    /// Task, thread, factory, machine: operate on the object.
    public static let control = Rights(rawValue: 1 << 3)
    /// Destroy the object (CapabilityOperation.destroy). Every create gives it; a copy can drop it.
    public static let destroy = Rights(rawValue: 1 << 4)

    public static let all: Rights = [.send, .receive, .grant, .control, .destroy]
}

/// Operations of `threadControl`. Arguments in MR0-MR3 (RDX R10 R8 R9).
public enum ThreadOperation: UInt64, Sendable {
    /// MR0 = instruction pointer, MR1 = stack pointer, MR2 = first argument (RDI at start; RSI holds the
    /// thread's UTCB address).
    case setEntry = 1
    /// MR0 = priority (0-255, at most the caller's).
    case setPriority = 2
    /// MR0 = exception-handler endpoint selector in the caller's space (0 = none).
    case setExceptionHandler = 3
    case start = 4
    case stop = 5
    /// Out: MR0 = state (ThreadState raw), MR1 = instruction pointer, MR2 = fault vector or 0.
    case readState = 6
    /// MR0 = pager endpoint selector in the caller's space (0 = none: page faults go to the exception handler).
    case setPager = 7
    /// vCPUs only: MR0 = exit reason (ExitReason raw value; 0 = every reason), MR1 = the TransferMask of
    /// the guest state its exit messages carry.
    case setExitMask = 8
    /// vCPUs only: make the vCPU exit with reason `recall` before it runs another guest instruction (if it
    /// is in guest mode now, the kernel takes it out; if it waits for its VMM's reply, the next entry exits
    /// at once). Idempotent until that exit is delivered.
    case recall = 9
}

/// Operations of `taskControl`. Arguments in MR0-MR3.
public enum TaskOperation: UInt64, Sendable {
    /// MR0 = source address in the caller's space, MR1 = destination in the task, MR2 = pages,
    /// MR3 = rights (bit 0 write, bit 1 execute; read always). The caller must hold at least those
    /// rights; the mappings are derived from the caller's (the mapping database records it).
    case mapPages = 1
    /// MR0 = caller's slot, MR1 = destination slot in the task, MR2 = rights mask.
    case copyCapability = 2
    /// MR0 = address in the task. Out: MR0 = the PageRights held there (0 = not mapped).
    case readMapping = 3
}

/// Operations of `capabilityControl` on the caller's own space. RDI = source slot.
public enum CapabilityOperation: UInt64, Sendable {
    /// MR0 = destination slot, MR1 = rights mask, MR2 = badge (endpoints only; 0 keeps the badge). Only an
    /// unbadged capability takes a badge (`missingRight` otherwise): a badged one cannot pose as another sender.
    case copy = 1
    case delete = 2
    /// Out: MR0 = object type, MR1 = rights, MR2 = badge, MR3 = for a factory the frames left in its
    /// quota (what a create or a mapping may still take), for the machine capability the kernel's free
    /// frames, else 0.
    case identify = 3
    /// RDI = destination slot: keeps the right to reply to the caller just received, so the server can
    /// receive other messages first and answer later with `reply` on that slot (used once).
    case saveCaller = 4
    /// RDI = a capability with the `destroy` right: the object it names (endpoint, interrupt, factory,
    /// thread or vCPU, task or VM) is destroyed, every capability naming it in any task is emptied (a saved reply to a
    /// destroyed thread stays, naming nobody: replying through it answers `noCaller`), and its frames
    /// and quota go back to the factory it came from. Endpoint: queued senders and receivers get
    /// `aborted`, interrupts bound to it are unbound. Thread (itself too): out of every queue; its caller
    /// gets `aborted`; the server it called answers `noCaller`. Task (itself too): its threads
    /// destroyed, its capabilities unlinked, its mappings revoked (and those derived from them in other
    /// tasks), its I/O ports, page tables and capability space freed. Factory: with everything made from
    /// it (objects and child factories, theirs too; the caller's own thread or task among them if it is), its
    /// whole quota back to its parent. VM: as a task, its vCPUs' VMCS/VMCB freed (VMCLEAR on VMX) and
    /// its EPT flushed (INVEPT) before its tables go. Boot-time objects: `permanentObject`.
    case destroy = 5
}

/// Operations of `machineControl` (RDI = the machine capability).
public enum MachineOperation: UInt64, Sendable {
    /// MR0 = the PowerOffReason, MR1 = the guest's exit status with `guestExited` (0-255). The kernel prints
    /// `kernel: powering off: <reason>` (and the status) and turns the machine off.
    case powerOff = 1
    /// MR0 = a task capability (control right), MR1 = name length (1-16), MR2-MR3 = the name's bytes
    /// (little-endian; letters, digits and `,._+@-`). The kernel tags every console line the task writes
    /// with `[name] `. Naming is the machine's right, not the task's, so no task can take another's name.
    case nameTask = 2
}

/// Why the system powers off (`machineControl` powerOff, MR0). The kernel prints the description on its
/// own untagged line, `kernel: powering off: <description>` and the boot's verdict token
/// (VerdictToken.swift), and the run harness judges the run by it.
public enum PowerOffReason: UInt64, Sendable, CaseIterable {
    /// Every task started and reported success.
    case allPassed = 0
    /// The configuration was rejected; nothing was started.
    case configurationRejected = 1
    /// A task (or the root task itself, or what it needs to start others) could not be started.
    case taskNotStarted = 2
    /// A task reported failed checks, was stopped after a fault, or did not report in time.
    case tasksFailed = 3
    /// Every task passed, and a VMM's guest ended the run through its debug-exit port with a status
    /// (MR1), which `swiftlet run` returns, as QEMU's `isa-debug-exit` does: (value << 1) | 1.
    case guestExited = 4

    public var description: StaticString {
        switch self {
        case .allPassed: return "all tasks passed"
        case .configurationRejected: return "configuration rejected, nothing started"
        case .taskNotStarted: return "a task could not be started"
        case .tasksFailed: return "tasks failed or did not report"
        case .guestExited: return "all tasks passed; the guest exited with status"
        }
    }
}

/// Operations of `interruptControl`. Create an interrupt with `create(factory, .interrupt, slot,
/// (controller selector, ISA IRQ, 0))` or `(controller, line, 1)` for a global system interrupt line.
public enum InterruptOperation: UInt64, Sendable {
    /// MR0 = endpoint selector (receive right: the caller waits there), MR1 = badge. Unmasks the line.
    case bind = 1
    /// The driver has handled the interrupt: unmask the line.
    case acknowledge = 2
    case unbind = 3
}

/// Operations of `memoryControl`.
public enum MemoryOperation: UInt64, Sendable {
    /// MR0 = physical address, MR1 = pages, MR2 = 1 for device memory (mapped uncached), 0 for RAM.
    /// Maps the frames into the caller at the same address, each at most once ever: a frame already
    /// taken gives `slotOccupied`; RAM the kernel kept, or device memory that is RAM, `invalidAddress`.
    case take = 1
}

/// Operations of `taskControl` for I/O ports, and of the IPC item that carries them.
public enum PortOperation: UInt64, Sendable {
    /// RDI = task, MR0 = first port, MR1 = count: gives the task ports the caller holds.
    case give = 1
    /// RDI = task, MR0 = first port, MR1 = count: takes them away again.
    case take = 2
    /// RDI = task, MR0 = port. Out: MR0 = 1 if the task may use it.
    case query = 3
}

/// Thread states as `readState` reports them.
public enum ThreadStateCode: UInt64, Sendable {
    case inactive = 0, ready = 1, running = 2, sending = 3, receiving = 4, waitingForReply = 5, stopped = 6, faulted = 7
}
