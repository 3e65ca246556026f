import XCTest
@testable import KernelCore
import SwiftletABI

/// Every capability naming an object is linked into the object's list (ObjectHeader): copies, badged
/// copies, transferred ones, saved replies and the TCB's copies, and destroy empties them all.
final class CapabilityListTests: XCTestCase {
    var fixture: KernelObjectFixture!

    override func setUp() {
        fixture = KernelObjectFixture()
        ObjectHeader.locate = ObjectHeader.header(of:)
    }

    override func tearDown() {
        ObjectHeader.locate = nil
        fixture = nil
    }

    func capability(_ endpoint: EndpointPointer, badge: UInt64 = 0, rights: Rights = .all) -> Capability {
        Capability(type: .endpoint, object: UInt64(UInt(bitPattern: endpoint)), rights: rights, badge: badge)
    }

    func header(_ endpoint: EndpointPointer) -> ObjectHeaderPointer {
        withUnsafeMutablePointer(to: &endpoint.pointee.header) { $0 }
    }

    func testNodesAreThirtyTwoBytesAndTheSpaceFillsTwoFrames() {
        XCTAssertEqual(MemoryLayout<Capability>.size, 16, "the capability itself stays 16 bytes")
        XCTAssertEqual(MemoryLayout<CapabilityNode>.stride, 32)
        XCTAssertEqual(CapabilitySpace.frames, 2)
        XCTAssertLessThanOrEqual(MemoryLayout<KernelCore.Thread>.size, KernelCore.Thread.fpuAreaOffset,
                                 "the TCB still ends before its FPU area")
    }

    func testInsertCopyAndDeleteLinkAndUnlinkInAnyOrder() {
        let endpoint = fixture.endpoint()
        let (a, b) = (fixture.capabilitySpace(), fixture.capabilitySpace())
        XCTAssertEqual(a.insert(capability(endpoint), at: 5), .ok)
        XCTAssertEqual(a.insert(capability(endpoint, badge: 7, rights: .send), at: 6), .ok)
        XCTAssertEqual(b.insert(capability(endpoint, rights: .receive), at: 5), .ok)
        XCTAssertEqual(ObjectHeader.count(header(endpoint)), 3)
        XCTAssertEqual(a.delete(6), .ok, "from the middle")
        XCTAssertEqual(ObjectHeader.count(header(endpoint)), 2)
        XCTAssertEqual(b.delete(5), .ok, "the head")
        XCTAssertEqual(ObjectHeader.count(header(endpoint)), 1)
        XCTAssertEqual(a.delete(5), .ok, "the last")
        XCTAssertNil(header(endpoint).pointee.capabilities)
        XCTAssertEqual(a.delete(5), .emptySlot, "a second delete changes nothing")
        XCTAssertNil(header(endpoint).pointee.capabilities)
    }

    func testRevokeAllEmptiesSlotsInEveryTaskAndTheTCBCopies() {
        let endpoint = fixture.endpoint()
        let other = fixture.endpoint()
        let (a, b) = (fixture.capabilitySpace(), fixture.capabilitySpace())
        let thread = fixture.thread()
        XCTAssertEqual(a.insert(capability(endpoint), at: 9), .ok)
        XCTAssertEqual(b.insert(capability(endpoint, badge: 3, rights: .send), at: 200), .ok)
        XCTAssertEqual(b.insert(capability(other), at: 201), .ok)
        KernelCore.Thread.setExceptionHandler(thread, capability(endpoint, rights: .send))
        KernelCore.Thread.setPager(thread, capability(endpoint, badge: 1, rights: .send))
        XCTAssertEqual(ObjectHeader.count(header(endpoint)), 4)

        XCTAssertEqual(ObjectHeader.revokeAll(header(endpoint)), 4)
        XCTAssertEqual(a.slot(9), .failure(.emptySlot))
        XCTAssertEqual(b.slot(200), .failure(.emptySlot))
        XCTAssertTrue(thread.pointee.exceptionHandler.isEmpty)
        XCTAssertTrue(thread.pointee.pager.isEmpty)
        XCTAssertEqual(b.slot(201), .success(capability(other)), "capabilities to other objects stay")
        XCTAssertEqual(ObjectHeader.count(header(other)), 1)
        XCTAssertEqual(a.insert(capability(other), at: 9), .ok, "an emptied slot takes a new capability")
        XCTAssertEqual(ObjectHeader.count(header(other)), 2)
    }

