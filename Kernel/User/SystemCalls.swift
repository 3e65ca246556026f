import SwiftletABI
import UserPlatform

/// The result of an IPC: the error code, the sender's badge, the tag and MR0-MR3.
public struct Message {
    public var error: SyscallError
    public var badge: UInt64
    public var tag: MessageTag
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public var succeeded: Bool { error == .ok }
}

/// Thin wrappers over SYSCALL, one per system call, in the register convention of SwiftletABI.Syscall.
/// They return the kernel's error code and never trap: bad arguments come back as SyscallError values.
public enum SystemCall {
    @inline(__always)
    static func invoke(_ number: Syscall, _ selector: UInt64, _ rsi: UInt64 = 0,
                       _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0), timeout: UInt64 = 0) -> SyscallRegisters {
        swiftlet_syscall_inline(number.rawValue, selector, rsi, words.0, words.1, words.2, words.3, timeout)
    }

    /// Any register values at all, for tests that feed the kernel garbage.
    public static func raw(_ rax: UInt64, _ rdi: UInt64, _ rsi: UInt64, _ rdx: UInt64, _ r10: UInt64,
                           _ r8: UInt64, _ r9: UInt64, _ r12: UInt64) -> UInt64 {
        var registers = SyscallRegisters(rax: rax, rdi: rdi, rsi: rsi, rdx: rdx, r10: r10, r8: r8, r9: r9, r12: r12)
        swiftlet_syscall(&registers)
        return registers.rax
    }

    static func error(_ registers: SyscallRegisters) -> SyscallError {
        SyscallError(rawValue: registers.rax) ?? .unknownSyscall
    }

    static func message(_ registers: SyscallRegisters) -> Message {
        Message(error: error(registers), badge: registers.rdi, tag: MessageTag(raw: registers.rsi),
                words: (registers.rdx, registers.r10, registers.r8, registers.r9))
    }

    // MARK: IPC

    public static func call(_ endpoint: UInt64, _ tag: MessageTag, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0),
                            timeout: Timeout = .infinite) -> Message {
        message(invoke(.call, endpoint, tag.raw, words, timeout: timeout.raw))
    }

    public static func send(_ endpoint: UInt64, _ tag: MessageTag, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0),
                            timeout: Timeout = .infinite) -> SyscallError {
        error(invoke(.send, endpoint, tag.raw, words, timeout: timeout.raw))
    }

    public static func wait(_ endpoint: UInt64, timeout: Timeout = .infinite) -> Message {
        message(invoke(.wait, endpoint, 0, timeout: timeout.raw))
    }

    public static func replyWait(_ endpoint: UInt64, _ tag: MessageTag, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0),
                                 timeout: Timeout = .infinite) -> Message {
        message(invoke(.replyWait, endpoint, tag.raw, words, timeout: timeout.raw))
    }

    public static func reply(_ tag: MessageTag, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) -> SyscallError {
        error(invoke(.reply, 0, tag.raw, words))
    }

    public static func yield() {
        _ = invoke(.yield, 0)
    }

    // MARK: Objects

    public static func create(_ factory: UInt64, _ type: ObjectType, into slot: UInt64,
                              _ arguments: (UInt64, UInt64, UInt64) = (0, 0, 0)) -> SyscallError {
        error(invoke(.create, factory, UInt64(type.rawValue), (slot, arguments.0, arguments.1, arguments.2)))
    }

    public static func createThread(_ factory: UInt64, into slot: UInt64, task: UInt64, priority: UInt8, utcb: UInt64) -> SyscallError {
        create(factory, .thread, into: slot, (task, UInt64(priority), utcb))
    }

    public static func thread(_ thread: UInt64, _ operation: ThreadOperation,
                              _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) -> Message {
        message(invoke(.threadControl, thread, operation.rawValue, words))
    }

    public static func task(_ task: UInt64, _ operation: TaskOperation, _ words: (UInt64, UInt64, UInt64, UInt64)) -> SyscallError {
        error(invoke(.taskControl, task, operation.rawValue, words))
    }

    public static func capability(_ slot: UInt64, _ operation: CapabilityOperation,
                                  _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) -> Message {
        message(invoke(.capabilityControl, slot, operation.rawValue, words))
    }

    /// Takes `page.rights` away from everything derived from the caller's pages in `page` (all rights:
    /// unmaps them), and from the caller's own mappings too with `own`.
    public static func unmap(_ page: Flexpage, own: Bool = false) -> SyscallError {
        error(invoke(.unmap, page.raw, own ? Syscall.unmapOwn : 0))
    }

    /// The rights `task` holds at `address` (empty: not mapped).
    public static func readMapping(_ task: UInt64, at address: UInt64) -> (error: SyscallError, rights: PageRights) {
        let result = invoke(.taskControl, task, TaskOperation.readMapping.rawValue, (address, 0, 0, 0))
        return (error(result), PageRights(rawValue: UInt8(truncatingIfNeeded: result.rdx)))
    }

    public static func interrupt(_ interrupt: UInt64, _ operation: InterruptOperation,
                                 _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) -> SyscallError {
        error(invoke(.interruptControl, interrupt, operation.rawValue, words))
    }

    public static func ports(_ task: UInt64, _ operation: PortOperation, first: UInt64, count: UInt64 = 1) -> Message {
        message(invoke(.portControl, task, operation.rawValue, (first, count, 0, 0)))
    }

    /// Keeps the right to reply to the caller just received in `slot` (see CapabilityOperation.saveCaller).
    public static func saveCaller(into slot: UInt64) -> SyscallError {
        error(invoke(.capabilityControl, slot, CapabilityOperation.saveCaller.rawValue))
    }

    /// Replies through a saved reply capability (which is used up).
    public static func reply(through slot: UInt64, _ tag: MessageTag, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) -> SyscallError {
        error(invoke(.reply, slot, tag.raw, words))
    }

    /// sigma0's: takes physical frames (RAM handed over, or device memory) into its space at their address.
    public static func takeMemory(at address: UInt64, pages: UInt64, device: Bool) -> SyscallError {
        error(invoke(.memoryControl, Sigma0.physicalMemorySlot, MemoryOperation.take.rawValue, (address, pages, device ? 1 : 0, 0)))
    }

    /// Turns the machine off; the kernel's power-off line names `reason`, by which the run is judged.
    public static func powerOff(_ machine: UInt64, reason: PowerOffReason, guestStatus: UInt8 = 0) -> SyscallError {
        error(invoke(.machineControl, machine, MachineOperation.powerOff.rawValue, (reason.rawValue, UInt64(guestStatus), 0, 0)))
    }

    /// Names `task` (a task capability) for the console: its lines are tagged `[name] `. The name is 1-16
    /// letters, digits or `,._+@-`; anything else gives `invalidArgument`.
    public static func nameTask(_ machine: UInt64, _ task: UInt64, _ name: ByteString) -> SyscallError {
        var words: (UInt64, UInt64) = (0, 0)
        for index in 0..<min(name.bytes.count, TaskName.capacity) {
            let shifted = UInt64(name.bytes[index]) << (UInt64(index % 8) * 8)
            if index < 8 { words.0 |= shifted } else { words.1 |= shifted }
        }
        let length = UInt64(name.bytes.count)
        return error(invoke(.machineControl, machine, MachineOperation.nameTask.rawValue, (task, length, words.0, words.1)))
    }
}

/// When `task_main` returns, the thread stops itself (its own thread capability is in slot 2).
@_cdecl("swiftlet_thread_exit")
public func threadExit() {
    _ = SystemCall.thread(RootTaskLayout.threadSlot, .stop)
}
