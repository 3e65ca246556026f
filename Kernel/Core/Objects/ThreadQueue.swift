import SwiftletABI

/// An intrusive FIFO of threads linked through `Thread.next`/`previous`. O(1) enqueue, dequeue and remove.
public struct ThreadQueue {
    public private(set) var head: ThreadPointer?
    public private(set) var tail: ThreadPointer?

    public init() {}

    public var isEmpty: Bool { head == nil }

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
    public mutating func remove(_ thread: ThreadPointer) {
        if let previous = thread.pointee.previous { previous.pointee.next = thread.pointee.next } else { head = thread.pointee.next }
        if let next = thread.pointee.next { next.pointee.previous = thread.pointee.previous } else { tail = thread.pointee.previous }
        thread.pointee.next = nil
        thread.pointee.previous = nil
    }
}

/// One FIFO per priority (0-255, 255 highest) and a bitmap of the non-empty ones, so finding the highest
/// ready thread is a few bit scans, whatever the number of threads.
public struct ReadyQueues {
    private var queues = InlineArray<256, ThreadQueue>(repeating: ThreadQueue())
    private var bitmap = InlineArray<4, UInt64>(repeating: 0)

    public init() {}

    public mutating func enqueue(_ thread: ThreadPointer) {
        let priority = Int(thread.pointee.priority)
        queues[priority].enqueue(thread)
        bitmap[priority / 64] |= 1 << UInt64(priority % 64)
    }

    public mutating func remove(_ thread: ThreadPointer) {
        let priority = Int(thread.pointee.priority)
        queues[priority].remove(thread)
        if queues[priority].isEmpty { bitmap[priority / 64] &= ~(1 << UInt64(priority % 64)) }
    }

    /// The highest priority with a ready thread, or nil.
    public var highestPriority: Int? {
        var word = 3
        while word >= 0 {
            let bits = bitmap[word]
            if bits != 0 { return word * 64 + 63 - bits.leadingZeroBitCount }
            word -= 1
        }
        return nil
    }

    /// Removes and returns the first thread of the highest priority.
    public mutating func dequeueHighest() -> ThreadPointer? {
        guard let priority = highestPriority, let thread = queues[priority].head else { return nil }
        remove(thread)
        return thread
    }
}

/// Threads blocked with a finite timeout, sorted by wake-up tick (earliest first).
public struct TimeoutList {
    public private(set) var head: ThreadPointer?

    public init() {}

    public mutating func insert(_ thread: ThreadPointer, wakeupTick: UInt64) {
        thread.pointee.wakeupTick = wakeupTick
        thread.pointee.inTimeoutList = true
        var previous: ThreadPointer? = nil
        var cursor = head
        while let current = cursor, current.pointee.wakeupTick <= wakeupTick {
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
    }

    /// Removes and returns the first thread whose wake-up tick is at or before `now`.
    public mutating func expired(now: UInt64) -> ThreadPointer? {
        guard let first = head, first.pointee.wakeupTick <= now else { return nil }
        remove(first)
        return first
    }
}
