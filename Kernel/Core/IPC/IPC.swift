import SwiftletABI

/// The IPC semantics (the general path): send, call, wait, reply and reply-wait between threads on
/// endpoints, with message transfer, capability transfer and timeouts. The syscall layer has already
/// checked every argument; these functions only move threads between states.
///
/// Call semantics: the timeout bounds the send phase; the reply phase waits without limit (the server
/// answers or is stopped, which aborts the call).
public enum IPC {
    /// `sender` (current) sends `tag` through `endpoint` with `badge`; `call` waits for the reply.
    public static func send(_ sender: ThreadPointer, to endpoint: EndpointPointer, badge: UInt64, call: Bool,
                            canGrant: Bool, timeout: Timeout, scheduler: inout Scheduler) {
        if let receiver = endpoint.pointee.receivers.dequeue() {
            receiver.pointee.queuedOn = nil
            deliver(from: sender, to: receiver, badge: badge, canGrant: canGrant)
            sender.pointee.context.rax = SyscallError.ok.rawValue
            if call {
                sender.pointee.state = .waitingForReply
                sender.pointee.callCount &+= 1
                sender.pointee.callee = receiver
                receiver.pointee.caller = sender
                scheduler.switchDirectly(to: receiver)
            } else {
                scheduler.wake(receiver)
            }
            return
        }
        guard !timeout.isZero else {
            sender.pointee.context.rax = SyscallError.timeout.rawValue
            return
        }
        sender.pointee.state = .sending(call: call)
        sender.pointee.sendBadge = badge
        sender.pointee.sendCanGrant = canGrant
        sender.pointee.queuedOn = endpoint
        endpoint.pointee.senders.enqueue(sender)
        scheduler.armTimeout(sender, timeout)
        scheduler.currentBlocked()
    }

    /// `thread` (current) faulted in user mode: its exception handler gets the fault as a call on the
    /// thread's behalf, and the thread waits, `.faulted`, for the reply.
    public static func sendFault(_ thread: ThreadPointer, to endpoint: EndpointPointer, badge: UInt64,
                                 toPager: Bool = false, scheduler: inout Scheduler) {
        thread.pointee.state = .faulted
        thread.pointee.faultToPager = toPager
        thread.pointee.callCount &+= 1     // a new call: replies saved for earlier ones do not answer it
        if let handler = endpoint.pointee.receivers.dequeue() {
            handler.pointee.queuedOn = nil
            deliver(from: thread, to: handler, badge: badge, canGrant: false)
            thread.pointee.callee = handler
            handler.pointee.caller = thread
            scheduler.switchDirectly(to: handler)
            return
        }
        thread.pointee.sendBadge = badge
        thread.pointee.sendCanGrant = false
        thread.pointee.queuedOn = endpoint
        endpoint.pointee.senders.enqueue(thread)
        scheduler.currentBlocked()
    }

    /// An interrupt fired for `interrupt`: a message to a thread waiting on its endpoint, or pending until
    /// one waits there. (The line stays masked until the driver acknowledges it.)
    public static func signal(_ interrupt: InterruptPointer, scheduler: inout Scheduler) {
        guard let endpoint = interrupt.pointee.endpoint, !interrupt.pointee.pending else { return }
        if let receiver = endpoint.pointee.receivers.dequeue() {
            receiver.pointee.queuedOn = nil
            deliverInterrupt(interrupt, to: receiver)
            scheduler.wake(receiver)
        } else {
            interrupt.pointee.pending = true
            endpoint.pointee.appendPending(interrupt)
        }
    }

    static func deliverInterrupt(_ interrupt: InterruptPointer, to receiver: ThreadPointer) {
        receiver.pointee.context.rax = SyscallError.ok.rawValue
        receiver.pointee.context.rdi = interrupt.pointee.badge
        receiver.pointee.context.rsi = MessageTag(label: KernelMessageLabel.interrupt, words: 1).raw
        receiver.pointee.context.registerMessage = (UInt64(interrupt.pointee.line), 0, 0, 0)
    }

