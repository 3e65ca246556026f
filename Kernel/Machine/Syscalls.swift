import KernelPlatform
import SwiftletABI

/// System-call entry (from syscall_entry in interrupts.S) and the general path of every call. Each call
/// checks all its arguments before changing anything and answers a specific SyscallError; IPC calls set
/// their result themselves because they may block and finish later.
///
/// The rule for every value a task controls (registers, message words and items, UTCB fields such as the
/// receive window and receive slot, flexpages, counts, sizes, indexes): no user value reaches a trapping
/// operation unchecked. Swift traps on overflow, and a trap in ring 0 is a kernel panic, so each such
/// value is range-checked before it feeds `+`, `*`, `-`, a shift, an index or an integer conversion
/// (bounds compared by subtraction from the limit, as in `pages * 4096 <= end - source` with `pages`
/// bounded first), or the arithmetic wraps by design (`&+`, `truncatingIfNeeded`, masks). Flexpages
/// and memory items are checked once, where they are decoded (`Flexpage.isUserRange`,
/// `MemoryPlacement`), so every user of them gets ranges inside user space.
@_cdecl("swiftlet_syscall")
func handleSyscall(_ context: UnsafeMutableRawPointer) {
    let thread = System.scheduler.current!
    if !FastPath.handle(thread, scheduler: &System.scheduler), let result = Syscalls.dispatch(thread) {
        thread.pointee.context.rax = result.rawValue
    }
    System.prepareReturn()
}

enum Syscalls {
    typealias FactoryPointer = UnsafeMutablePointer<Factory>

    /// Returns the result for RAX, or nil when the operation has set it (or will, when it unblocks).
    static func dispatch(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        guard let number = Syscall(rawValue: c.rax) else { return .unknownSyscall }
        switch number {
        case .call, .send: return send(thread, call: number == .call)
        case .wait: return wait(thread)
        case .replyWait: return replyWait(thread)
        case .reply: return reply(thread)
        case .yield:
            thread.pointee.context.rax = SyscallError.ok.rawValue
            System.scheduler.yield()
            return nil
        case .debugWrite: return TaskConsole.write(thread)
        case .create: return create(thread)
        case .threadControl: return threadControl(thread)
        case .taskControl: return taskControl(thread)
        case .capabilityControl: return capabilityControl(thread)
        case .machineControl: return machineControl(thread)
        case .unmap: return unmap(thread)
        case .interruptControl: return interruptControl(thread)
        case .portControl: return portControl(thread)
        case .memoryControl: return Sigma0Task.control(thread)
        }
    }

    private static func space(_ thread: ThreadPointer) -> CapabilitySpace {
        thread.pointee.task!.pointee.capabilities
    }

    private static func object<T>(_ capability: Capability, as type: T.Type) -> UnsafeMutablePointer<T> {
        PhysicalMemory.object(fromCapabilityAddress: capability.object, as: type)
    }

    private static func checkMessage(_ thread: ThreadPointer) -> SyscallError? {
        let tag = MessageTag(raw: thread.pointee.context.rsi)
        guard tag.isValid else { return .messageTooLong }
        guard tag.words + 2 * tag.items <= MessageTag.registerWords || thread.pointee.utcb != nil else { return .invalidAddress }
        return nil
    }

    private static func checkTimeout(_ thread: ThreadPointer) -> Result<Timeout, SyscallError> {
        let timeout = Timeout(raw: thread.pointee.context.r12)
        return timeout.isValid ? .success(timeout) : .failure(.invalidTimeout)
    }

    // MARK: IPC

    private static func send(_ thread: ThreadPointer, call: Bool) -> SyscallError? {
        let capability: Capability
        switch space(thread).lookup(thread.pointee.context.rdi, type: .endpoint, rights: .send) {
        case .success(let found): capability = found
        case .failure(let error): return error
        }
        if let error = checkMessage(thread) { return error }
        let timeout: Timeout
        switch checkTimeout(thread) {
        case .success(let value): timeout = value
        case .failure(let error): return error
        }
        IPC.send(thread, to: object(capability, as: Endpoint.self), badge: capability.badge, call: call,
                 canGrant: capability.rights.contains(.grant), timeout: timeout, scheduler: &System.scheduler)
        return nil
    }

