import XCTest
@testable import KernelCore
import SwiftletABI

final class ThreadQueueTests: XCTestCase {
    var fixture: KernelObjectFixture!
    override func setUp() { fixture = KernelObjectFixture() }
    override func tearDown() { fixture = nil }

    func testEmptyQueue() {
        var queue = ThreadQueue()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertNil(queue.head)
        XCTAssertNil(queue.tail)
        XCTAssertNil(queue.dequeue())
    }

    func testFIFOOrder() {
        var queue = ThreadQueue()
        let (a, b, c) = (fixture.thread(), fixture.thread(), fixture.thread())
        queue.enqueue(a)
        XCTAssertEqual(queue.head, a)
        XCTAssertEqual(queue.tail, a)
        queue.enqueue(b)
        queue.enqueue(c)
        XCTAssertFalse(queue.isEmpty)
        XCTAssertEqual(members(of: queue), [a, b, c])
        XCTAssertEqual(queue.dequeue(), a)
        XCTAssertNil(a.pointee.next, "a dequeued thread is unlinked")
        XCTAssertNil(a.pointee.previous)
        XCTAssertEqual(members(of: queue), [b, c])
        queue.enqueue(a)
        XCTAssertEqual(members(of: queue), [b, c, a])
        XCTAssertEqual(queue.dequeue(), b)
        XCTAssertEqual(queue.dequeue(), c)
        XCTAssertEqual(queue.dequeue(), a)
        XCTAssertNil(queue.dequeue())
        XCTAssertTrue(queue.isEmpty)
        XCTAssertNil(queue.tail)
    }

    func testEnqueueResetsStaleLinks() {
        var queue = ThreadQueue()
        let (a, stale) = (fixture.thread(), fixture.thread())
        a.pointee.next = stale
        a.pointee.previous = stale
        queue.enqueue(a)
        XCTAssertEqual(members(of: queue), [a])
        XCTAssertNil(a.pointee.next)
        XCTAssertNil(a.pointee.previous)
    }

    func testRemoveHeadMiddleAndTail() {
        var queue = ThreadQueue()
        let threads = (0..<5).map { _ in fixture.thread() }
        for thread in threads { queue.enqueue(thread) }

        queue.remove(threads[2])
        XCTAssertEqual(members(of: queue), [threads[0], threads[1], threads[3], threads[4]])
        XCTAssertNil(threads[2].pointee.next)
        XCTAssertNil(threads[2].pointee.previous)

        queue.remove(threads[0])
        XCTAssertEqual(queue.head, threads[1])
        XCTAssertEqual(members(of: queue), [threads[1], threads[3], threads[4]])

        queue.remove(threads[4])
        XCTAssertEqual(queue.tail, threads[3])
        XCTAssertEqual(members(of: queue), [threads[1], threads[3]])

        queue.enqueue(threads[2])
        XCTAssertEqual(members(of: queue), [threads[1], threads[3], threads[2]])

        queue.remove(threads[3])
        queue.remove(threads[1])
        XCTAssertEqual(members(of: queue), [threads[2]])
        queue.remove(threads[2])
        XCTAssertTrue(queue.isEmpty)
        XCTAssertNil(queue.head)
        XCTAssertNil(queue.tail)
    }

    func testTwoQueuesKeepTheirOwnMembers() {
        var first = ThreadQueue(), second = ThreadQueue()
        let (a, b, c, d) = (fixture.thread(), fixture.thread(), fixture.thread(), fixture.thread())
        first.enqueue(a); first.enqueue(b)
        second.enqueue(c); second.enqueue(d)
        first.remove(b)
        second.enqueue(b)
        XCTAssertEqual(members(of: first), [a])
        XCTAssertEqual(members(of: second), [c, d, b])
    }
}

final class ReadyQueuesTests: XCTestCase {
    var fixture: KernelObjectFixture!
    override func setUp() { fixture = KernelObjectFixture() }
    override func tearDown() { fixture = nil }

