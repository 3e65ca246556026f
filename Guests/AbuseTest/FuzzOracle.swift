import SwiftletABI
import SwiftletUser
import UserPlatform

/// The answers a call may get: one code when the model knows it, several when the kernel may answer
/// either for a stated reason (a quota known to within a frame, an object the model does not follow).
struct Allowed {
    var mask: UInt32
    /// Why more than one answer is right ("" when exactly one is).
    var reason: StaticString = ""

    static func only(_ error: SyscallError) -> Allowed { Allowed(mask: 1 << UInt32(error.rawValue)) }
    static func either(_ a: SyscallError, _ b: SyscallError, _ reason: StaticString) -> Allowed {
        Allowed(mask: 1 << UInt32(a.rawValue) | 1 << UInt32(b.rawValue), reason: reason)
    }
    func contains(_ code: UInt64) -> Bool { code < 32 && mask & (1 << UInt32(code)) != 0 }
    var isExact: Bool { mask.nonzeroBitCount == 1 }
    var first: SyscallError { SyscallError(rawValue: UInt64(mask.trailingZeroBitCount)) ?? .ok }
}

/// One raw system call's registers.
struct RawCall {
    var number: UInt64 = 0, rdi: UInt64 = 0, rsi: UInt64 = 0, rdx: UInt64 = 0
    var r10: UInt64 = 0, r8: UInt64 = 0, r9: UInt64 = 0, r12: UInt64 = 0
}

func perform(_ c: RawCall) -> SyscallRegisters {
    var registers = SyscallRegisters(rax: c.number, rdi: c.rdi, rsi: c.rsi, rdx: c.rdx, r10: c.r10, r8: c.r8, r9: c.r9, r12: c.r12)
    swiftlet_syscall(&registers)
    return registers
}

/// A second finding about one call, besides its result code (a wrong output register, a message the
/// partner got wrong, a mapping that is not what the model says).
struct Mismatch {
    var what: StaticString
    var expected: UInt64
    var got: UInt64
    var at: UInt64 = 0
}

extension FuzzWorld {
    /// Runs `c`, checks the answer against the model and updates the model from it.
    mutating func run(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        switch c.number {
        case Syscall.call.rawValue, Syscall.send.rawValue: return ipcSend(c, &context)
        case Syscall.replyWait.rawValue, Syscall.wait.rawValue:
            let allowed = receive(c)
            return (perform(c).rax, allowed)
        case Syscall.reply.rawValue:
            var allowed = Allowed.only(.noCaller)
            if !MessageTag(raw: c.rsi).isValid {
                allowed = .only(.messageTooLong)
            } else if c.rdi != 0 {
                // The fuzzer never holds a reply capability (it never receives a call).
                if case .failure(let error) = lookup(c.rdi, .reply, .send) { allowed = .only(error) }
            }
            return (perform(c).rax, allowed)
        case Syscall.yield.rawValue: return (perform(c).rax, .only(.ok))
        case Syscall.debugWrite.rawValue:
            let length = c.rsi & ~Syscall.debugWriteContinues
            return (perform(c).rax, .only(length <= UInt64(Syscall.debugWriteChunk) ? .ok : .messageTooLong))
        case Syscall.create.rawValue: return create(c, &context)
        case Syscall.threadControl.rawValue: return threadControl(c, &context)
        case Syscall.taskControl.rawValue: return taskControl(c, &context)
        case Syscall.capabilityControl.rawValue: return capabilityControl(c, &context)
        case Syscall.machineControl.rawValue:
            let allowed: Allowed
            switch lookup(c.rdi, .machine, .control) {
            case .failure(let error): allowed = .only(error)
            case .success: allowed = .only(.invalidArgument)     // sanitize never lets a power-off through
            }
            return (perform(c).rax, allowed)
        case Syscall.unmap.rawValue: return unmap(c, &context)
        case Syscall.interruptControl.rawValue:
            return (perform(c).rax, lookupOnly(c.rdi, .interrupt, .control, else: .invalidArgument))
        case Syscall.portControl.rawValue: return portControl(c, &context)
        case Syscall.memoryControl.rawValue:
            return (perform(c).rax, lookupOnly(c.rdi, .physicalMemory, .control, else: .invalidArgument))
        default: return (perform(c).rax, .only(.unknownSyscall))
        }
    }