    private static func receiveEndpoint(_ thread: ThreadPointer) -> Result<EndpointPointer, SyscallError> {
        switch space(thread).lookup(thread.pointee.context.rdi, type: .endpoint, rights: .receive) {
        case .success(let capability): return .success(object(capability, as: Endpoint.self))
        case .failure(let error): return .failure(error)
        }
    }

    private static func wait(_ thread: ThreadPointer) -> SyscallError? {
        let endpoint: EndpointPointer
        switch receiveEndpoint(thread) {
        case .success(let found): endpoint = found
        case .failure(let error): return error
        }
        switch checkTimeout(thread) {
        case .success(let timeout): IPC.wait(thread, on: endpoint, timeout: timeout, scheduler: &System.scheduler)
        case .failure(let error): return error
        }
        return nil
    }

    private static func replyWait(_ thread: ThreadPointer) -> SyscallError? {
        let endpoint: EndpointPointer
        switch receiveEndpoint(thread) {
        case .success(let found): endpoint = found
        case .failure(let error): return error
        }
        if let error = checkMessage(thread) { return error }
        switch checkTimeout(thread) {
        case .success(let timeout): IPC.replyWait(thread, on: endpoint, timeout: timeout, scheduler: &System.scheduler)
        case .failure(let error): return error
        }
        return nil
    }

    private static func reply(_ thread: ThreadPointer) -> SyscallError? {
        if let error = checkMessage(thread) { return error }
        if thread.pointee.context.rdi != 0 { return replyThroughCapability(thread) }
        thread.pointee.context.rax = SyscallError.ok.rawValue
        let result = IPC.reply(thread, scheduler: &System.scheduler, switchToCaller: false)
        return result == .ok ? nil : result
    }

    /// Reply to a caller saved with `saveCaller`: once, and only while that same call still waits.
    private static func replyThroughCapability(_ thread: ThreadPointer) -> SyscallError? {
        let selector = thread.pointee.context.rdi
        let capability: Capability
        switch space(thread).lookup(selector, type: .reply, rights: .send) {
        case .success(let found): capability = found
        case .failure(let error): return error
        }
        _ = space(thread).delete(selector)
        guard capability.object != 0 else { return .noCaller }      // its caller was destroyed
        thread.pointee.context.rax = SyscallError.ok.rawValue
        let result = IPC.replySaved(thread, to: object(capability, as: Thread.self), callNumber: capability.badge,
                                    scheduler: &System.scheduler)
        return result == .ok ? nil : result
    }

    // MARK: Objects

    /// RDI factory, RSI type, RDX destination slot; thread: R10 task, R8 priority, R9 UTCB address;
    /// factory: R10 frames.
    private static func create(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        let caps = space(thread)
        let factory: FactoryPointer
        switch caps.lookup(c.rdi, type: .factory, rights: .control) {
        case .success(let capability): factory = object(capability, as: Factory.self)
        case .failure(let error): return error
        }
        guard let type = ObjectType(rawValue: UInt8(truncatingIfNeeded: c.rsi)), c.rsi <= 0xFF else { return .invalidArgument }
        let error = caps.canInsert(at: c.rdx)
        guard error == .ok else { return error }

        let created: Result<Capability, SyscallError>
        switch type {
        case .task:
            created = KernelObjects.newTask(factory: factory).map { KernelObjects.capability(.task, $0, rights: [.control, .destroy]) }
        case .endpoint:
            created = KernelObjects.newEndpoint(factory: factory).map {
                KernelObjects.capability(.endpoint, $0, rights: [.send, .receive, .grant, .destroy])
            }
        case .factory:
            created = KernelObjects.newFactory(frames: c.r10, from: factory).map {
                KernelObjects.capability(.factory, $0, rights: [.control, .destroy])
            }
        case .thread:
            created = createThread(thread, factory: factory)
        case .interrupt:
            created = createInterrupt(thread, factory: factory)
        case .virtualMachine:
            created = GuestMode.newMachine(factory: factory).map { KernelObjects.capability(.task, $0, rights: [.control, .destroy]) }
        case .virtualCPU:
            created = createVCPU(thread, factory: factory)
        case .empty, .machine, .interruptController, .reply, .physicalMemory:
            return .invalidArgument
        }
        switch created {
        case .success(let capability): return caps.insert(capability, at: c.rdx)
        case .failure(let error): return error
        }
    }