    func testReplacingATCBCopyRelinksIt() {
        let (first, second) = (fixture.endpoint(), fixture.endpoint())
        let thread = fixture.thread()
        KernelCore.Thread.setPager(thread, capability(first))
        KernelCore.Thread.setPager(thread, capability(second))
        XCTAssertNil(header(first).pointee.capabilities, "the old pager's list no longer holds the TCB")
        XCTAssertEqual(ObjectHeader.count(header(second)), 1)
        KernelCore.Thread.setPager(thread, .empty)
        XCTAssertNil(header(second).pointee.capabilities)
    }

    func testASavedReplyDiesWithItsCallerAndAnswersNoCaller() {
        let caller = fixture.thread()
        let space = fixture.capabilitySpace()
        let reply = Capability(type: .reply, object: UInt64(UInt(bitPattern: caller)), rights: .send, badge: 1)
        XCTAssertEqual(space.insert(reply, at: 30), .ok)
        let thread = Capability(type: .thread, object: UInt64(UInt(bitPattern: caller)), rights: .all)
        XCTAssertEqual(space.insert(thread, at: 31), .ok)
        let threadHeader = withUnsafeMutablePointer(to: &caller.pointee.header) { $0 }
        XCTAssertEqual(ObjectHeader.count(threadHeader), 2)
        XCTAssertEqual(ObjectHeader.revokeAll(threadHeader), 2)
        XCTAssertEqual(space.slot(30), .success(Capability.deadReply), "the reply stays, naming nobody")
        XCTAssertEqual(space.slot(31), .failure(.emptySlot))
        XCTAssertEqual(space.delete(30), .ok, "a dead reply is deleted like any capability")
    }

    func testCapabilitiesToUndestroyableObjectsAreNotLinked() {
        let space = fixture.capabilitySpace()
        XCTAssertEqual(space.insert(Capability(type: .machine, object: 1, rights: .control), at: 4), .ok)
        XCTAssertNil(space.node(4).pointee.next)
        XCTAssertEqual(space.delete(4), .ok)
        XCTAssertNil(ObjectHeader.header(of: Capability.deadReply))
    }

    func testClearAllUnlinksEveryCapabilityATaskHeld() {
        let endpoint = fixture.endpoint()
        let (a, b) = (fixture.capabilitySpace(), fixture.capabilitySpace())
        for selector: UInt64 in 1...255 { XCTAssertEqual(a.insert(capability(endpoint), at: selector), .ok) }
        XCTAssertEqual(b.insert(capability(endpoint), at: 1), .ok)
        a.clearAll()
        XCTAssertEqual(ObjectHeader.count(header(endpoint)), 1)
        XCTAssertEqual(b.slot(1), .success(capability(endpoint)))
    }
}

final class FactoryLiveObjectTests: XCTestCase {
    func testObjectChargesAreCountedAndRefundedExactly() {
        var factory = Factory(framesLeft: 10)
        XCTAssertTrue(factory.chargeObject(4))
        XCTAssertTrue(factory.chargeObject(1))
        XCTAssertFalse(factory.chargeObject(6), "beyond the quota")
        XCTAssertEqual(factory.liveObjects, 2, "a refused charge makes nothing")
        factory.refundObject(4)
        factory.refundObject(1)
        XCTAssertEqual(factory.liveObjects, 0)
        XCTAssertEqual(factory.framesLeft, 10)
    }
}

/// Every object made from a factory is in its `made` list (ObjectHeader.enlist/delist), which destroying
/// the factory walks: the list holds exactly the objects alive, in any order of destroys.
final class FactoryListTests: XCTestCase {
    func listed(_ factory: UnsafeMutablePointer<Factory>) -> [UInt] {
        var objects: [UInt] = []
        var cursor = factory.pointee.made
        while let header = cursor {
            XCTAssertEqual(header.pointee.factory, factory)
            if let next = header.pointee.nextMade { XCTAssertEqual(next.pointee.previousMade, header, "links agree") }
            objects.append(header.pointee.object)
            cursor = header.pointee.nextMade
        }
        return objects
    }