    /// A call whose first check is a lookup the model always fails (the fuzzer holds no such capability).
    func lookupOnly(_ selector: UInt64, _ type: ObjectType, _ rights: Rights, else fallback: SyscallError) -> Allowed {
        if case .failure(let error) = lookup(selector, type, rights) { return .only(error) }
        return .only(fallback)
    }

    func timeoutError(_ raw: UInt64) -> SyscallError? {
        Timeout(raw: raw).isValid ? nil : .invalidTimeout
    }

    // MARK: IPC

    func receive(_ c: RawCall) -> Allowed {
        if case .failure(let error) = lookup(c.rdi, .endpoint, .receive) { return .only(error) }
        if c.number == Syscall.replyWait.rawValue, !MessageTag(raw: c.rsi).isValid { return .only(.messageTooLong) }
        if let error = timeoutError(c.r12) { return .only(error) }
        // Nobody ever sends to an endpoint the fuzzer can receive on (every send it makes has timeout zero).
        return .only(.timeout)
    }

    mutating func ipcSend(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        let capability: SlotModel
        switch lookup(c.rdi, .endpoint, .send) {
        case .success(let found): capability = found
        case .failure(let error): return (perform(c).rax, .only(error))
        }
        let tag = MessageTag(raw: c.rsi)
        guard tag.isValid else { return (perform(c).rax, .only(.messageTooLong)) }
        if let error = timeoutError(c.r12) { return (perform(c).rax, .only(error)) }
        let isCall = c.number == Syscall.call.rawValue
        let endpoint = capability.object
        if endpoint == FuzzWorld.partnerEndpoint {
            return partnerExchange(c, capability: capability, isCall: isCall, &context)
        }
        if endpoint != SlotModel.unknown && waitingWorkers(on: endpoint) > 0 {
            let registers = perform(c)
            // The worker that took it answers a call with an empty message; every worker waits again after.
            if isCall && registers.rax == 0 && (registers.rsi != 0 || registers.rdx != 0) {
                context.mismatch(Mismatch(what: "worker reply tag", expected: 0, got: registers.rsi))
            }
            context.settle(&self)
            return (registers.rax, .only(.ok))
        }
        return (perform(c).rax, .only(.timeout))
    }

    // MARK: create

