import XCTest
@testable import KernelCore
import SwiftletABI

/// Kernel objects in raw memory, the way the kernel keeps them (threads, tasks, endpoints and capability-space
/// storage are plain structs behind pointers). Everything allocated here is freed when the fixture goes away.
final class KernelObjectFixture {
    static let utcbWords = 512

    private var threads: [ThreadPointer] = []
    private var tasks: [TaskPointer] = []
    private var endpoints: [EndpointPointer] = []
    private var slotStorage: [CapabilityNodePointer] = []
    private var utcbs: [UnsafeMutablePointer<UInt64>] = []

    deinit {
        for thread in threads { thread.deinitialize(count: 1); thread.deallocate() }
        for task in tasks { task.deinitialize(count: 1); task.deallocate() }
        for endpoint in endpoints { endpoint.deinitialize(count: 1); endpoint.deallocate() }
        for storage in slotStorage { storage.deinitialize(count: CapabilitySpace.slots); storage.deallocate() }
        for utcb in utcbs { utcb.deinitialize(count: KernelObjectFixture.utcbWords); utcb.deallocate() }
    }

    /// A thread with the given priority and timeslice; with `ipc`, also its own task and a UTCB, and a context
    /// saved by the SYSCALL path.
    func thread(priority: UInt8 = 0, timeslice: UInt32 = 10, ipc: Bool = false) -> ThreadPointer {
        let thread = UnsafeMutablePointer<KernelCore.Thread>.allocate(capacity: 1)
        thread.initialize(to: KernelCore.Thread())
        thread.pointee.priority = priority
        thread.pointee.timeslice = timeslice
        threads.append(thread)
        if ipc {
            thread.pointee.task = task()
            thread.pointee.utcb = utcb()
            // It enters the kernel by SYSCALL, so RAX is where its system calls return their result.
            thread.pointee.context.vector = UserContext.syscallEntry
        }
        return thread
    }

    /// A zero-filled 512-word UTCB.
    func utcb() -> UnsafeMutablePointer<UInt64> {
        let utcb = UnsafeMutablePointer<UInt64>.allocate(capacity: KernelObjectFixture.utcbWords)
        utcb.initialize(repeating: 0, count: KernelObjectFixture.utcbWords)
        utcbs.append(utcb)
        return utcb
    }

    /// Storage for a capability space, filled with junk so tests can see that `CapabilitySpace.init` clears it.
    func capabilityStorage() -> CapabilityNodePointer {
        let storage = CapabilityNodePointer.allocate(capacity: CapabilitySpace.slots)
        var junk = CapabilityNode()
        junk.capability = Capability(type: .thread, object: 0xBAD0, rights: .all, badge: 0xBAD)
        junk.next = CapabilityNodePointer(bitPattern: 0xBAD0)
        storage.initialize(repeating: junk, count: CapabilitySpace.slots)
        slotStorage.append(storage)
        return storage
    }

    func capabilitySpace() -> CapabilitySpace {
        CapabilitySpace(storage: capabilityStorage())
    }

    func task() -> TaskPointer {
        let task = UnsafeMutablePointer<KernelCore.Task>.allocate(capacity: 1)
        task.initialize(to: KernelCore.Task(pageTableRoot: 0x1000, capabilities: capabilitySpace()))
        tasks.append(task)
        return task
    }

    func endpoint() -> EndpointPointer {
        let endpoint = UnsafeMutablePointer<Endpoint>.allocate(capacity: 1)
        endpoint.initialize(to: Endpoint())
        endpoints.append(endpoint)
        return endpoint
    }
}

/// The threads of a ThreadQueue from head to tail, checking on the way that the back links mirror the
/// forward links and that `tail` is the last thread.
func members(of queue: ThreadQueue, file: StaticString = #filePath, line: UInt = #line) -> [ThreadPointer] {
    var result: [ThreadPointer] = []
    var previous: ThreadPointer? = nil
    var cursor = queue.head
    while let thread = cursor {
        XCTAssertEqual(thread.pointee.previous, previous, "back link of queue member \(result.count)", file: file, line: line)
        result.append(thread)
        previous = thread
        cursor = thread.pointee.next
        if result.count > 1000 { XCTFail("queue does not end", file: file, line: line); break }
    }
    XCTAssertEqual(queue.tail, previous, "tail is the last member", file: file, line: line)
    return result
}

/// The threads of a TimeoutList in order, checking the back links and that wake-up ticks never decrease.
func members(of list: TimeoutList, file: StaticString = #filePath, line: UInt = #line) -> [ThreadPointer] {
    var result: [ThreadPointer] = []
    var previous: ThreadPointer? = nil
    var cursor = list.head
    while let thread = cursor {
        XCTAssertEqual(thread.pointee.timeoutPrevious, previous, "back link of timeout member \(result.count)",
                       file: file, line: line)
        XCTAssertTrue(thread.pointee.inTimeoutList, file: file, line: line)
        if let previous {
            XCTAssertLessThanOrEqual(previous.pointee.wakeupTime, thread.pointee.wakeupTime, "sorted", file: file, line: line)
        }
        result.append(thread)
        previous = thread
        cursor = thread.pointee.timeoutNext
        if result.count > 1000 { XCTFail("timeout list does not end", file: file, line: line); break }
    }
    return result
}

/// Empties the ready queues, highest priority first, FIFO within a priority.
func drain(_ ready: inout ReadyQueues) -> [ThreadPointer] {
    var result: [ThreadPointer] = []
    while let thread = ready.dequeueHighest() {
        result.append(thread)
        if result.count > 1000 { XCTFail("ready queues do not empty"); break }
    }
    return result
}

extension KernelCore.Thread {
    /// The message registers MR0-MR3 as an array (tuples are not Equatable in XCTAssert).
    var registerMessageArray: [UInt64] { (0..<4).map { context.messageRegister($0) } }

    /// Sets the outgoing message: tag in RSI, MR0-MR3 in registers, further words in the UTCB.
    mutating func setMessage(_ tag: MessageTag, _ words: [UInt64]) {
        context.rsi = tag.raw
        for (index, word) in words.enumerated() {
            if index < MessageTag.registerWords { context.setMessageRegister(index, word) } else { utcb![index] = word }
        }
    }

    var receivedTag: MessageTag { MessageTag(raw: context.rsi) }
}