    /// `receiver` (current) waits on `endpoint`.
    public static func wait(_ receiver: ThreadPointer, on endpoint: EndpointPointer, timeout: Timeout,
                            scheduler: inout Scheduler) {
        if let interrupt = endpoint.pointee.takePending() {
            interrupt.pointee.pending = false
            deliverInterrupt(interrupt, to: receiver)
            return
        }
        if let sender = endpoint.pointee.senders.dequeue() {
            sender.pointee.queuedOn = nil
            scheduler.timeouts.remove(sender)
            deliver(from: sender, to: receiver, badge: sender.pointee.sendBadge, canGrant: sender.pointee.sendCanGrant)
            switch sender.pointee.state {
            case .sending(call: true):
                sender.pointee.state = .waitingForReply
                sender.pointee.callCount &+= 1
                sender.pointee.callee = receiver
                receiver.pointee.caller = sender
            case .faulted:
                sender.pointee.callee = receiver
                receiver.pointee.caller = sender
            default:
                sender.pointee.context.rax = SyscallError.ok.rawValue
                scheduler.wake(sender)
            }
            return
        }
        guard !timeout.isZero else {
            receiver.pointee.context.rax = SyscallError.timeout.rawValue
            return
        }
        receiver.pointee.state = .receiving
        receiver.pointee.queuedOn = endpoint
        endpoint.pointee.receivers.enqueue(receiver)
        scheduler.armTimeout(receiver, timeout)
        scheduler.currentBlocked()
    }

    /// Delivers `replier`'s message to its caller and wakes the caller. Returns `.noCaller` if there is none.
    @discardableResult
    public static func reply(_ replier: ThreadPointer, scheduler: inout Scheduler, switchToCaller: Bool) -> SyscallError {
        guard let caller = replier.pointee.caller else { return .noCaller }
        replier.pointee.caller = nil
        answer(caller, from: replier, scheduler: &scheduler, switchToCaller: switchToCaller)
        return .ok
    }

    /// Replies to `caller`, whose call `replier` kept with `saveCaller` (a reply capability whose badge is
    /// `callNumber`): only while that same call still waits for `replier`. The replier's current caller is
    /// a different call and stays as it is, to be answered by a plain reply.
    public static func replySaved(_ replier: ThreadPointer, to caller: ThreadPointer, callNumber: UInt64,
                                  scheduler: inout Scheduler) -> SyscallError {
        // A fault is a call too (sendFault counts it): a saved reply resumes the faulted thread.
        guard caller.pointee.state == .waitingForReply || caller.pointee.state == .faulted, caller.pointee.callee == replier,
              caller.pointee.callCount & Capability.maximumBadge == callNumber else { return .noCaller }
        answer(caller, from: replier, scheduler: &scheduler, switchToCaller: false)
        return .ok
    }

    /// `server` keeps the right to answer its current caller later (`saveCaller`): the caller goes on its
    /// list of saved callers and stops being its current caller.
    public static func saveCaller(_ server: ThreadPointer) {
        guard let caller = server.pointee.caller else { return }
        server.pointee.caller = nil
        caller.pointee.savedBy = server
        caller.pointee.savedPrevious = nil
        caller.pointee.savedNext = server.pointee.savedCallers
        server.pointee.savedCallers?.pointee.savedPrevious = caller
        server.pointee.savedCallers = caller
    }

    /// `caller` no longer waits for its callee: cleared, and off the callee's saved list if it is on it.
    static func forgetCallee(_ caller: ThreadPointer) {
        caller.pointee.callee = nil
        guard let server = caller.pointee.savedBy else { return }
        if let previous = caller.pointee.savedPrevious {
            previous.pointee.savedNext = caller.pointee.savedNext
        } else {
            server.pointee.savedCallers = caller.pointee.savedNext
        }
        caller.pointee.savedNext?.pointee.savedPrevious = caller.pointee.savedPrevious
        caller.pointee.savedBy = nil
        caller.pointee.savedNext = nil
        caller.pointee.savedPrevious = nil
    }