    mutating func create(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        let factorySlot: SlotModel
        switch lookup(c.rdi, .factory, .control) {
        case .success(let found): factorySlot = found
        case .failure(let error): return (perform(c).rax, .only(error))
        }
        guard c.rsi <= 0xFF, let type = ObjectType(rawValue: UInt8(c.rsi)) else { return (perform(c).rax, .only(.invalidArgument)) }
        let insert = canInsert(c.rdx)
        guard insert == .ok else { return (perform(c).rax, .only(insert)) }
        var cost: UInt64 = 0
        var newTask = TaskModel()
        var newThread = ThreadModel()
        var utcbPage: Int? = nil
        switch type {
        case .task: cost = 4
        case .endpoint: cost = 1
        case .factory:
            let (total, overflow) = c.r10.addingReportingOverflow(1)
            cost = overflow ? UInt64.max : total
        case .thread:
            let taskSlot: SlotModel
            switch lookup(c.r10, .task, .control) {
            case .success(let found): taskSlot = found
            case .failure(let error): return (perform(c).rax, .only(error))
            }
            if taskSlot.object != SlotModel.unknown && tasks[Int(taskSlot.object)].vm { return (perform(c).rax, .only(.wrongObjectType)) }
            if c.r8 > 255 { return (perform(c).rax, .only(.invalidArgument)) }
            if c.r8 > UInt64(fuzzerPriority) { return (perform(c).rax, .only(.priorityTooHigh)) }
            if c.r9 >= userSpaceEnd { return (perform(c).rax, .only(.invalidAddress)) }
            if c.r9 & 0xFFF != 0 { return (perform(c).rax, .only(.unalignedAddress)) }
            guard let page = page(taskSlot.object, c.r9) else {
                // An address the model does not follow: the generator only names it in tasks it does not model.
                let registers = perform(c)
                if registers.rax == 0 {
                    set(c.rdx, .thread, [.control, .destroy], object: SlotModel.unknown)
                    chargeMade(factorySlot.object, cost: 1, followed: false)
                }
                // Not followed: a VM's task (wrong type) among them.
                return (registers.rax, Allowed(mask: 1 << 0 | 1 << 4 | 1 << 6 | 1 << 11 | 1 << 12,
                                               reason: "UTCB in a task the model does not follow"))
            }
            // A floating page's rights are the kernel's word from the last look, which a revocation the model
            // could not see may have changed since: ask again before judging.
            if isFloating(page) { context.compare(&self, page, silent: true) }
            guard pages[page].mapped && pages[page].rights & 2 != 0 else { return (perform(c).rax, .only(.invalidAddress)) }
            utcbPage = page
            cost = 1
            newThread.priority = UInt8(c.r8)
            newThread.task = taskSlot.object
            newThread.utcbPage = Int16(page)
        case .interrupt:
            if case .failure(let error) = lookup(c.r10, .interruptController, .control) { return (perform(c).rax, .only(error)) }
            return (perform(c).rax, .only(.invalidArgument))
        case .virtualMachine:
            guard virtualization else { return (perform(c).rax, .only(.notSupported)) }
            cost = 4
            newTask.vm = true
        case .virtualCPU:
            let taskSlot: SlotModel
            switch lookup(c.r10, .task, .control) {
            case .success(let found): taskSlot = found
            case .failure(let error): return (perform(c).rax, .only(error))
            }
            if c.r8 > 255 { return (perform(c).rax, .only(.invalidArgument)) }
            if c.r8 > UInt64(fuzzerPriority) { return (perform(c).rax, .only(.priorityTooHigh)) }
            guard virtualization else { return (perform(c).rax, .only(.notSupported)) }
            guard taskSlot.object != SlotModel.unknown else {
                // A task the model does not follow: a VM or not, from a factory with quota or not.
                let registers = perform(c)
                if registers.rax == 0 {
                    set(c.rdx, .thread, [.control, .destroy], object: SlotModel.unknown)
                    chargeMade(factorySlot.object, cost: 3, followed: false)
                }
                return (registers.rax, Allowed(mask: 1 << 0 | 1 << 4 | 1 << 11, reason: "a task the model does not follow"))
            }
            guard tasks[Int(taskSlot.object)].vm else { return (perform(c).rax, .only(.wrongObjectType)) }
            cost = 3
            newThread.vcpu = true
            newThread.priority = UInt8(c.r8)
            newThread.task = taskSlot.object
        case .empty, .machine, .interruptController, .reply, .physicalMemory:
            return (perform(c).rax, .only(.invalidArgument))
        }
        // The quota: exact for the factories the model follows.
        var allowed = Allowed.either(.ok, .quotaExceeded, "quota of a factory the model does not follow")
        let factory = factorySlot.object
        if factory != SlotModel.unknown && factories[Int(factory)].exact {
            let model = factories[Int(factory)]
            let (need, overflow) = model.used.addingReportingOverflow(cost)
            allowed = .only(overflow || need > model.budget ? .quotaExceeded : .ok)
        }
        // A thread's UTCB is pinned once the thread is made: the page of one that may still run is taken
        // (the new thread is given back, quota and all); a stopped or inactive one loses its page.
        var stolenFrom: Int? = nil
        if let utcbPage, allowed.mask & 1 != 0, pages[utcbPage].pinned {
            if let holder = pinHolder(utcbPage) {
                let state = threads[holder].state
                if state == ThreadStateCode.stopped.rawValue || state == ThreadStateCode.inactive.rawValue {
                    stolenFrom = holder
                } else {
                    allowed = allowed.isExact ? .only(.slotOccupied) : .either(.slotOccupied, .quotaExceeded, "quota of a factory the model does not follow")
                }
            } else {
                allowed.mask |= 1 << 12
                allowed.reason = "a UTCB pinned by a thread the model does not follow"
            }
        }
        let registers = perform(c)
        guard registers.rax == 0 else { return (registers.rax, allowed) }
        if stolenFrom != nil, let utcbPage { releasePin(utcbPage) }
        if factory != SlotModel.unknown && factories[Int(factory)].exact { factories[Int(factory)].spent &+= cost }
        var object = SlotModel.unknown
        var rights: Rights = [.control, .destroy]
        switch type {
        case .task, .virtualMachine:
            newTask.factory = factory != SlotModel.unknown && factories[Int(factory)].exact ? factory : SlotModel.unknown
            newTask.maker = factory
            newTask.fuzzMade = true
            newTask.spaceKnown = true
            // A modeled child keeps a copy in a protected slot, so its pages can be read back.
            let region = freeRegions != 0 ? freeRegions.trailingZeroBitCount : regionsUsed
            if !newTask.vm && region < PageIndex.children,
               SystemCall.capability(c.rdx, .copy, (Slot.childCopies + UInt64(region), allRights, 0, 0)).succeeded {
                newTask.region = Int8(region)
                if region == regionsUsed { regionsUsed += 1 } else { freeRegions &= ~(1 << UInt8(region)) }
            }
            object = addTask(newTask)
        case .endpoint:
            object = addEndpoint(EndpointModel(fuzzMade: true, maker: factory))
            rights = [.send, .receive, .grant, .destroy]
        case .factory:
            object = addFactory(FactoryModel(fuzzMade: true, maker: factory, exact: true, budget: c.r10))
        case .thread, .virtualCPU:
            newThread.maker = factory
            newThread.fuzzMade = true
            object = addThread(newThread)
            if let utcbPage {
                pages[utcbPage].pinned = true
            }
        default:
            break
        }
        // More objects than the model's tables hold: this one is not followed.
        if object == SlotModel.unknown { chargeMade(factory, cost: 0, followed: false) }
        set(c.rdx, type == .virtualMachine ? .task : type == .virtualCPU ? .thread : type, rights, object: object)
        return (registers.rax, allowed)
    }

