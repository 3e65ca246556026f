import SwiftletABI
import UserPlatform

/// Creates threads inside the calling task. Each takes one UTCB page and three stack pages from the
/// task's spare pages (so at most four threads per task), and a slot for its capability.
public struct ThreadSpawner {
    public typealias Body = @convention(c) (UInt64, UInt64) -> Void

    static let pagesPerThread: UInt64 = 4
    static let maximumThreads: UInt64 = 4
    // Start record in the new thread's UTCB, above the message registers and the receive slot.
    static let recordFunction = 500, recordArgument = 501, recordOwnSlot = 502

    private var used: UInt64 = 0

    public init() {}

    /// Creates and starts a thread running `body(argument, utcb)` at `priority`; its capability goes into
    /// `slot`. When `body` returns the thread stops.
    public mutating func spawn(_ body: Body, argument: UInt64, priority: UInt8, slot: UInt64) -> SyscallError {
        let error = spawnStopped(body, argument: argument, priority: priority, slot: slot)
        return error == .ok ? SystemCall.thread(slot, .start).error : error
    }

    /// The same, but the thread is left to be configured (exception handler, pager) and started.
    public mutating func spawnStopped(_ body: Body, argument: UInt64, priority: UInt8, slot: UInt64) -> SyscallError {
        guard used < ThreadSpawner.maximumThreads else { return .quotaExceeded }
        let base = user_thread_pages() + used * ThreadSpawner.pagesPerThread * 4096
        used += 1
        let utcb = UTCB(address: base)
        utcb[register: ThreadSpawner.recordFunction] = UInt64(UInt(bitPattern: unsafeBitCast(body, to: UnsafeRawPointer.self)))
        utcb[register: ThreadSpawner.recordArgument] = argument
        utcb[register: ThreadSpawner.recordOwnSlot] = slot
        let error = SystemCall.createThread(RootTaskLayout.factorySlot, into: slot, task: RootTaskLayout.taskSlot,
                                            priority: priority, utcb: base)
        guard error == .ok else { return error }
        let stackTop = base + ThreadSpawner.pagesPerThread * 4096
        return SystemCall.thread(slot, .setEntry, (user_thread_trampoline(), stackTop, 0, 0)).error
    }
}

@_cdecl("swiftlet_thread_main")
func threadMain(utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    let body = unsafeBitCast(UnsafeRawPointer(bitPattern: UInt(utcb[register: ThreadSpawner.recordFunction]))!,
                             to: ThreadSpawner.Body.self)
    body(utcb[register: ThreadSpawner.recordArgument], utcbAddress)
    _ = SystemCall.thread(utcb[register: ThreadSpawner.recordOwnSlot], .stop)
}