    /// Delivers `replier`'s message to `caller` (or resumes it from its fault) and wakes it.
    private static func answer(_ caller: ThreadPointer, from replier: ThreadPointer, scheduler: inout Scheduler,
                               switchToCaller: Bool) {
        forgetCallee(caller)
        if caller.pointee.state == .faulted {
            resumeFromFault(caller, reply: replier)
        } else {
            deliver(from: replier, to: caller, badge: 0, canGrant: false)
            caller.pointee.context.rax = SyscallError.ok.rawValue
        }
        if switchToCaller {
            scheduler.switchDirectly(to: caller)
        } else {
            scheduler.wake(caller)
        }
    }

    /// `thread` (current) replies to its caller, if any, then waits on `endpoint`.
    public static func replyWait(_ thread: ThreadPointer, on endpoint: EndpointPointer, timeout: Timeout,
                                 scheduler: inout Scheduler) {
        guard thread.pointee.caller != nil else {
            return wait(thread, on: endpoint, timeout: timeout, scheduler: &scheduler)
        }
        if !endpoint.pointee.hasPending && !timeout.isZero {
            // The common server case: block, and give the CPU straight to the caller.
            thread.pointee.state = .receiving
            thread.pointee.queuedOn = endpoint
            endpoint.pointee.receivers.enqueue(thread)
            scheduler.armTimeout(thread, timeout)
            reply(thread, scheduler: &scheduler, switchToCaller: true)
        } else {
            reply(thread, scheduler: &scheduler, switchToCaller: false)
            wait(thread, on: endpoint, timeout: timeout, scheduler: &scheduler)
        }
    }

    /// A blocked thread's timeout expired: take it out of its endpoint queue and fail its operation.
    public static func expire(_ thread: ThreadPointer, scheduler: inout Scheduler) {
        cancel(thread, with: .timeout, scheduler: &scheduler)
    }

    /// Takes `thread` out of every IPC relation (queues, timeouts, pending replies in both directions)
    /// without making it runnable: for stopping it. A caller waiting for its reply gets `aborted`.
    public static func detach(_ thread: ThreadPointer, scheduler: inout Scheduler) {
        if let endpoint = thread.pointee.queuedOn {
            switch thread.pointee.state {
            case .sending, .faulted: endpoint.pointee.senders.remove(thread)
            case .receiving: endpoint.pointee.receivers.remove(thread)
            default: break
            }
            thread.pointee.queuedOn = nil
        }
        scheduler.timeouts.remove(thread)
        if let callee = thread.pointee.callee {
            // Only if it is still that server's current caller: after saveCaller the server may be
            // answering someone else, who must keep their reply.
            if callee.pointee.caller == thread { callee.pointee.caller = nil }
            forgetCallee(thread)
        }
        if let caller = thread.pointee.caller {
            thread.pointee.caller = nil
            forgetCallee(caller)
            cancel(caller, with: .aborted, scheduler: &scheduler)
        }
    }

    /// Stops `thread` wherever it is (its IPC relations ended as `detach` says); the current thread's
    /// place goes to the best ready one.
    public static func stop(_ thread: ThreadPointer, scheduler: inout Scheduler) {
        detach(thread, scheduler: &scheduler)
        switch thread.pointee.state {
        case .ready: scheduler.ready.remove(thread)
        case .running: scheduler.currentBlocked()
        default: break
        }
        thread.pointee.state = .stopped
    }

    /// Ends whatever IPC `thread` is blocked in with `error` and makes it runnable.
    public static func cancel(_ thread: ThreadPointer, with error: SyscallError, scheduler: inout Scheduler) {
        if let endpoint = thread.pointee.queuedOn {
            switch thread.pointee.state {
            case .sending, .faulted: endpoint.pointee.senders.remove(thread)
            case .receiving: endpoint.pointee.receivers.remove(thread)
            default: break
            }
            thread.pointee.queuedOn = nil
        }
        // Only a thread inside a system call has a result register; a faulted one resumes untouched.
        if thread.pointee.context.vector == UserContext.syscallEntry { thread.pointee.context.rax = error.rawValue }
        scheduler.wake(thread)
    }