    /// An object was made from `factory`: its quota counts the frames; one the model does not follow
    /// keeps the factory from being destroyed (`destroyable`).
    mutating func chargeMade(_ factory: UInt8, cost: UInt64, followed: Bool) {
        guard factory != SlotModel.unknown else { return }
        if factories[Int(factory)].exact { factories[Int(factory)].spent &+= cost }
        if !followed { factories[Int(factory)].lostTrack = true }
    }

    // MARK: threadControl

    mutating func threadControl(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        let capability: SlotModel
        switch lookup(c.rdi, .thread, .control) {
        case .success(let found): capability = found
        case .failure(let error): return (perform(c).rax, .only(error))
        }
        guard let operation = ThreadOperation(rawValue: c.rsi) else { return (perform(c).rax, .only(.invalidArgument)) }
        guard capability.object != SlotModel.unknown else {
            let registers = perform(c)
            return (registers.rax, Allowed(mask: 1 << 0 | 1 << 6 | 1 << 9 | 1 << 15 | 1 << 17 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5,
                                           reason: "a thread the model does not follow"))
        }
        let index = Int(capability.object)
        let thread = threads[index]
        let state = thread.state
        let idle = state == ThreadStateCode.inactive.rawValue || state == ThreadStateCode.stopped.rawValue
        switch operation {
        case .setEntry:
            if thread.vcpu { return (perform(c).rax, .only(.invalidArgument)) }
            if !idle { return (perform(c).rax, .only(.invalidThreadState)) }
            if c.rdx >= userSpaceEnd || c.r10 >= userSpaceEnd { return (perform(c).rax, .only(.invalidAddress)) }
            let registers = perform(c)
            if registers.rax == 0 {
                threads[index].hasEntry = c.rdx != 0
                threads[index].runs = c.rdx == user_thread_trampoline() && context.plannedWorker == index
                if threads[index].runs { threads[index].serves = context.plannedServes }
            }
            return (registers.rax, .only(.ok))
        case .setPriority:
            if c.rdx > 255 { return (perform(c).rax, .only(.invalidArgument)) }
            if c.rdx > UInt64(fuzzerPriority) { return (perform(c).rax, .only(.priorityTooHigh)) }
            let registers = perform(c)
            if registers.rax == 0 { threads[index].priority = UInt8(c.rdx) }
            return (registers.rax, .only(.ok))
        case .setExceptionHandler, .setPager:
            var allowed = Allowed.only(.ok)
            if c.rdx != 0, case .failure(let error) = lookup(c.rdx, .endpoint, .send) { allowed = .only(error) }
            return (perform(c).rax, allowed)
        case .start:
            if !idle || !thread.hasEntry { return (perform(c).rax, .only(.invalidThreadState)) }
            let registers = perform(c)
            if registers.rax == 0 {
                threads[index].state = ThreadStateCode.ready.rawValue
                threads[index].ran = true
                if thread.runs { context.settle(&self) }
            }
            return (registers.rax, .only(.ok))
        case .stop:
            if idle { return (perform(c).rax, .only(.invalidThreadState)) }
            let registers = perform(c)
            if registers.rax == 0 { threads[index].state = ThreadStateCode.stopped.rawValue }
            return (registers.rax, .only(.ok))
        case .readState:
            let registers = perform(c)
            if registers.rax == 0 && registers.rdx != state {
                context.mismatch(Mismatch(what: "readState: thread state", expected: state, got: registers.rdx))
            }
            return (registers.rax, .only(.ok))
        case .setExitMask:
            if !thread.vcpu { return (perform(c).rax, .only(.invalidArgument)) }
            return (perform(c).rax, .either(.ok, .invalidArgument, "exit masks the model does not check"))
        case .recall:
            // Any vCPU in any state (inactive, stopped, waiting for its VMM): the recall is only recorded.
            return (perform(c).rax, .only(thread.vcpu ? .ok : .invalidArgument))
        }
    }

