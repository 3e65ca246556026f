import SwiftletABI

/// The IPC fast path (after seL4's): call and reply-wait with a short message (at most the four register
/// words, no capability items) when the partner is already waiting and no ready thread outranks it. Each
/// precondition is checked up front; if any fails, the general path (IPC, via Syscalls) does the work,
/// with the same result. No queue is touched except the endpoint's receive queue on reply-wait.
public enum FastPath {
    /// Tries the fast path for the current thread's system call; false means "take the general path".
    @inline(__always)
    public static func handle(_ thread: ThreadPointer, scheduler: inout Scheduler) -> Bool {
        switch thread.pointee.context.rax {
        case Syscall.call.rawValue: return call(thread, scheduler: &scheduler)
        case Syscall.replyWait.rawValue: return replyWait(thread, scheduler: &scheduler)
        default: return false
        }
    }

    /// A short message: tag words ≤ 4 and no typed items (bits 7-12 of the tag zero).
    @inline(__always)
    static func isShort(_ tag: UInt64) -> Bool {
        tag & 0x1F80 == 0 && tag & 0x7F <= UInt64(MessageTag.registerWords)
    }

    @inline(__always)
    static func call(_ caller: ThreadPointer, scheduler: inout Scheduler) -> Bool {
        let tag = caller.pointee.context.rsi
        guard isShort(tag), Timeout(raw: caller.pointee.context.r12).isValid,
              let capability = caller.pointee.task!.pointee.capabilities.fastLookup(
                caller.pointee.context.rdi, type: .endpoint, rights: .send) else { return false }
        let endpoint = EndpointPointer(bitPattern: UInt(capability.object))!
        guard let receiver = endpoint.pointee.receivers.head else { return false }
        let highestReady = scheduler.ready.highestPriority ?? -1
        guard Int(receiver.pointee.priority) >= highestReady else { return false }

        endpoint.pointee.receivers.remove(receiver)
        receiver.pointee.queuedOn = nil
        if receiver.pointee.inTimeoutList { scheduler.timeouts.remove(receiver) }
        transfer(from: caller, to: receiver, tag: tag, badge: capability.badge)
        caller.pointee.state = .waitingForReply
        caller.pointee.callCount &+= 1
        caller.pointee.callee = receiver
        receiver.pointee.caller = caller
        scheduler.switchFast(to: receiver)
        return true
    }

    @inline(__always)
    static func replyWait(_ server: ThreadPointer, scheduler: inout Scheduler) -> Bool {
        let tag = server.pointee.context.rsi
        // A full-length reply to a vCPU's exit has its own path; checked only when the message is not short.
        guard isShort(tag) else { return tag & 0x1FFF == UInt64(VCPUMessage.words) && replyToVCPU(server, tag: tag, scheduler: &scheduler) }
        guard server.pointee.context.r12 == Timeout.infinite.raw,
              let caller = server.pointee.caller, caller.pointee.state == .waitingForReply,
              let capability = server.pointee.task!.pointee.capabilities.fastLookup(
                server.pointee.context.rdi, type: .endpoint, rights: .receive) else { return false }
        let endpoint = EndpointPointer(bitPattern: UInt(capability.object))!
        guard !endpoint.pointee.hasPending else { return false }
        let highestReady = scheduler.ready.highestPriority ?? -1
        guard Int(caller.pointee.priority) >= highestReady else { return false }

        server.pointee.state = .receiving
        server.pointee.queuedOn = endpoint
        endpoint.pointee.receivers.enqueue(server)
        server.pointee.caller = nil
        caller.pointee.callee = nil
        transfer(from: server, to: caller, tag: tag, badge: 0)
        scheduler.switchFast(to: caller)
        return true
    }

    // MARK: VM exits

    /// A VM exit to a VMM thread already waiting on the handler endpoint, which no ready thread outranks:
    /// the exit message goes straight into its registers and UTCB and it runs next. False: take
    /// `IPC.sendFault`.
    @inline(__always)
    public static func sendExit(_ thread: ThreadPointer, to endpoint: EndpointPointer, badge: UInt64,
                                scheduler: inout Scheduler) -> Bool {
        guard let handler = endpoint.pointee.receivers.head, handler.pointee.utcb != nil,
              Int(handler.pointee.priority) >= scheduler.ready.highestPriority ?? -1 else { return false }
        endpoint.pointee.receivers.remove(handler)
        handler.pointee.queuedOn = nil
        if handler.pointee.inTimeoutList { scheduler.timeouts.remove(handler) }
        // `faultToPager` stays false: only a user-mode page fault sets it, and a vCPU runs no user code.
        thread.pointee.state = .faulted
        thread.pointee.callCount &+= 1     // as IPC.sendFault counts it
        handler.pointee.context.rax = SyscallError.ok.rawValue
        handler.pointee.context.rdi = badge
        IPC.deliverExit(thread.pointee.vcpu!, to: handler)
        thread.pointee.callee = handler
        handler.pointee.caller = thread
        scheduler.switchFast(to: handler)
        return true
    }

    /// The VMM's reply-wait answering a vCPU's exit with a full-length message: the state goes into the
    /// vCPU and the vCPU runs next.
    @inline(__always)
    static func replyToVCPU(_ server: ThreadPointer, tag: UInt64, scheduler: inout Scheduler) -> Bool {
        guard server.pointee.context.r12 == Timeout.infinite.raw, let caller = server.pointee.caller,
              caller.pointee.state == .faulted, let vcpu = caller.pointee.vcpu, let words = server.pointee.utcb,
              let capability = server.pointee.task!.pointee.capabilities.fastLookup(
                server.pointee.context.rdi, type: .endpoint, rights: .receive) else { return false }
        let endpoint = EndpointPointer(bitPattern: UInt(capability.object))!
        guard !endpoint.pointee.hasPending,
              Int(caller.pointee.priority) >= scheduler.ready.highestPriority ?? -1 else { return false }

        server.pointee.state = .receiving
        server.pointee.queuedOn = endpoint
        endpoint.pointee.receivers.enqueue(server)
        server.pointee.caller = nil
        caller.pointee.callee = nil
        (words[0], words[1], words[2], words[3]) = server.pointee.context.registerMessage
        vcpu.pointee.acceptReply(words)
        scheduler.switchFast(to: caller)
        return true
    }

    /// Tag, MR0-MR3 and badge into the receiver's saved registers (its syscall's results). The
    /// transferFailed bit is the kernel's report on a delivery: one the sender set is cleared, as on the
    /// general path.
    @inline(__always)
    static func transfer(from sender: ThreadPointer, to receiver: ThreadPointer, tag: UInt64, badge: UInt64) {
        receiver.pointee.context.rax = SyscallError.ok.rawValue
        receiver.pointee.context.rdi = badge
        receiver.pointee.context.rsi = MessageTag(raw: tag).with(transferFailed: false).raw
        receiver.pointee.context.rdx = sender.pointee.context.rdx
        receiver.pointee.context.r10 = sender.pointee.context.r10
        receiver.pointee.context.r8 = sender.pointee.context.r8
        receiver.pointee.context.r9 = sender.pointee.context.r9
    }
}