    func testEnlistAndDelistInAnyOrderKeepExactlyTheLiveObjects() {
        let factory = UnsafeMutablePointer<Factory>.allocate(capacity: 1)
        factory.initialize(to: Factory(framesLeft: 10))
        let headers = UnsafeMutablePointer<ObjectHeader>.allocate(capacity: 4)
        headers.initialize(repeating: ObjectHeader(), count: 4)
        defer {
            headers.deallocate()
            factory.deallocate()
        }
        for index in 0..<4 {
            ObjectHeader.enlist(headers + index, kind: .endpoint, object: UInt(100 + index), factory: factory)
        }
        XCTAssertEqual(listed(factory), [103, 102, 101, 100], "newest first")
        ObjectHeader.delist(headers + 2)                          // the middle
        XCTAssertEqual(listed(factory), [103, 101, 100])
        ObjectHeader.delist(headers + 3)                          // the head
        XCTAssertEqual(listed(factory), [101, 100])
        ObjectHeader.delist(headers + 0)                          // the tail
        XCTAssertEqual(listed(factory), [101])
        ObjectHeader.delist(headers + 1)
        XCTAssertNil(factory.pointee.made)
        XCTAssertNil(headers[1].nextMade)
        XCTAssertNil(headers[1].previousMade)
    }

    func testABootTimeObjectIsInNoList() {
        var header = ObjectHeader()
        ObjectHeader.enlist(&header, kind: .task, object: 7, factory: nil)
        XCTAssertNil(header.factory)
        ObjectHeader.delist(&header)                              // nothing to take it out of
        XCTAssertEqual(header.kind, .task)
    }
}

final class FramePairTests: XCTestCase {
    func testAPairIsTwoAdjacentFramesAndIsFoundAmongHoles() {
        let storage = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 2)
        defer { storage.deallocate() }
        var allocator = FrameAllocator(bitmap: storage, frameLimit: 128)
        // Free frames 1, 3, 5 (single holes) and 9-10 (a pair).
        for frame: UInt64 in [1, 3, 5, 9, 10] { allocator.addFree(PhysicalRange(start: frame * 4096, size: 4096)) }
        XCTAssertEqual(allocator.allocatePair(), 9 * 4096)
        XCTAssertEqual(allocator.freeFrames, 3)
        XCTAssertFalse(allocator.isFree(address: 9 * 4096))
        XCTAssertFalse(allocator.isFree(address: 10 * 4096))
        XCTAssertNil(allocator.allocatePair(), "only single holes left")
        XCTAssertEqual(allocator.freeFrames, 3, "a failed pair takes nothing")
        allocator.release(9 * 4096)
        allocator.release(10 * 4096)
        XCTAssertEqual(allocator.freeFrames, 5)
    }
}

/// The IPC side of destroy: nothing in the IPC state points to a destroyed endpoint or thread.
final class TeardownTests: IPCTestCase {
    func testAbortingAnEndpointWakesItsSendersWithAborted() {
        let (a, b) = (thread(), thread())
        sending(a, timeout: .microseconds(50_000))
        sending(b, call: true)
        IPC.abortAll(on: endpoint, scheduler: &scheduler)
        XCTAssertTrue(endpoint.pointee.senders.isEmpty)
        for sender in [a, b] {
            XCTAssertEqual(sender.pointee.context.rax, SyscallError.aborted.rawValue)
            XCTAssertNil(sender.pointee.queuedOn)
            XCTAssertFalse(sender.pointee.inTimeoutList)
            XCTAssertEqual(sender.pointee.state, .ready)
        }
        XCTAssertNil(scheduler.timeouts.head, "no timeout left to fire on a dead endpoint")
    }