    // MARK: taskControl

    mutating func taskControl(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        let capability: SlotModel
        switch lookup(c.rdi, .task, .control) {
        case .success(let found): capability = found
        case .failure(let error): return (perform(c).rax, .only(error))
        }
        guard let operation = TaskOperation(rawValue: c.rsi) else { return (perform(c).rax, .only(.invalidArgument)) }
        let task = capability.object
        switch operation {
        case .mapPages: return mapPages(c, task: task, &context)
        case .copyCapability:
            let source: SlotModel
            switch slot(c.rdx) {
            case .success(let found): source = found
            case .failure(let error): return (perform(c).rax, .only(error))
            }
            if c.r8 > 0xFF { return (perform(c).rax, .only(.invalidArgument)) }
            if c.r10 >= 256 || c.r10 == 0 { return (perform(c).rax, .only(.selectorOutOfRange)) }
            if task == SlotModel.unknown || !(tasks[Int(task)].own || tasks[Int(task)].spaceKnown) {
                return (perform(c).rax, .either(.ok, .slotOccupied, "a capability space the model does not follow"))
            }
            if tasks[Int(task)].own {
                let allowed = Allowed.only(canInsert(c.r10))
                let registers = perform(c)
                if registers.rax == 0 {
                    var copy = source
                    copy.rights &= UInt8(c.r8)
                    slots[Int(c.r10)] = copy
                }
                return (registers.rax, allowed)
            }
            let allowed = Allowed.only(tasks[Int(task)].isOccupied(c.r10) ? .slotOccupied : .ok)
            let registers = perform(c)
            if registers.rax == 0 {
                tasks[Int(task)].occupy(c.r10)
                spaceEntries[Int(task) * 256 + Int(c.r10)] = UInt16(source.type) << 8 | UInt16(source.object)
            }
            return (registers.rax, allowed)
        case .readMapping:
            if c.rdx >= userSpaceEnd { return (perform(c).rax, .only(.invalidAddress)) }
            let registers = perform(c)
            if registers.rax == 0, let page = page(task, c.rdx) {
                let rights = pages[page].mapped ? UInt64(pages[page].rights) : 0
                if registers.rdx != rights {
                    if !isFloating(page) {
                        context.mismatch(Mismatch(what: "readMapping: page rights", expected: rights, got: registers.rdx, at: c.rdx))
                    }
                    takeKernelWord(page, rights: registers.rdx)
                }
            }
            return (registers.rax, .only(.ok))
        }
    }