    /// Copies a message: the tag and MR0-MR3 between saved contexts, further words between UTCBs, and
    /// capability items from the sender's space to the slot the receiver named. A faulted sender's
    /// message is made from its fault state instead.
    static func deliver(from sender: ThreadPointer, to receiver: ThreadPointer, badge: UInt64, canGrant: Bool) {
        receiver.pointee.context.rdi = badge
        receiver.pointee.context.rax = SyscallError.ok.rawValue
        if sender.pointee.state == .faulted {
            return deliverFault(from: sender, to: receiver)
        }
        // The flag is the kernel's report on this delivery: never pass on one the sender set (e.g. a forwarded tag).
        var tag = MessageTag(raw: sender.pointee.context.rsi).with(transferFailed: false)
        receiver.pointee.context.registerMessage = sender.pointee.context.registerMessage
        let length = tag.words + 2 * tag.items
        if length > MessageTag.registerWords, let source = sender.pointee.utcb, let destination = receiver.pointee.utcb {
            (destination + MessageTag.registerWords).update(from: source + MessageTag.registerWords,
                                                           count: length - MessageTag.registerWords)
        }
        if tag.items > 0 {
            let window = Flexpage(raw: receiver.pointee.utcb?[UTCBLayout.receiveWindow / 8] ?? 0)
            tag = tag.with(transferFailed: !transferItems(tag, from: sender, to: receiver, window: window, canGrant: canGrant))
        }
        receiver.pointee.context.rsi = tag.raw
    }

    /// The kernel's memory code, which carries out map and grant items (set at boot; host tests set a fake).
    /// Arguments: kind (TypedItem.mapKind or grantKind), placement, rights, sender, receiver. True if done.
    nonisolated(unsafe) public static var transferMemory: ((UInt64, MemoryPlacement, PageRights, ThreadPointer, ThreadPointer) -> Bool)?
    /// The kernel's I/O-port code, which carries out port items: first port, count, sender, receiver.
    nonisolated(unsafe) public static var transferPorts: ((UInt64, UInt64, ThreadPointer, ThreadPointer) -> Bool)?

    /// Carries out every typed item of `sender`'s message; false if any failed. Capabilities need the grant
    /// right on the endpoint; memory items need a receive window. `hotSpot`, if given, replaces the items'
    /// own (a page fault's address decides where the pager's pages go).
    static func transferItems(_ tag: MessageTag, from sender: ThreadPointer, to receiver: ThreadPointer,
                              window: Flexpage, canGrant: Bool, hotSpot: UInt64? = nil) -> Bool {
        var succeeded = true
        for item in 0..<tag.items {
            let kindWord = messageRegister(sender, tag.words + 2 * item)
            let value = messageRegister(sender, tag.words + 2 * item + 1)
            switch kindWord & 0xFF {
            case TypedItem.capabilityKind:
                if !canGrant || !transferCapability(kindWord: kindWord, selector: value, from: sender, to: receiver) {
                    succeeded = false
                }
            case TypedItem.mapKind, TypedItem.grantKind:
                let page = Flexpage(raw: value)
                guard window.raw != 0,
                      let placement = MemoryPlacement(send: page, window: window, hotSpot: hotSpot ?? kindWord),
                      let transfer = transferMemory,
                      transfer(kindWord & 0xFF, placement, page.rights, sender, receiver) else {
                    succeeded = false
                    continue
                }
            case TypedItem.portsKind:
                guard let transfer = transferPorts, transfer(value & 0xFFFF, (value >> 16) & 0x1_FFFF, sender, receiver) else {
                    succeeded = false
                    continue
                }
            default:
                succeeded = false
            }
        }
        return succeeded
    }

    static func messageRegister(_ thread: ThreadPointer, _ index: Int) -> UInt64 {
        if index < MessageTag.registerWords { return thread.pointee.context.messageRegister(index) }
        return thread.pointee.utcb?[index] ?? 0
    }

    private static func transferCapability(kindWord: UInt64, selector: UInt64, from sender: ThreadPointer,
                                           to receiver: ThreadPointer) -> Bool {
        guard kindWord & 0xFF == TypedItem.capabilityKind,
              let senderTask = sender.pointee.task, let receiverTask = receiver.pointee.task,
              let receiveSlot = receiver.pointee.utcb?[UTCBLayout.receiveSlot / 8] else { return false }
        guard case .success(let capability) = senderTask.pointee.capabilities.slot(selector) else { return false }
        let mask = Rights(rawValue: UInt8(truncatingIfNeeded: kindWord >> 8))
        return receiverTask.pointee.capabilities.insert(capability.derived(rights: mask), at: receiveSlot) == .ok
    }