    func testAbortingAnEndpointWakesItsReceiversWithAborted() {
        let (a, b) = (thread(), thread())
        waiting(a, timeout: .microseconds(10_000))
        waiting(b)
        IPC.abortAll(on: endpoint, scheduler: &scheduler)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertEqual(a.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertEqual(b.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertNil(scheduler.timeouts.head)
    }

    func testRemovingTheCurrentThreadRunsAnother() {
        let (victim, other) = (thread(priority: 10), thread(priority: 5))
        scheduler.wake(other)
        run(victim)
        IPC.remove(victim, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, other)
        XCTAssertEqual(victim.pointee.state, .inactive)
        XCTAssertNil(scheduler.ready.highestPriority)
    }

    func testRemovingAReadyThreadTakesItOffTheReadyQueue() {
        let (victim, runner) = (thread(priority: 5), thread(priority: 10))
        run(runner)
        scheduler.wake(victim)
        IPC.remove(victim, scheduler: &scheduler)
        XCTAssertNil(scheduler.ready.highestPriority)
        XCTAssertEqual(scheduler.current, runner)
    }

    /// A client's call received by a server, which now runs.
    func callInProgress(file: StaticString = #filePath, line: UInt = #line) -> (client: ThreadPointer, server: ThreadPointer) {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server, file: file, line: line)
        run(client, file: file, line: line)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, server, file: file, line: line)
        return (client, server)
    }

    func testRemovingACallerLeavesTheServerNoCaller() {
        let (client, server) = callInProgress()
        IPC.remove(client, scheduler: &scheduler)
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .noCaller)
    }