    private static func createThread(_ creator: ThreadPointer, factory: FactoryPointer) -> Result<Capability, SyscallError> {
        let c = creator.pointee.context
        let task: TaskPointer
        switch space(creator).lookup(c.r10, type: .task, rights: .control) {
        case .success(let capability): task = object(capability, as: Task.self)
        case .failure(let error): return .failure(error)
        }
        // A VM's address space is guest-physical: only vCPUs run there (its root is no CR3 to load).
        guard !task.pointee.isVirtualMachine else { return .failure(.wrongObjectType) }
        guard c.r8 <= 255 else { return .failure(.invalidArgument) }
        guard c.r8 <= UInt64(creator.pointee.priority) else { return .failure(.priorityTooHigh) }
        if case .failure(let error) = userPage(c.r9, in: task, writable: true) { return .failure(error) }
        let created: ThreadPointer
        switch KernelObjects.newThread(in: task, priority: UInt8(c.r8), factory: factory) {
        case .success(let thread): created = thread
        case .failure(let error): return .failure(error)
        }
        // No map or grant replaces a pinned page while the kernel uses it; revoking it stops the thread
        // first (UserMemory.releasePin). The UTCB of a thread that may still run is taken: nothing was made.
        guard UserMemory.pinUTCB(created, in: task, at: c.r9) else {
            KernelObjects.discardNewThread(created, factory: factory)
            return .failure(.slotOccupied)
        }
        return .success(KernelObjects.capability(.thread, created, rights: [.control, .destroy]))
    }

    /// R10 = the VM (a task capability of a VM task), R8 = priority.
    private static func createVCPU(_ creator: ThreadPointer, factory: FactoryPointer) -> Result<Capability, SyscallError> {
        let c = creator.pointee.context
        let machine: TaskPointer
        switch space(creator).lookup(c.r10, type: .task, rights: .control) {
        case .success(let capability): machine = object(capability, as: Task.self)
        case .failure(let error): return .failure(error)
        }
        guard c.r8 <= 255 else { return .failure(.invalidArgument) }
        guard c.r8 <= UInt64(creator.pointee.priority) else { return .failure(.priorityTooHigh) }
        return GuestMode.newVCPU(in: machine, priority: UInt8(c.r8), factory: factory).map {
            KernelObjects.capability(.thread, $0, rights: [.control, .destroy])
        }
    }

    /// R10 = interrupt controller, R8 = ISA IRQ (R9 = 0) or IOAPIC line (R9 = 1).
    private static func createInterrupt(_ creator: ThreadPointer, factory: FactoryPointer) -> Result<Capability, SyscallError> {
        let c = creator.pointee.context
        if case .failure(let error) = space(creator).lookup(c.r10, type: .interruptController, rights: .control) {
            return .failure(error)
        }
        guard c.r9 <= 1 else { return .failure(.invalidArgument) }
        let line: Int
        if c.r9 == 1 {
            guard c.r8 < UInt64(Interrupts.maximumLines) else { return .failure(.invalidArgument) }
            line = Int(c.r8)
        } else {
            guard let routed = Interrupts.line(forISA: c.r8) else { return .failure(.invalidArgument) }
            line = routed
        }
        return Interrupts.issue(line: line, factory: factory).map {
            KernelObjects.capability(.interrupt, $0, rights: [.control, .destroy])
        }
    }

