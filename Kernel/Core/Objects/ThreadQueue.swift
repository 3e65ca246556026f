import SwiftletABI

/// An intrusive FIFO of threads linked through `Thread.next`/`previous`. O(1) enqueue, dequeue and remove.
public struct ThreadQueue {
    public private(set) var head: ThreadPointer?
    public private(set) var tail: ThreadPointer?

    public init() {}

    public var isEmpty: Bool { head == nil }

    @inline(__always)
    public mutating func enqueue(_ thread: ThreadPointer) {
        thread.pointee.next = nil
        thread.pointee.previous = tail
        if let tail { tail.pointee.next = thread } else { head = thread }
        tail = thread
    }

    public mutating func dequeue() -> ThreadPointer? {
        guard let first = head else { return nil }
        remove(first)
        return first
    }

    /// Unlinks `thread`, which must be in this queue.
    @inline(__always)
    public mutating func remove(_ thread: ThreadPointer) {
        if let previous = thread.pointee.previous { previous.pointee.next = thread.pointee.next } else { head = thread.pointee.next }
        if let next = thread.pointee.next { next.pointee.previous = thread.pointee.previous } else { tail = thread.pointee.previous }
        thread.pointee.next = nil
        thread.pointee.previous = nil
    }
}

/// One FIFO per priority (0-255, 255 highest) and a bitmap of the non-empty ones, so finding the highest
/// ready thread is a few bit scans, whatever the number of threads.
///
/// Performance note: Swift copies a struct to call a non-mutating method on it through `inout` — for the
/// 4 KiB of queues that is a 4 KiB copy on every scheduling decision. So the bitmap is its own small struct
/// and the queries go through it.
public struct ReadyQueues {
    private var queues = InlineArray<256, ThreadQueue>(repeating: ThreadQueue())
    private var bitmap = PriorityBitmap()
    /// Threads in all queues; zero is the common case on the IPC path and answers it without a bit scan.
    public private(set) var count = 0

    public init() {}

    public mutating func enqueue(_ thread: ThreadPointer) {
        let priority = Int(thread.pointee.priority)
        queues[priority].enqueue(thread)
        bitmap.set(priority)
        count += 1
    }

    public mutating func remove(_ thread: ThreadPointer) {
        let priority = Int(thread.pointee.priority)
        queues[priority].remove(thread)
        if queues[priority].isEmpty { bitmap.clear(priority) }
        count -= 1
    }

    /// The highest priority with a ready thread, or nil.
    public var highestPriority: Int? {
        mutating get { count == 0 ? nil : bitmap.highest }
    }

    /// Removes and returns the first thread of the highest priority.
    public mutating func dequeueHighest() -> ThreadPointer? {
        guard let priority = bitmap.highest, let thread = queues[priority].head else { return nil }
        remove(thread)
        return thread
    }
}

/// 256 bits, one per priority.
struct PriorityBitmap {
    private var words = InlineArray<4, UInt64>(repeating: 0)

    mutating func set(_ priority: Int) { words[priority / 64] |= 1 << UInt64(priority % 64) }
    mutating func clear(_ priority: Int) { words[priority / 64] &= ~(1 << UInt64(priority % 64)) }

    var highest: Int? {
        var word = 3
        while word >= 0 {
            let bits = words[word]
            if bits != 0 { return word * 64 + 63 - bits.leadingZeroBitCount }
            word -= 1
        }
        return nil
    }
}

/// Threads blocked with a finite timeout, sorted by wake-up tick (earliest first).
public struct TimeoutList {
    public private(set) var head: ThreadPointer?
    /// Threads in the list (a cross-check for the kernel's hang report: every one is reachable from `head`).
    public private(set) var count = 0

    public init() {}

    public mutating func insert(_ thread: ThreadPointer, wakeupTime: UInt64) {
        thread.pointee.wakeupTime = wakeupTime
        thread.pointee.inTimeoutList = true
        count += 1
        var previous: ThreadPointer? = nil
        var cursor = head
        while let current = cursor, current.pointee.wakeupTime <= wakeupTime {
            previous = current
            cursor = current.pointee.timeoutNext
        }
        thread.pointee.timeoutPrevious = previous
        thread.pointee.timeoutNext = cursor
        if let cursor { cursor.pointee.timeoutPrevious = thread }
        if let previous { previous.pointee.timeoutNext = thread } else { head = thread }
    }

    public mutating func remove(_ thread: ThreadPointer) {
        guard thread.pointee.inTimeoutList else { return }
        if let previous = thread.pointee.timeoutPrevious { previous.pointee.timeoutNext = thread.pointee.timeoutNext } else { head = thread.pointee.timeoutNext }
        if let next = thread.pointee.timeoutNext { next.pointee.timeoutPrevious = thread.pointee.timeoutPrevious }
        thread.pointee.timeoutNext = nil
        thread.pointee.timeoutPrevious = nil
        thread.pointee.inTimeoutList = false
        count -= 1
    }

    /// Removes and returns the first thread whose wake-up time is at or before `now`.
    public mutating func expired(now: UInt64) -> ThreadPointer? {
        guard let first = head, first.pointee.wakeupTime <= now else { return nil }
        remove(first)
        return first
    }
}