    func testEmpty() {
        var ready = ReadyQueues()
        XCTAssertNil(ready.highestPriority)
        XCTAssertNil(ready.dequeueHighest())
    }

    func testEachPriorityAloneIsFoundInItsBitmapWord() {
        for priority: UInt8 in [0, 1, 62, 63, 64, 65, 127, 128, 191, 192, 200, 254, 255] {
            var ready = ReadyQueues()
            let thread = fixture.thread(priority: priority)
            ready.enqueue(thread)
            XCTAssertEqual(ready.highestPriority, Int(priority))
            XCTAssertEqual(ready.dequeueHighest(), thread)
            XCTAssertNil(ready.highestPriority, "bit of priority \(priority) cleared")
        }
    }

    func testHighestPriorityAcrossTheBitmapWords() {
        var ready = ReadyQueues()
        let priorities: [UInt8] = [63, 200, 0, 255, 64]
        var byPriority: [UInt8: ThreadPointer] = [:]
        for priority in priorities {
            let thread = fixture.thread(priority: priority)
            byPriority[priority] = thread
            ready.enqueue(thread)
        }
        for expected: UInt8 in [255, 200, 64, 63, 0] {
            XCTAssertEqual(ready.highestPriority, Int(expected))
            XCTAssertEqual(ready.dequeueHighest(), byPriority[expected])
        }
        XCTAssertNil(ready.highestPriority)
        XCTAssertNil(ready.dequeueHighest())
    }

    func testFIFOWithinAPriority() {
        var ready = ReadyQueues()
        let (a, b, c) = (fixture.thread(priority: 64), fixture.thread(priority: 64), fixture.thread(priority: 64))
        let low = fixture.thread(priority: 63)
        ready.enqueue(a)
        ready.enqueue(low)
        ready.enqueue(b)
        ready.enqueue(c)
        XCTAssertEqual(drain(&ready), [a, b, c, low])
    }

    func testBitmapClearedOnlyWhenTheQueueEmpties() {
        var ready = ReadyQueues()
        let (a, b) = (fixture.thread(priority: 200), fixture.thread(priority: 200))
        let c = fixture.thread(priority: 128)
        let d = fixture.thread(priority: 0)
        for thread in [a, b, c, d] { ready.enqueue(thread) }
        ready.remove(a)
        XCTAssertEqual(ready.highestPriority, 200, "b still waits at 200")
        ready.remove(b)
        XCTAssertEqual(ready.highestPriority, 128)
        ready.remove(c)
        XCTAssertEqual(ready.highestPriority, 0)
        ready.enqueue(b)
        XCTAssertEqual(ready.highestPriority, 200, "the bit comes back")
        XCTAssertEqual(drain(&ready), [b, d])
    }

    func testRemoveFromTheMiddleOfAPriorityKeepsTheOrder() {
        var ready = ReadyQueues()
        let threads = (0..<4).map { _ in fixture.thread(priority: 5) }
        for thread in threads { ready.enqueue(thread) }
        ready.remove(threads[1])
        XCTAssertEqual(drain(&ready), [threads[0], threads[2], threads[3]])
        XCTAssertNil(threads[1].pointee.next)
    }
}

final class TimeoutListTests: XCTestCase {
    var fixture: KernelObjectFixture!
    override func setUp() { fixture = KernelObjectFixture() }
    override func tearDown() { fixture = nil }

    func testInsertSortsByWakeupTick() {
        var list = TimeoutList()
        let (a, b, c, d) = (fixture.thread(), fixture.thread(), fixture.thread(), fixture.thread())
        list.insert(a, wakeupTime: 30)
        XCTAssertEqual(list.head, a)
        XCTAssertTrue(a.pointee.inTimeoutList)
        XCTAssertEqual(a.pointee.wakeupTime, 30)
        list.insert(b, wakeupTime: 10)   // new head
        list.insert(c, wakeupTime: 20)   // middle
        list.insert(d, wakeupTime: 40)   // tail
        XCTAssertEqual(members(of: list), [b, c, a, d])
        XCTAssertEqual(list.head, b)
        XCTAssertNil(d.pointee.timeoutNext)
    }