    /// The frame behind the page-aligned user address `address` in `task`.
    private static func userPage(_ address: UInt64, in task: TaskPointer, writable: Bool) -> Result<PhysicalAddress, SyscallError> {
        guard address < KernelAddressSpace.userSpaceEnd else { return .failure(.invalidAddress) }
        guard address & 0xFFF == 0 else { return .failure(.unalignedAddress) }
        guard let mapping = AddressSpace.translate(in: task.pointee.pageTableRoot, address),
              !writable || mapping.attributes.access.isWritable else { return .failure(.invalidAddress) }
        return .success(mapping.physical)
    }

    // MARK: Thread control

    private static func threadControl(_ caller: ThreadPointer) -> SyscallError? {
        let c = caller.pointee.context
        let target: ThreadPointer
        switch space(caller).lookup(c.rdi, type: .thread, rights: .control) {
        case .success(let capability): target = object(capability, as: Thread.self)
        case .failure(let error): return error
        }
        guard let operation = ThreadOperation(rawValue: c.rsi) else { return .invalidArgument }
        let state = target.pointee.state
        switch operation {
        case .setEntry:
            guard target.pointee.vcpu == nil else { return .invalidArgument }       // its VMM sets a vCPU's state
            guard state == .inactive || state == .stopped else { return .invalidThreadState }
            guard c.rdx < KernelAddressSpace.userSpaceEnd, c.r10 < KernelAddressSpace.userSpaceEnd else { return .invalidAddress }
            target.pointee.context.rip = c.rdx
            target.pointee.context.rsp = c.r10
            target.pointee.context.rdi = c.r8
            target.pointee.context.rsi = target.pointee.utcbAddress
            target.pointee.context.vector = 0          // first entry by IRETQ with a full register set
            target.pointee.context.rflags = UserContext.userFlags
            return .ok
        case .setPriority:
            guard c.rdx <= 255 else { return .invalidArgument }
            guard c.rdx <= UInt64(caller.pointee.priority) else { return .priorityTooHigh }
            if state == .ready {
                System.scheduler.ready.remove(target)
                target.pointee.priority = UInt8(c.rdx)
                System.scheduler.ready.enqueue(target)
            } else {
                target.pointee.priority = UInt8(c.rdx)
            }
            return .ok
        case .setExceptionHandler:
            if c.rdx == 0 {
                Thread.setExceptionHandler(target, .empty)
                return .ok
            }
            switch space(caller).lookup(c.rdx, type: .endpoint, rights: .send) {
            case .success(let capability): Thread.setExceptionHandler(target, capability)
            case .failure(let error): return error
            }
            return .ok
        case .setPager:
            if c.rdx == 0 {
                Thread.setPager(target, .empty)
                return .ok
            }
            switch space(caller).lookup(c.rdx, type: .endpoint, rights: .send) {
            case .success(let capability): Thread.setPager(target, capability)
            case .failure(let error): return error
            }
            return .ok
        case .start:
            guard state == .inactive || state == .stopped else { return .invalidThreadState }
            guard target.pointee.context.rip != 0 else { return .invalidThreadState }
            caller.pointee.context.rax = SyscallError.ok.rawValue
            System.scheduler.wake(target)
            return nil
        case .stop:
            guard state != .inactive && state != .stopped else { return .invalidThreadState }
            caller.pointee.context.rax = SyscallError.ok.rawValue
            IPC.stop(target, scheduler: &System.scheduler)
            return nil
        case .setExitMask:
            guard let vcpu = target.pointee.vcpu, vcpu.pointee.setMask(TransferMask(rawValue: c.r10), for: c.rdx) else {
                return .invalidArgument
            }
            return .ok
        case .recall:
            guard let vcpu = target.pointee.vcpu else { return .invalidArgument }
            vcpu.pointee.requestRecall()
            return .ok
        case .readState:
            caller.pointee.context.rdx = state.code.rawValue
            caller.pointee.context.r10 = target.pointee.context.rip
            caller.pointee.context.r8 = target.pointee.faultVector
            return .ok
        }
    }

    // MARK: Task control