    /// mapPages: rights, count, alignment, range, then every page's source and destination, then the quota.
    mutating func mapPages(_ c: RawCall, task: UInt8, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        if c.r9 > 3 { return (perform(c).rax, .only(.invalidArgument)) }
        if c.r8 == 0 || c.r8 > 4096 { return (perform(c).rax, .only(.invalidArgument)) }
        if c.rdx & 0xFFF != 0 || c.r10 & 0xFFF != 0 { return (perform(c).rax, .only(.unalignedAddress)) }
        let end = userSpaceEnd - 4096
        if c.rdx >= end || c.r10 >= end || c.r8 * 4096 > end - c.rdx || c.r8 * 4096 > end - c.r10 {
            return (perform(c).rax, .only(.invalidAddress))
        }
        var wanted: UInt8 = 1
        if c.r9 & 1 != 0 { wanted |= 2 }
        if c.r9 & 2 != 0 { wanted |= 4 }
        let known = task != SlotModel.unknown && (tasks[Int(task)].own || tasks[Int(task)].region >= 0)
        var allowed = Allowed.only(.ok)
        // The kernel checks page by page, source then destination; a destination the model does not follow
        // may already be occupied (then that is the answer), so from there on slotOccupied is right too.
        var unknownDestination = false
        let occupiedMaybe: UInt32 = 1 << 12
        for offset in 0..<c.r8 {
            let sourceAddress = c.rdx + offset * 4096
            if PageIndex.knownUnmapped(sourceAddress) { return (perform(c).rax, .only(.invalidAddress)) }
            guard let source = PageIndex.own(sourceAddress), !isFloating(source) else {
                // A source the model has only the kernel's word on: the charges of a whole success into free
                // destinations are still exact (a node a page, the region's missing tables).
                let charges = known && !tasks[Int(task)].own && destinationsFree(c, task) ? simulateCharges(task, c.r8) : nil
                let registers = perform(c)
                if let charges {
                    if registers.rax == 0 && !charges.ranOut {
                        factories[Int(tasks[Int(task)].factory)] = charges.model
                        tasks[Int(task)].tables = charges.tables
                        for offset in 0..<c.r8 {
                            pages[page(task, c.r10 + offset * 4096)!] = PageModel(mapped: true, rights: wanted, parent: -1, floating: true)
                        }
                    } else if registers.rax == SyscallError.quotaExceeded.rawValue {
                        forgetQuota(of: task)
                        for offset in 0..<c.r8 { context.compare(&self, page(task, c.r10 + offset * 4096)!, silent: true) }
                    }
                    return (registers.rax, Allowed(mask: 1 << 6 | 1 << UInt32(charges.ranOut ? 11 : 0),
                                                   reason: "a source page the model has only the kernel's word on"))
                }
                if registers.rax == 0 || registers.rax == SyscallError.quotaExceeded.rawValue {
                    forgetQuota(of: task)
                    // Pages from beyond the model: what is mapped now is the kernel's word (floating).
                    if known {
                        for offset in 0..<c.r8 {
                            if let destination = page(task, c.r10 + offset * 4096) { context.compare(&self, destination, silent: true) }
                        }
                    }
                }
                return (registers.rax, Allowed(mask: 1 << 0 | 1 << 6 | occupiedMaybe | 1 << 11, reason: "a source page the model does not follow"))
            }
            if !pages[source].mapped || pages[source].rights & wanted != wanted {
                let registers = perform(c)
                return (registers.rax, Allowed(mask: 1 << 6 | (unknownDestination || !known ? occupiedMaybe : 0),
                                               reason: "a destination page the model does not follow"))
            }
            guard known else { continue }
            guard let destination = page(task, c.r10 + offset * 4096), !isFloating(destination) else {
                unknownDestination = true
                continue
            }
            if pages[destination].mapped {
                return (perform(c).rax, Allowed(mask: occupiedMaybe, reason: ""))
            }
        }
        if !known || unknownDestination {
            let registers = perform(c)
            // Page tables and nodes the model does not see were charged (the checks come before any charge).
            if registers.rax == 0 || registers.rax == SyscallError.quotaExceeded.rawValue { forgetQuota(of: task) }
            if known && registers.rax != SyscallError.invalidAddress.rawValue {
                for offset in 0..<c.r8 {
                    if let destination = page(task, c.r10 + offset * 4096) { context.compare(&self, destination, silent: true) }
                }
            }
            return (registers.rax, Allowed(mask: 1 << 0 | 1 << 11 | 1 << 12, reason: "a page or task the model does not follow"))
        }
        // The kernel maps page by page: a node (a new frame when the last one's nodes are used up), then the
        // child region's missing page-table levels (first page only: the region lies in one page table).
        // A charge that fails ends the call with what was mapped so far; a node whose tables failed goes back.
        let factory = tasks[Int(task)].factory
        let own = tasks[Int(task)].own
        let charges = simulateCharges(task, c.r8)
        let exact = charges != nil
        let model = charges?.model ?? FactoryModel()
        let tables = charges?.tables ?? 0
        let mapped = charges?.mapped ?? 0
        if let charges {
            allowed = .only(charges.ranOut ? .quotaExceeded : .ok)
        } else if !own {
            allowed = .either(.ok, .quotaExceeded, "quota of a factory the model does not follow")
        }
        let registers = perform(c)
        if !allowed.contains(registers.rax), exact {
            let before = factories[Int(factory)]
            context.mismatch(Mismatch(what: "mapPages quota: budget, frames the model counts (objects and tables | nodes << 32)",
                                      expected: before.budget, got: before.spent | before.nodes << 32))
        }
        if exact && allowed.contains(registers.rax) {
            factories[Int(factory)] = model
            tasks[Int(task)].tables = tables
            for offset in 0..<mapped {
                let source = PageIndex.own(c.rdx + offset * 4096)!
                let destination = page(task, c.r10 + offset * 4096)!
                pages[destination] = PageModel(mapped: true, rights: wanted, parent: Int16(source))
            }
        } else if registers.rax == 0 {
            if !own { forgetQuota(of: task) }
            for offset in 0..<c.r8 {
                let source = PageIndex.own(c.rdx + offset * 4096)!
                let destination = page(task, c.r10 + offset * 4096)!
                pages[destination] = PageModel(mapped: true, rights: wanted, parent: Int16(source))
            }
        } else if registers.rax == SyscallError.quotaExceeded.rawValue {
            // What got mapped before the quota ran out: read back; the quota is no longer known.
            if !own { forgetQuota(of: task) }
            for offset in 0..<c.r8 {
                let destination = page(task, c.r10 + offset * 4096)!
                let source = PageIndex.own(c.rdx + offset * 4096)!
                if context.readRights(c.rdi, c.r10 + offset * 4096) != 0 && !pages[destination].mapped {
                    pages[destination] = PageModel(mapped: true, rights: wanted, parent: Int16(source))
                }
            }
        }
        return (registers.rax, allowed)
    }