    func testEqualTicksKeepInsertionOrder() {
        var list = TimeoutList()
        let (a, b, c, d, e) = (fixture.thread(), fixture.thread(), fixture.thread(), fixture.thread(), fixture.thread())
        list.insert(a, wakeupTime: 10)
        list.insert(b, wakeupTime: 10)
        list.insert(c, wakeupTime: 5)
        list.insert(d, wakeupTime: 10)
        list.insert(e, wakeupTime: 5)
        XCTAssertEqual(members(of: list), [c, e, a, b, d])
    }

    func testRemoveHeadMiddleTailAndNonMembers() {
        var list = TimeoutList()
        let threads = (0..<5).map { _ in fixture.thread() }
        for (index, thread) in threads.enumerated() { list.insert(thread, wakeupTime: UInt64(index + 1)) }

        list.remove(threads[2])
        XCTAssertFalse(threads[2].pointee.inTimeoutList)
        XCTAssertNil(threads[2].pointee.timeoutNext)
        XCTAssertNil(threads[2].pointee.timeoutPrevious)
        XCTAssertEqual(members(of: list), [threads[0], threads[1], threads[3], threads[4]])

        list.remove(threads[0])
        XCTAssertEqual(list.head, threads[1])
        XCTAssertEqual(members(of: list), [threads[1], threads[3], threads[4]])

        list.remove(threads[4])
        XCTAssertEqual(members(of: list), [threads[1], threads[3]])
        XCTAssertNil(threads[3].pointee.timeoutNext)

        // Removing a thread that is not in the list is harmless, even with stale links.
        let outsider = fixture.thread()
        outsider.pointee.timeoutPrevious = threads[1]
        outsider.pointee.timeoutNext = threads[3]
        list.remove(outsider)
        list.remove(threads[2])
        XCTAssertEqual(members(of: list), [threads[1], threads[3]])

        list.remove(threads[1])
        list.remove(threads[3])
        XCTAssertNil(list.head)

        list.insert(threads[2], wakeupTime: 7)
        XCTAssertEqual(members(of: list), [threads[2]])
        XCTAssertEqual(threads[2].pointee.wakeupTime, 7)
        XCTAssertEqual(list.count, 1, "the count follows inserts and removes, not removes of non-members")
    }

    func testTheCountIsWhatTheHeadReaches() {
        var list = TimeoutList()
        let threads = (0..<6).map { _ in fixture.thread() }
        for (index, thread) in threads.enumerated() { list.insert(thread, wakeupTime: UInt64(10 - index)) }
        XCTAssertEqual(list.count, 6)
        XCTAssertEqual(members(of: list).count, list.count)
        _ = list.expired(now: 6)
        list.remove(threads[3])
        list.remove(threads[3])
        XCTAssertEqual(list.count, 4)
        XCTAssertEqual(members(of: list).count, list.count)
    }

    func testExpiredReturnsDueThreadsInOrder() {
        var list = TimeoutList()
        let (a, b, c, d) = (fixture.thread(), fixture.thread(), fixture.thread(), fixture.thread())
        list.insert(a, wakeupTime: 10)
        list.insert(b, wakeupTime: 5)
        list.insert(c, wakeupTime: 10)
        list.insert(d, wakeupTime: 12)

        XCTAssertNil(list.expired(now: 4))
        XCTAssertEqual(list.expired(now: 5), b)
        XCTAssertFalse(b.pointee.inTimeoutList)
        XCTAssertNil(list.expired(now: 5))
        XCTAssertNil(list.expired(now: 9))
        XCTAssertEqual(list.expired(now: 11), a, "late ticks still expire, FIFO among equal ticks")
        XCTAssertEqual(list.expired(now: 11), c)
        XCTAssertNil(list.expired(now: 11))
        XCTAssertEqual(members(of: list), [d])
        XCTAssertEqual(list.expired(now: UInt64.max), d)
        XCTAssertNil(list.head)
        XCTAssertNil(list.expired(now: UInt64.max))
    }
}