    private static func taskControl(_ caller: ThreadPointer) -> SyscallError? {
        let c = caller.pointee.context
        let task: TaskPointer
        switch space(caller).lookup(c.rdi, type: .task, rights: .control) {
        case .success(let capability): task = object(capability, as: Task.self)
        case .failure(let error): return error
        }
        guard let operation = TaskOperation(rawValue: c.rsi) else { return .invalidArgument }
        switch operation {
        case .mapPages: return mapPages(from: caller.pointee.task!, to: task, source: c.rdx, destination: c.r10, pages: c.r8, rights: c.r9)
        case .copyCapability:
            let capability: Capability
            switch space(caller).slot(c.rdx) {
            case .success(let found): capability = found
            case .failure(let error): return error
            }
            guard c.r8 <= 0xFF else { return .invalidArgument }
            return task.pointee.capabilities.insert(capability.derived(rights: Rights(rawValue: UInt8(c.r8))), at: c.r10)
        case .readMapping:
            guard c.rdx < KernelAddressSpace.userSpaceEnd else { return .invalidAddress }
            let node = UserMemory.mapping(in: task, at: alignDown(c.rdx, 4096))
            caller.pointee.context.rdx = UInt64(node?.pointee.rights.rawValue ?? 0)
            return .ok
        }
    }

    /// Maps `pages` pages of the caller's memory at `source` into `task` at `destination`, with at most
    /// the rights the caller has (bit 0 write, bit 1 execute). Writable and executable at once only where
    /// the caller holds both (checkSource): guest RAM, which the root task hands a VMM this way and the VMM
    /// maps on into its VM — no more than a pager's map item could give.
    private static func mapPages(from owner: TaskPointer, to task: TaskPointer, source: UInt64, destination: UInt64,
                                 pages: UInt64, rights: UInt64) -> SyscallError {
        guard rights <= 3 else { return .invalidArgument }
        let write = rights & 1 != 0, execute = rights & 2 != 0
        guard pages > 0, pages <= 4096 else { return .invalidArgument }
        guard source & 0xFFF == 0, destination & 0xFFF == 0 else { return .unalignedAddress }
        let end = KernelAddressSpace.userMappableEnd
        guard source < end, destination < end, pages * 4096 <= end - source, pages * 4096 <= end - destination else {
            return .invalidAddress
        }
        // Check everything first, so a bad argument changes nothing. (If the task's factory runs out of
        // frames for page tables or mapping nodes midway, the pages mapped so far stay mapped.)
        var rights: PageRights = .read
        if write { rights.insert(.write) }
        if execute { rights.insert(.execute) }
        for page in 0..<pages {
            if let failure = UserMemory.checkSource(owner, at: source + page * 4096, rights: rights) { return failure.error }
            if AddressSpace.translate(in: task.pointee.pageTableRoot, destination + page * 4096) != nil { return .slotOccupied }
        }
        for page in 0..<pages {
            if let failure = UserMemory.map(from: owner, at: source + page * 4096, to: task, at: destination + page * 4096,
                                            rights: rights, replace: false) {
                return failure.error
            }
        }
        return .ok
    }

    // MARK: Interrupts and I/O ports

    private static func interruptControl(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        let interrupt: InterruptPointer
        switch space(thread).lookup(c.rdi, type: .interrupt, rights: .control) {
        case .success(let capability): interrupt = object(capability, as: Interrupt.self)
        case .failure(let error): return error
        }
        guard let operation = InterruptOperation(rawValue: c.rsi) else { return .invalidArgument }
        switch operation {
        case .bind:
            guard c.r10 <= Capability.maximumBadge else { return .invalidArgument }
            switch space(thread).lookup(c.rdx, type: .endpoint, rights: .receive) {
            case .success(let capability): Interrupts.bind(interrupt, to: object(capability, as: Endpoint.self), badge: c.r10)
            case .failure(let error): return error
            }
        case .acknowledge:
            guard interrupt.pointee.endpoint != nil else { return .invalidThreadState }
            Interrupts.acknowledge(interrupt)
        case .unbind:
            Interrupts.bind(interrupt, to: nil, badge: 0)
        }
        return .ok
    }

