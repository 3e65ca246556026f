import SwiftletABI
import UserPlatform

/// Creates threads inside the calling task. Each takes one UTCB page and three stack pages from the
/// task's spare pages (so at most four threads per task), and a slot for its capability.
public struct ThreadSpawner {
    public typealias Body = @convention(c) (UInt64, UInt64) -> Void

    public static let pagesPerThread: UInt64 = 4
    static let maximumThreads: UInt64 = 4
    // Start record in the new thread's UTCB, above the message registers and the receive slot.
    static let recordFunction = 500, recordArgument = 501, recordOwnSlot = 502

    private var used: UInt64 = 0
    private let base: UInt64
    private let capacity: UInt64
    private let pagesEach: UInt64

    /// Threads from the task's 16 spare pages.
    public init() {
        base = user_thread_pages()
        capacity = ThreadSpawner.maximumThreads
        pagesEach = ThreadSpawner.pagesPerThread
    }

    /// Threads from `threads` * `pagesEach` pages at `pages` (a UTCB page, the rest stack), which must be
    /// mapped writable and used for nothing else.
    public init(pages: UInt64, threads: UInt64, pagesEach: UInt64 = ThreadSpawner.pagesPerThread) {
        base = pages
        capacity = threads
        self.pagesEach = max(pagesEach, 2)
    }

    /// Creates and starts a thread running `body(argument, utcb)` at `priority`; its capability goes into
    /// `slot`. When `body` returns the thread stops.
    public mutating func spawn(_ body: Body, argument: UInt64, priority: UInt8, slot: UInt64) -> SyscallError {
        let error = spawnStopped(body, argument: argument, priority: priority, slot: slot)
        return error == .ok ? SystemCall.thread(slot, .start).error : error
    }

    /// The same, but the thread is left to be configured (exception handler, pager) and started.
    public mutating func spawnStopped(_ body: Body, argument: UInt64, priority: UInt8, slot: UInt64) -> SyscallError {
        guard used < capacity else { return .quotaExceeded }
        let base = self.base + used * pagesEach * 4096
        used += 1
        ThreadSpawner.prepare(utcb: base, body, argument: argument, slot: slot)
        let error = SystemCall.createThread(RootTaskLayout.factorySlot, into: slot, task: RootTaskLayout.taskSlot,
                                            priority: priority, utcb: base)
        guard error == .ok else { return error }
        let stackTop = base + pagesEach * 4096
        return SystemCall.thread(slot, .setEntry, (user_thread_trampoline(), stackTop, 0, 0)).error
    }
}

extension ThreadSpawner {
    /// Writes the start record into the UTCB page at `utcb` of a thread the caller created itself: started at
    /// `user_thread_trampoline()`, it runs `body(argument, utcb)` and stops itself through `slot` when that returns.
    public static func prepare(utcb address: UInt64, _ body: Body, argument: UInt64, slot: UInt64) {
        let utcb = UTCB(address: address)
        utcb[register: recordFunction] = UInt64(UInt(bitPattern: unsafeBitCast(body, to: UnsafeRawPointer.self)))
        utcb[register: recordArgument] = argument
        utcb[register: recordOwnSlot] = slot
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