    func testRemovingTheServerCurrentlyRunningAbortsItsCaller() {
        let (client, server) = callInProgress()
        IPC.remove(server, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertNil(client.pointee.callee)
        XCTAssertEqual(scheduler.current, client, "the server destroyed itself: its caller runs")
        XCTAssertEqual(server.pointee.state, .inactive)
    }

    /// A server holding saved replies is destroyed: every caller it saved is aborted, not left waiting
    /// for a thread that is gone; the one it answered is off its list.
    func testRemovingAServerAbortsTheCallersItSaved() {
        let server = thread(priority: 10)
        var callers: [ThreadPointer] = []
        for _ in 0..<3 {
            let caller = thread(priority: 10)
            waiting(server)
            run(caller)
            IPC.send(caller, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
            XCTAssertEqual(scheduler.current, server)
            IPC.saveCaller(server)
            XCTAssertNil(server.pointee.caller)
            XCTAssertEqual(caller.pointee.savedBy, server)
            IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
            callers.append(caller)
        }
        run(server)
        let answered = callers[1]
        XCTAssertEqual(IPC.replySaved(server, to: answered, callNumber: answered.pointee.callCount, scheduler: &scheduler), .ok)
        XCTAssertNil(answered.pointee.savedBy, "an answered caller is off the list")
        IPC.remove(server, scheduler: &scheduler)
        for caller in [callers[0], callers[2]] {
            XCTAssertEqual(caller.pointee.context.rax, SyscallError.aborted.rawValue)
            XCTAssertNil(caller.pointee.callee)
            XCTAssertNil(caller.pointee.savedBy)
        }
        XCTAssertEqual(answered.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertNil(server.pointee.savedCallers)
    }

    /// A saved caller destroyed (or stopped) before the answer leaves the server's saved list.
    func testRemovingASavedCallerTakesItOffTheServersList() {
        let (client, server) = callInProgress()
        IPC.saveCaller(server)
        IPC.remove(client, scheduler: &scheduler)
        XCTAssertNil(server.pointee.savedCallers)
        XCTAssertEqual(IPC.replySaved(server, to: client, callNumber: 1, scheduler: &scheduler), .noCaller)
    }

    /// A saved reply keeps caller A waiting while the server serves B: detaching A must not take B's
    /// reply (it used to clear the server's current caller whoever it was).
    func testDetachingASavedCallerKeepsTheServersCurrentCaller() {
        let (a, b, server) = (thread(priority: 10), thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(a)
        IPC.send(a, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, server)
        IPC.saveCaller(server)                // A now waits for the reply capability
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        run(b)
        IPC.send(b, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.caller, b)
        IPC.detach(a, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.caller, b, "B still gets its reply")
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .ok)
        XCTAssertEqual(b.pointee.context.rax, SyscallError.ok.rawValue)
    }
}

/// Destroying a task frees every page table of its user half (children first) and nothing of the kernel half.
final class PageTableTeardownTests: XCTestCase {
    func testEveryUserTableIsVisitedOnceChildrenFirstAndTheKernelHalfIsLeft() throws {
        let memory = FakeTables()
        var builder = PageTableBuilder(root: 0x1000, memory: memory)
        let attributes = MappingAttributes(access: .readWrite, user: true)
        try builder.map(0x1000, to: 0x5000, size: .size4K, attributes: attributes)
        try builder.map(0x2000, to: 0x6000, size: .size4K, attributes: attributes)          // same tables
        try builder.map(0x40_0000, to: 0x7000, size: .size4K, attributes: attributes)       // a second PT
        try builder.map(0x0000_7F00_0000_0000, to: 0x8000, size: .size4K, attributes: attributes)  // another PDPT
        try builder.map(0xFFFF_8000_0000_0000, to: 0, size: .size2M, attributes: .kernelData)    // kernel half
        let userTables = memory.tables.count - 1 - 2              // less the root and the kernel's PDPT and PD
        var visited: [PhysicalAddress] = []
        builder.forEachTable(underRootEntries: 0..<256) { visited.append($0) }
        XCTAssertEqual(visited.count, userTables)
        XCTAssertEqual(Set(visited).count, visited.count, "each table once")
        XCTAssertFalse(visited.contains(0x1000), "not the root")
        // Children first: every table comes after the tables it points to.
        for (position, table) in visited.enumerated() {
            for entry in memory.tables[table]! where entry.isPresent && !entry.isLeaf(level: 1) {
                if let child = visited.firstIndex(of: entry.address) { XCTAssertLessThan(child, position) }
            }
        }
    }
}

final class TaskThreadListTests: XCTestCase {
    func testThreadsAreAttachedAndDetachedInAnyOrder() {
        let fixture = KernelObjectFixture()
        let task = fixture.task()
        let threads = (0..<3).map { _ in fixture.thread() }
        for thread in threads { KernelCore.Task.attach(thread, to: task) }
        XCTAssertEqual(task.pointee.threads, 3)
        KernelCore.Task.detach(threads[1], from: task)            // the middle
        KernelCore.Task.detach(threads[2], from: task)            // the head
        XCTAssertEqual(task.pointee.threadList, threads[0])
        XCTAssertNil(threads[0].pointee.taskNext)
        XCTAssertNil(threads[0].pointee.taskPrevious)
        KernelCore.Task.detach(threads[0], from: task)
        XCTAssertNil(task.pointee.threadList)
        XCTAssertEqual(task.pointee.threads, 0)
    }
}

/// Destroying an interrupt (or unbinding it from a destroyed endpoint) takes it off the endpoint's
/// pending list wherever it is, keeping the list's head and tail right.
final class PendingInterruptRemovalTests: XCTestCase {
    func testRemovingFromTheHeadMiddleAndTail() {
        var endpoint = Endpoint()
        let interrupts = (0..<4).map { line -> InterruptPointer in
            let interrupt = InterruptPointer.allocate(capacity: 1)
            interrupt.initialize(to: Interrupt(line: UInt32(line)))
            return interrupt
        }
        defer { for interrupt in interrupts { interrupt.deinitialize(count: 1); interrupt.deallocate() } }
        for interrupt in interrupts { endpoint.appendPending(interrupt) }
        endpoint.removePending(interrupts[1])        // middle
        endpoint.removePending(interrupts[3])        // tail
        XCTAssertEqual(endpoint.pendingInterruptsTail, interrupts[2])
        endpoint.removePending(interrupts[0])        // head
        endpoint.removePending(interrupts[0])        // not there: nothing changes
        XCTAssertEqual(endpoint.takePending(), interrupts[2])
        XCTAssertNil(endpoint.takePending())
        XCTAssertNil(endpoint.pendingInterruptsTail)
        endpoint.appendPending(interrupts[3])
        XCTAssertEqual(endpoint.takePending(), interrupts[3], "the list still works after removals")
    }
}
