import SwiftletABI

/// What tasks write on the kernel console (`debugWrite`) and the names that tag it. Every task line is
/// printed as `[name] text` and the kernel's own lines never start with `[`, so a task cannot forge the
/// lines the system is judged by; bytes that are not printable ASCII become `?`, so it cannot start a
/// new line either.
enum TaskConsole {
    /// RSI = byte count (at most 32) | `debugWriteContinues`, the bytes in MR0-MR3. The line is kept in
    /// the thread until it ends, then printed with its task's tag.
    static func write(_ thread: ThreadPointer) -> SyscallError {
        let c = thread.pointee.context
        let length = c.rsi & ~Syscall.debugWriteContinues
        guard length <= UInt64(Syscall.debugWriteChunk) else { return .messageTooLong }
        for index in 0..<Int(length) {
            let word = c.messageRegister(index / 8)
            let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
            thread.pointee.consoleLine.append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
        }
        if c.rsi & Syscall.debugWriteContinues == 0 {
            let name = thread.pointee.task?.pointee.name ?? TaskName()
            log(name.tag(thread.pointee.consoleLine))
            thread.pointee.consoleLine = LogLine()
        }
        return .ok
    }

    /// `machineControl` nameTask (the caller holds the machine capability): MR0 = task selector (control
    /// right), MR1 = length, MR2-MR3 = the name. A bad name changes nothing.
    static func name(_ thread: ThreadPointer) -> SyscallError {
        let c = thread.pointee.context
        let task: TaskPointer
        switch thread.pointee.task!.pointee.capabilities.lookup(c.rdx, type: .task, rights: .control) {
        case .success(let capability): task = PhysicalMemory.object(fromCapabilityAddress: capability.object, as: Task.self)
        case .failure(let error): return error
        }
        guard let name = TaskName(length: c.r10, c.r8, c.r9) else { return .invalidArgument }
        task.pointee.name = name
        return .ok
    }
}