    private static func deliverFault(from thread: ThreadPointer, to handler: ThreadPointer) {
        if let vcpu = thread.pointee.vcpu { return deliverExit(vcpu, to: handler) }
        let context = thread.pointee.context
        if thread.pointee.faultToPager {
            // Error code bit 1: a write; bit 4: an instruction fetch.
            let access: PageRights = context.errorCode & 2 != 0 ? .write : context.errorCode & 16 != 0 ? .execute : .read
            handler.pointee.context.rsi = MessageTag(label: KernelMessageLabel.pageFault, words: 3).raw
            handler.pointee.context.registerMessage = (thread.pointee.faultAddress, UInt64(access.rawValue), context.rip, 0)
            return
        }
        handler.pointee.context.rsi = MessageTag(label: KernelMessageLabel.exception, words: 6).raw
        handler.pointee.context.registerMessage = (context.vector, context.errorCode, context.rip, context.rsp)
        handler.pointee.utcb?[4] = thread.pointee.faultAddress
        handler.pointee.utcb?[5] = context.rflags
    }

    /// The handler's reply to a fault: label `resume` with MR0 = a new user RIP restarts the thread there;
    /// any other reply restarts it where it faulted.
    private static func resumeFromFault(_ thread: ThreadPointer, reply handler: ThreadPointer) {
        let tag = MessageTag(raw: handler.pointee.context.rsi)
        if let vcpu = thread.pointee.vcpu { return resumeFromExit(vcpu, reply: handler, tag: tag) }
        if thread.pointee.faultToPager {
            // The pager's reply maps into the whole address space, placed by the fault address.
            thread.pointee.faultToPager = false
            thread.pointee.faultVector = 0
            let everything = Flexpage(base: 0, order: Flexpage.maximumOrder, rights: .all)
            if tag.items > 0 && tag.isValid {
                _ = transferItems(tag, from: handler, to: thread, window: everything, canGrant: false,
                                  hotSpot: thread.pointee.faultAddress)
            }
            return
        }
        if tag.label == KernelMessageLabel.resume && tag.words >= 1 {
            let rip = handler.pointee.context.rdx
            if rip < KernelAddressSpace.userSpaceEnd { thread.pointee.context.rip = rip }
        }
        thread.pointee.faultVector = 0
    }

    /// A VM exit as a message: the parts of the guest state the reason's mask selects, laid out as
    /// `VCPUMessage` says, in the handler's message registers and UTCB.
    @inline(__always)
    static func deliverExit(_ vcpu: VCPUPointer, to handler: ThreadPointer) {
        guard let words = handler.pointee.utcb else {
            handler.pointee.context.rsi = MessageTag(label: KernelMessageLabel.vmExit, words: 0).raw
            return
        }
        let reason = vcpu.pointee.reason
        VCPUMessage.store(from: VCPU.state(of: vcpu), mask: vcpu.pointee.messageMask(), into: words)
        words[VCPUMessage.reason] = VCPUMessage.reasonWord(reason, raw: vcpu.pointee.rawReason)
        handler.pointee.context.rsi = MessageTag(label: KernelMessageLabel.vmExit, words: VCPUMessage.words).raw
        handler.pointee.context.registerMessage = (words[0], words[1], words[2], words[3])
    }

    /// The VMM's reply to an exit: a full-length reply writes back the state its mask selects (MR0).
    private static func resumeFromExit(_ vcpu: VCPUPointer, reply handler: ThreadPointer, tag: MessageTag) {
        guard tag.isValid, tag.words >= VCPUMessage.words, let words = handler.pointee.utcb else { return }
        // MR0-MR3 travel in registers: put them where the rest of the message is.
        (words[0], words[1], words[2], words[3]) = handler.pointee.context.registerMessage
        vcpu.pointee.acceptReply(words)
    }
}