    /// Every destination page of a mapPages into `task` is one the model follows, free and not floating.
    func destinationsFree(_ c: RawCall, _ task: UInt8) -> Bool {
        for offset in 0..<c.r8 {
            guard let destination = page(task, c.r10 + offset * 4096), !pages[destination].mapped, !isFloating(destination) else { return false }
        }
        return true
    }

    /// What mapping `count` pages into `task`'s region charges its factory, page by page as the kernel
    /// does (a node, then the missing table levels); nil if the model does not follow that factory.
    func simulateCharges(_ task: UInt8, _ count: UInt64) -> (model: FactoryModel, tables: UInt8, mapped: UInt64, ranOut: Bool)? {
        let factory = tasks[Int(task)].factory
        guard !tasks[Int(task)].own, factory != SlotModel.unknown, factories[Int(factory)].exact else { return nil }
        var model = factories[Int(factory)]
        var tables = tasks[Int(task)].tables
        var mapped: UInt64 = 0
        var ranOut = false
        while mapped < count && !ranOut {
            if model.nodeNeedsFrame && model.framesLeft < 1 { ranOut = true; break }
            model.nodes &+= 1
            while tables < 3 {
                if model.framesLeft < 1 { ranOut = true; break }
                model.spent &+= 1
                tables += 1
            }
            if ranOut { model.nodes &-= 1; break }
            mapped += 1
        }
        return (model, tables, mapped, ranOut)
    }

    /// Mappings the model cannot count were charged to `task`'s factory: the model stops claiming its quota.
    mutating func forgetQuota(of task: UInt8) {
        guard task != SlotModel.unknown, !tasks[Int(task)].own else { return }
        let factory = tasks[Int(task)].factory
        if factory != SlotModel.unknown { factories[Int(factory)].exact = false }
    }

    // MARK: capabilityControl