    /// RDI = task (control), RSI = operation, MR0 = first port, MR1 = count.
    private static func portControl(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        let task: TaskPointer
        switch space(thread).lookup(c.rdi, type: .task, rights: .control) {
        case .success(let capability): task = object(capability, as: Task.self)
        case .failure(let error): return error
        }
        guard let operation = PortOperation(rawValue: c.rsi) else { return .invalidArgument }
        switch operation {
        case .give: return IOPorts.give(from: thread.pointee.task!, to: task, first: c.rdx, count: c.r10)
        case .take: return IOPorts.take(from: task, first: c.rdx, count: c.r10)
        case .query:
            guard c.rdx < 65536 else { return .invalidArgument }
            thread.pointee.context.rdx = IOPorts.allowed(task, Int(c.rdx)) ? 1 : 0
            return .ok
        }
    }

    // MARK: Memory

    /// Revokes what the caller derived from its pages in the flexpage (and its own mappings with `unmapOwn`).
    private static func unmap(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        let page = Flexpage(raw: c.rdi)
        guard page.isValid else { return .invalidArgument }
        guard c.rsi & ~Syscall.unmapOwn == 0 else { return .invalidArgument }
        guard page.isUserRange else { return .invalidAddress }
        let task = thread.pointee.task!
        let removeAll = page.rights.contains(.read)
        let own = c.rsi & Syscall.unmapOwn != 0
        UserMemory.forEachMapping(in: task, from: page.base, to: page.end) { node in
            if removeAll {
                UserMemory.revoke(node, includingSelf: own)
            } else {
                UserMemory.restrict(node, removing: page.rights)
            }
        }
        return .ok
    }

    // MARK: Capability control

    private static func capabilityControl(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        let caps = space(thread)
        guard let operation = CapabilityOperation(rawValue: c.rsi) else { return .invalidArgument }
        if operation == .saveCaller {
            guard let caller = thread.pointee.caller else { return .noCaller }
            let error = caps.insert(Capability(type: .reply, object: UInt64(UInt(bitPattern: caller)), rights: .send,
                                               badge: caller.pointee.callCount & Capability.maximumBadge), at: c.rdi)
            guard error == .ok else { return error }
            IPC.saveCaller(thread)             // the caller stays waiting for a reply through the capability
            return .ok
        }
        let capability: Capability
        switch caps.slot(c.rdi) {
        case .success(let found): capability = found
        case .failure(let error): return error
        }
        switch operation {
        case .copy:
            guard c.r10 <= 0xFF else { return .invalidArgument }
            switch capability.copied(rights: Rights(rawValue: UInt8(c.r10)), badge: c.r8) {
            case .success(let copy): return caps.insert(copy, at: c.rdx)
            case .failure(let error): return error
            }
        case .delete:
            return caps.delete(c.rdi)
        case .destroy:
            return KernelObjects.destroy(capability, by: thread)
        case .saveCaller:
            return .invalidArgument
        case .identify:
            thread.pointee.context.rdx = UInt64(capability.type.rawValue)
            thread.pointee.context.r10 = UInt64(capability.rights.rawValue)
            thread.pointee.context.r8 = capability.badge
            thread.pointee.context.r9 = capability.type == .factory ? object(capability, as: Factory.self).pointee.framesLeft
                : capability.type == .machine ? KernelMemory.freeFrames : 0
            return .ok
        }
    }

    // MARK: Machine

    private static func machineControl(_ thread: ThreadPointer) -> SyscallError? {
        let c = thread.pointee.context
        switch space(thread).lookup(c.rdi, type: .machine, rights: .control) {
        case .success: break
        case .failure(let error): return error
        }
        guard let operation = MachineOperation(rawValue: c.rsi) else { return .invalidArgument }
        switch operation {
        case .powerOff:
            guard let reason = PowerOffReason(rawValue: c.rdx), c.r10 <= 0xFF else { return .invalidArgument }
            Power.off(reason, guestStatus: UInt8(c.r10))
        case .nameTask: return TaskConsole.name(thread)
        }
    }
}