    mutating func capabilityControl(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        guard let operation = CapabilityOperation(rawValue: c.rsi) else { return (perform(c).rax, .only(.invalidArgument)) }
        if operation == .saveCaller { return (perform(c).rax, .only(.noCaller)) }
        let source: SlotModel
        switch slot(c.rdi) {
        case .success(let found): source = found
        case .failure(let error): return (perform(c).rax, .only(error))
        }
        switch operation {
        case .copy:
            if c.r10 > 0xFF || c.r8 > (1 << 48) - 1 { return (perform(c).rax, .only(.invalidArgument)) }
            if c.r8 != 0 && source.type != ObjectType.endpoint.rawValue { return (perform(c).rax, .only(.invalidArgument)) }
            // A badged capability takes no other badge (seL4's rule: no posing as another sender).
            if c.r8 != 0 && source.badge != 0 { return (perform(c).rax, .only(.missingRight)) }
            let allowed = Allowed.only(canInsert(c.rdx))
            let registers = perform(c)
            if registers.rax == 0 {
                var copy = source
                copy.rights &= UInt8(c.r10)
                if c.r8 != 0 { copy.badge = c.r8 }
                slots[Int(c.rdx)] = copy
            }
            return (registers.rax, allowed)
        case .delete:
            let registers = perform(c)
            if registers.rax == 0 { slots[Int(c.rdi)] = SlotModel() }
            return (registers.rax, .only(.ok))
        case .identify:
            let registers = perform(c)
            if registers.rax == 0 {
                let expected = UInt64(source.type) | UInt64(source.rights) << 8
                let got = registers.rdx | registers.r10 << 8
                if got != expected || registers.r8 != source.badge {
                    context.mismatch(Mismatch(what: "identify: type | rights << 8", expected: expected, got: got))
                }
                // A factory's frames left (MR3): the model's quota arithmetic, checked against the kernel's.
                if source.type == ObjectType.factory.rawValue, source.object != SlotModel.unknown, factories[Int(source.object)].exact {
                    let model = factories[Int(source.object)]
                    if registers.r9 != model.framesLeft {
                        context.mismatch(Mismatch(what: "identify: factory frames left (budget | spent << 16 | nodes << 32)",
                                                  expected: model.framesLeft, got: registers.r9,
                                                  at: model.budget | model.spent << 16 | model.nodes << 32))
                    }
                } else if source.type != ObjectType.factory.rawValue && registers.r9 != 0 {
                    context.mismatch(Mismatch(what: "identify: MR3 of a capability that is no factory", expected: 0, got: registers.r9))
                }
            }
            return (registers.rax, .only(.ok))
        case .saveCaller:
            return (perform(c).rax, .only(.noCaller))
        case .destroy:
            // sanitize lets destroy with the right through only for what the model may destroy (FuzzDestroy.swift).
            guard Rights(rawValue: source.rights).contains(.destroy) else { return (perform(c).rax, .only(.missingRight)) }
            // Counted before the call: a woken worker may run as soon as the call returns.
            let abortsBefore = workerAborts
            let registers = perform(c)
            if registers.rax == 0 { destroyed(source, abortsBefore: abortsBefore, &context) }
            return (registers.rax, .only(.ok))
        }
    }

    // MARK: unmap

    mutating func unmap(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        let page = Flexpage(raw: c.rdi)
        guard page.isValid, c.rsi & ~Syscall.unmapOwn == 0 else { return (perform(c).rax, .only(.invalidArgument)) }
        guard page.base < userSpaceEnd, page.size <= userSpaceEnd - page.base else { return (perform(c).rax, .only(.invalidAddress)) }
        let registers = perform(c)
        guard registers.rax == 0 else { return (registers.rax, .only(.ok)) }
        let own = c.rsi & Syscall.unmapOwn != 0
        let rights = page.rights.rawValue
        for index in 0..<PageIndex.ownCount {
            let address = PageIndex.ownAddress(index)
            guard address >= page.base, address - page.base < page.size, pages[index].mapped else { continue }
            if rights & 1 != 0 {
                revoke(index, includingSelf: own)
            } else {
                restrict(index, removing: rights)
            }
        }
        context.refloatChildren(&self)
        return (registers.rax, .only(.ok))
    }

    // MARK: portControl

    mutating func portControl(_ c: RawCall, _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        if case .failure(let error) = lookup(c.rdi, .task, .control) { return (perform(c).rax, .only(error)) }
        guard let operation = PortOperation(rawValue: c.rsi) else { return (perform(c).rax, .only(.invalidArgument)) }
        let range = c.r10 > 0 && c.rdx < 65536 && c.r10 <= 65536 - c.rdx
        switch operation {
        case .give:
            // The fuzzer's task holds no ports: whatever it gives, it lacks.
            return (perform(c).rax, .only(range ? .missingRight : .invalidArgument))
        case .take:
            return (perform(c).rax, .only(range ? .ok : .invalidArgument))
        case .query:
            guard c.rdx < 65536 else { return (perform(c).rax, .only(.invalidArgument)) }
            let registers = perform(c)
            if registers.rax == 0 && registers.rdx != 0 { context.mismatch(Mismatch(what: "port query: allowed", expected: 0, got: registers.rdx)) }
            return (registers.rax, .only(.ok))
        }
    }
}
