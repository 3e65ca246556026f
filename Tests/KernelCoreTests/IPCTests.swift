import XCTest
@testable import KernelCore
import SwiftletABI

/// IPC between threads on endpoints: message transfer, call/reply, timeouts, capability transfer, faults.
class IPCTestCase: XCTestCase {
    var fixture: KernelObjectFixture!
    var scheduler = Scheduler(hz: 100)
    var endpoint: EndpointPointer!

    override func setUp() {
        fixture = KernelObjectFixture()
        scheduler = Scheduler(hz: 100)
        endpoint = fixture.endpoint()
    }

    override func tearDown() {
        endpoint = nil
        fixture = nil
    }

    /// A thread with its own task (capability space) and UTCB.
    func thread(priority: UInt8 = 10) -> ThreadPointer { fixture.thread(priority: priority, ipc: true) }

    /// Makes `thread` the current thread, as if it had just entered the kernel with a system call.
    func run(_ thread: ThreadPointer, file: StaticString = #filePath, line: UInt = #line) {
        scheduler.start(thread)
        XCTAssertEqual(scheduler.current, thread, "the thread runs", file: file, line: line)
    }

    /// Runs `thread` and has it wait on the endpoint until a message comes.
    func waiting(_ thread: ThreadPointer, timeout: Timeout = .infinite, file: StaticString = #filePath, line: UInt = #line) {
        run(thread, file: file, line: line)
        IPC.wait(thread, on: endpoint, timeout: timeout, scheduler: &scheduler)
        XCTAssertEqual(thread.pointee.state, .receiving, file: file, line: line)
    }

    /// Runs `thread` and has it send (or call) on the endpoint, where nobody waits, so it blocks.
    func sending(_ thread: ThreadPointer, badge: UInt64 = 0, call: Bool = false, canGrant: Bool = false,
                 timeout: Timeout = .infinite, file: StaticString = #filePath, line: UInt = #line) {
        run(thread, file: file, line: line)
        IPC.send(thread, to: endpoint, badge: badge, call: call, canGrant: canGrant, timeout: timeout, scheduler: &scheduler)
        XCTAssertEqual(thread.pointee.state, .sending(call: call), file: file, line: line)
    }

    func tick(_ count: Int = 1) {
        for _ in 0..<count { scheduler.tick(expire: IPC.expire) }
    }

    /// The slot the fast-path tests put the endpoint capability in.
    let slot: UInt64 = 9

    /// Puts an endpoint capability with `rights` and `badge` into `thread`'s slot 9.
    func give(_ thread: ThreadPointer, rights: Rights, badge: UInt64 = 0) {
        let capability = Capability(type: .endpoint, object: UInt64(UInt(bitPattern: endpoint)), rights: rights, badge: badge)
        XCTAssertEqual(thread.pointee.task!.pointee.capabilities.insert(capability, at: slot), .ok)
    }

    /// Loads a system call into `thread`'s saved registers as the entry code would.
    func enter(_ thread: ThreadPointer, _ number: Syscall, tag: MessageTag, words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0),
               timeout: Timeout = .infinite) {
        thread.pointee.context.rax = number.rawValue
        thread.pointee.context.rdi = slot
        thread.pointee.context.rsi = tag.raw
        thread.pointee.context.registerMessage = words
        thread.pointee.context.r12 = timeout.raw
    }

    func isQueued(_ thread: ThreadPointer) -> Bool {
        thread.pointee.next != nil || thread.pointee.previous != nil || thread.pointee.queuedOn != nil
    }
}

final class MessageTransferTests: IPCTestCase {
    func testSendToAWaitingReceiverTransfersTagRegistersAndBadge() {
        let (client, server) = (thread(), thread())
        waiting(server)
        XCTAssertEqual(members(of: endpoint.pointee.receivers), [server])
        XCTAssertEqual(server.pointee.queuedOn, endpoint)
        XCTAssertNil(scheduler.current)

        run(client)
        let tag = MessageTag(label: 0x42, words: 4)
        client.pointee.setMessage(tag, [11, 22, 33, 44])
        client.pointee.context.rax = 0xDEAD
        server.pointee.context.rdi = 0xDEAD
        server.pointee.context.rax = 0xDEAD
        IPC.send(client, to: endpoint, badge: 0xBAD6E, call: false, canGrant: false, timeout: .infinite, scheduler: &scheduler)

        XCTAssertEqual(server.pointee.receivedTag, tag)
        XCTAssertEqual(server.pointee.registerMessageArray, [11, 22, 33, 44])
        XCTAssertEqual([server.pointee.context.rdx, server.pointee.context.r10, server.pointee.context.r8,
                        server.pointee.context.r9], [11, 22, 33, 44], "MR0-MR3 are RDX R10 R8 R9")
        XCTAssertEqual(server.pointee.context.rdi, 0xBAD6E, "the receiver sees the badge in RDI")
        XCTAssertEqual(server.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertNil(server.pointee.queuedOn)
        XCTAssertEqual(server.pointee.state, .ready, "equal priority: the receiver queues")
        XCTAssertEqual(scheduler.current, client, "the sender keeps running")
        XCTAssertEqual(client.pointee.state, .running)
        XCTAssertNil(server.pointee.caller, "a send expects no reply")
        XCTAssertEqual(drain(&scheduler.ready), [server])
    }

    func testSendToAHigherPriorityReceiverPreemptsTheSender() {
        let (client, server) = (thread(priority: 10), thread(priority: 20))
        waiting(server)
        run(client)
        client.pointee.setMessage(MessageTag(label: 1, words: 1), [5])
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: false, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, server)
        XCTAssertEqual(server.pointee.state, .running)
        XCTAssertEqual(client.pointee.state, .ready)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue, "a waiting receiver makes a zero timeout succeed")
        XCTAssertEqual(server.pointee.context.rdx, 5)
    }

    func testLongMessagesCopyUTCBWordsBeyondTheRegisters() {
        let (client, server) = (thread(), thread())
        waiting(server)
        for index in 0..<KernelObjectFixture.utcbWords { server.pointee.utcb![index] = 0xEEEE }
        run(client)
        let words = (0..<10).map { UInt64(100 + $0) }
        client.pointee.setMessage(MessageTag(label: 7, words: 10), words)
        client.pointee.utcb![10] = 0xFFFF   // beyond the message
        client.pointee.utcb![0] = 0xAAAA    // MR0 travels in RDX, not in the UTCB
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: false, timeout: .infinite, scheduler: &scheduler)

        XCTAssertEqual(server.pointee.registerMessageArray, [100, 101, 102, 103])
        XCTAssertEqual((4..<10).map { server.pointee.utcb![$0] }, Array(words[4...]))
        XCTAssertEqual(server.pointee.utcb![10], 0xEEEE, "nothing past the message is copied")
        XCTAssertEqual((0..<4).map { server.pointee.utcb![$0] }, [0xEEEE, 0xEEEE, 0xEEEE, 0xEEEE],
                       "the register words are not copied through the UTCB")
        XCTAssertEqual(server.pointee.receivedTag.words, 10)
    }

    func testAMaximalMessageCopiesAllSixtyFourWords() {
        let (client, server) = (thread(), thread())
        waiting(server)
        server.pointee.utcb![UTCBLayout.receiveSlot / 8] = 0x77
        run(client)
        let words = (0..<64).map { UInt64(1000 + $0) }
        client.pointee.setMessage(MessageTag(label: 7, words: 64), words)
        client.pointee.utcb![64] = 0x99
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.registerMessageArray + (4..<64).map { server.pointee.utcb![$0] }, words)
        XCTAssertEqual(server.pointee.utcb![UTCBLayout.receiveSlot / 8], 0x77, "the receive slot word is not message data")
    }

    func testSendersAreServedInOrderWithTheirOwnBadges() {
        let senders = (0..<3).map { _ in thread() }
        for (index, sender) in senders.enumerated() {
            sender.pointee.setMessage(MessageTag(label: UInt64(index), words: 1), [UInt64(50 + index)])
            sending(sender, badge: UInt64(0xB0 + index))
        }
        XCTAssertEqual(members(of: endpoint.pointee.senders), senders)
        let server = thread(priority: 30)
        run(server)
        for index in 0..<3 {
            IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
            XCTAssertEqual(server.pointee.context.rdi, UInt64(0xB0 + index))
            XCTAssertEqual(server.pointee.receivedTag.label, UInt64(index))
            XCTAssertEqual(server.pointee.context.rdx, UInt64(50 + index))
            XCTAssertEqual(senders[index].pointee.state, .ready)
        }
        XCTAssertTrue(endpoint.pointee.senders.isEmpty)
        XCTAssertEqual(drain(&scheduler.ready), senders)
    }

    func testTheReceiverNeverSeesAStaleTransferFailedFlag() {
        let (client, server) = (thread(), thread())
        waiting(server)
        run(client)
        // A proxy forwarding a tag it received with the flag set: the kernel, not the sender, sets the flag.
        client.pointee.setMessage(MessageTag(label: 3, words: 1).with(transferFailed: true), [1])
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: true, timeout: .infinite, scheduler: &scheduler)
        XCTAssertFalse(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(server.pointee.receivedTag, MessageTag(label: 3, words: 1))
    }
}

final class CallReplyTests: IPCTestCase {
    func testCallSwitchesDirectlyToTheReceiverWhichThenReplies() {
        let (client, server) = (thread(priority: 10), thread(priority: 5))
        waiting(server)
        run(client)
        client.pointee.setMessage(MessageTag(label: 0x10, words: 2), [1, 2])
        IPC.send(client, to: endpoint, badge: 0xC, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)

        XCTAssertEqual(client.pointee.state, .waitingForReply)
        XCTAssertEqual(server.pointee.caller, client)
        XCTAssertEqual(scheduler.current, server, "the CPU goes straight to the receiver, even a lower-priority one")
        XCTAssertEqual(server.pointee.state, .running)
        XCTAssertFalse(isQueued(client), "a caller waiting for its reply is in no queue")
        XCTAssertFalse(client.pointee.inTimeoutList, "the reply phase has no timeout")
        XCTAssertNil(scheduler.ready.highestPriority)
        XCTAssertEqual(server.pointee.receivedTag.label, 0x10)
        XCTAssertEqual(server.pointee.context.rdi, 0xC)

        server.pointee.setMessage(MessageTag(label: 0x20, words: 6), [9, 8, 7, 6, 5, 4])
        server.pointee.context.rdi = 0x5555
        client.pointee.context.rdi = 0x7777
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .ok)
        XCTAssertNil(server.pointee.caller)
        XCTAssertEqual(client.pointee.receivedTag, MessageTag(label: 0x20, words: 6))
        XCTAssertEqual(client.pointee.registerMessageArray, [9, 8, 7, 6])
        XCTAssertEqual([client.pointee.utcb![4], client.pointee.utcb![5]], [5, 4])
        XCTAssertEqual(client.pointee.context.rdi, 0, "replies carry no badge")
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(scheduler.current, client, "the woken higher-priority caller preempts the server")
        XCTAssertEqual(server.pointee.state, .ready)
    }

    func testCallFallsBackToQueueingWhenAHigherPriorityThreadIsReady() {
        let (client, server, other) = (thread(priority: 20), thread(priority: 5), thread(priority: 10))
        waiting(server)
        run(client)
        scheduler.wake(other)
        XCTAssertEqual(scheduler.current, client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.state, .waitingForReply)
        XCTAssertEqual(server.pointee.caller, client)
        XCTAssertEqual(scheduler.current, other, "the ready thread outranks the receiver")
        XCTAssertEqual(server.pointee.state, .ready)
        XCTAssertEqual(drain(&scheduler.ready), [server])
    }

    func testReplyWithoutACallerFails() {
        let server = thread()
        run(server)
        server.pointee.setMessage(MessageTag(label: 1, words: 1), [1])
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: true), .noCaller)
        XCTAssertEqual(scheduler.current, server)
        XCTAssertEqual(server.pointee.state, .running)
    }

    func testReplyingTwiceFailsTheSecondTime() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .ok)
        XCTAssertEqual(client.pointee.state, .ready)
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .noCaller)
        XCTAssertEqual(drain(&scheduler.ready), [client], "the caller was woken once")
    }

    /// A server keeps caller A's reply right (saveCaller: its current caller is cleared), takes caller B,
    /// answers A through the saved right, then B with a plain reply: both get their own reply. (The saved
    /// reply once made A the current caller, so B was overwritten and waited forever.)
    func testASavedReplyLeavesTheCurrentCallerInPlace() {
        let (callerA, callerB, server) = (thread(priority: 10), thread(priority: 10), thread(priority: 10))
        sending(callerA, call: true)
        sending(callerB, call: true)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.caller, callerA)
        let savedCall = callerA.pointee.callCount & Capability.maximumBadge    // the reply capability's badge
        server.pointee.caller = nil                                            // what saveCaller does
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.caller, callerB)
        XCTAssertEqual(callerA.pointee.state, .waitingForReply)

        server.pointee.setMessage(MessageTag(label: 0xA, words: 1), [1])
        XCTAssertEqual(IPC.replySaved(server, to: callerA, callNumber: savedCall, scheduler: &scheduler), .ok)
        XCTAssertEqual(callerA.pointee.receivedTag, MessageTag(label: 0xA, words: 1))
        XCTAssertEqual(callerA.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(server.pointee.caller, callerB, "the current caller is still there")
        XCTAssertEqual(callerB.pointee.callee, server)
        XCTAssertEqual(callerB.pointee.state, .waitingForReply)

        server.pointee.setMessage(MessageTag(label: 0xB, words: 1), [2])
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .ok)
        XCTAssertEqual(callerB.pointee.receivedTag, MessageTag(label: 0xB, words: 1))
        XCTAssertEqual(callerB.pointee.registerMessageArray.first, 2)
        XCTAssertNil(server.pointee.caller)
        XCTAssertEqual(drain(&scheduler.ready).count, 2, "both callers were woken")
        XCTAssertEqual(IPC.replySaved(server, to: callerA, callNumber: savedCall, scheduler: &scheduler), .noCaller,
                       "a saved reply answers its call once")
    }

    /// A saved reply right belongs to one call: once the caller has called again, or calls someone else,
    /// it no longer answers.
    func testASavedReplyAnswersOnlyThatCallOfThatServer() {
        let (caller, server, other) = (thread(priority: 10), thread(priority: 10), thread(priority: 10))
        sending(caller, call: true)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        let savedCall = caller.pointee.callCount & Capability.maximumBadge
        XCTAssertEqual(IPC.replySaved(other, to: caller, callNumber: savedCall, scheduler: &scheduler), .noCaller,
                       "another thread cannot answer it")
        XCTAssertEqual(IPC.replySaved(server, to: caller, callNumber: savedCall &+ 1, scheduler: &scheduler), .noCaller,
                       "nor a right to an earlier or later call")
        XCTAssertEqual(caller.pointee.state, .waitingForReply)
        XCTAssertEqual(server.pointee.caller, caller)
    }

    func testWaitTakesAQueuedCaller() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        client.pointee.setMessage(MessageTag(label: 0x31, words: 1), [0x99])
        sending(client, badge: 0x44, call: true, timeout: .microseconds(50_000))
        XCTAssertTrue(client.pointee.inTimeoutList)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.state, .waitingForReply)
        XCTAssertEqual(server.pointee.caller, client)
        XCTAssertEqual(scheduler.current, server)
        XCTAssertEqual(server.pointee.receivedTag.label, 0x31)
        XCTAssertEqual(server.pointee.context.rdx, 0x99)
        XCTAssertEqual(server.pointee.context.rdi, 0x44)
        XCTAssertFalse(client.pointee.inTimeoutList, "the send phase is over")
        XCTAssertFalse(isQueued(client))
        XCTAssertNil(scheduler.ready.highestPriority, "the caller is not runnable until the reply")
        tick(20)
        XCTAssertEqual(client.pointee.state, .waitingForReply, "no timeout in the reply phase")
    }

    func testWaitTakesAQueuedSenderAndWakesIt() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        client.pointee.setMessage(MessageTag(label: 0x32, words: 2), [3, 4])
        client.pointee.context.rax = 0xDEAD
        sending(client, badge: 0x45, timeout: .microseconds(30_000))
        run(server)
        IPC.wait(server, on: endpoint, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(server.pointee.context.rdi, 0x45)
        XCTAssertEqual(server.pointee.registerMessageArray[0...1], [3, 4])
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(client.pointee.state, .ready)
        XCTAssertNil(client.pointee.queuedOn)
        XCTAssertFalse(client.pointee.inTimeoutList)
        XCTAssertNil(server.pointee.caller)
        XCTAssertEqual(scheduler.current, server)
        tick(5)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue, "the timeout no longer fires")
    }

    func testReplyWaitWithACallerAndNoPendingSenderSwitchesToTheCaller() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, server)

        server.pointee.setMessage(MessageTag(label: 0x77, words: 1), [123])
        IPC.replyWait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, client, "the CPU goes straight back to the caller")
        XCTAssertEqual(client.pointee.state, .running)
        XCTAssertEqual(client.pointee.receivedTag.label, 0x77)
        XCTAssertEqual(client.pointee.context.rdx, 123)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertNil(server.pointee.caller)
        XCTAssertEqual(server.pointee.state, .receiving)
        XCTAssertEqual(server.pointee.queuedOn, endpoint)
        XCTAssertEqual(members(of: endpoint.pointee.receivers), [server])
        XCTAssertNil(scheduler.ready.highestPriority)

        // The next call goes straight to the waiting server: a complete round trip without any queue.
        client.pointee.setMessage(MessageTag(label: 0x78, words: 1), [124])
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, server)
        XCTAssertEqual(server.pointee.context.rdx, 124)
        XCTAssertEqual(server.pointee.caller, client)
    }

    func testReplyWaitArmsTheServersTimeout() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        IPC.replyWait(server, on: endpoint, timeout: .microseconds(20_000), scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, client)
        XCTAssertTrue(server.pointee.inTimeoutList)
        tick(1)      // 2 ticks of 10 ms: the clock (microseconds here) reaches the deadline at the second
        XCTAssertEqual(server.pointee.state, .receiving)
        tick(1)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(server.pointee.state, .ready)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
    }

    func testReplyWaitWithAPendingSenderRepliesAndReceivesAtOnce() {
        let (first, second, server) = (thread(priority: 10), thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(first)
        IPC.send(first, to: endpoint, badge: 1, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, server)
        // A second client calls while the server works: it has to queue.
        scheduler.wake(second)
        scheduler.yield()
        XCTAssertEqual(scheduler.current, second)
        second.pointee.setMessage(MessageTag(label: 0x2, words: 1), [0x222])
        IPC.send(second, to: endpoint, badge: 2, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(second.pointee.state, .sending(call: true))
        XCTAssertEqual(scheduler.current, server)

        server.pointee.setMessage(MessageTag(label: 0x1, words: 1), [0x111])
        IPC.replyWait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(first.pointee.context.rdx, 0x111, "the first caller got its reply")
        XCTAssertEqual(first.pointee.state, .ready)
        XCTAssertEqual(scheduler.current, server, "the server goes on with the next request")
        XCTAssertEqual(server.pointee.context.rdx, 0x222)
        XCTAssertEqual(server.pointee.context.rdi, 2)
        XCTAssertEqual(server.pointee.caller, second)
        XCTAssertEqual(second.pointee.state, .waitingForReply)
        XCTAssertTrue(endpoint.pointee.senders.isEmpty)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertEqual(drain(&scheduler.ready), [first])
    }

    func testReplyWaitWithZeroTimeoutRepliesAndPolls() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        IPC.replyWait(server, on: endpoint, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.state, .ready)
        XCTAssertEqual(scheduler.current, server)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
    }

    func testReplyWaitWithoutACallerIsAWait() {
        let server = thread()
        run(server)
        IPC.replyWait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.state, .receiving)
        XCTAssertEqual(members(of: endpoint.pointee.receivers), [server])
        XCTAssertNil(scheduler.current)
    }
}

final class IPCTimeoutTests: IPCTestCase {
    func testSendWithoutAReceiverAndZeroTimeoutFailsWithoutBlocking() {
        let client = thread()
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: false, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(client.pointee.state, .running)
        XCTAssertEqual(scheduler.current, client)
        XCTAssertTrue(endpoint.pointee.senders.isEmpty)
        XCTAssertFalse(client.pointee.inTimeoutList)
        XCTAssertFalse(isQueued(client))

        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(client.pointee.state, .running, "a call that cannot send does not wait for a reply")
    }

    func testWaitWithoutASenderAndZeroTimeoutFailsWithoutBlocking() {
        let server = thread()
        run(server)
        IPC.wait(server, on: endpoint, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(server.pointee.state, .running)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertEqual(scheduler.current, server)
    }

    func testSendWithAFiniteTimeoutBlocksAndExpiresAfterItsTicks() {
        let cases: [(hz: UInt64, microseconds: UInt64)] = [
            (100, 1), (100, 10_000), (100, 10_001), (100, 25_000), (1000, 2_500), (250, 10_001), (10, 350_000),
        ]
        for (hz, microseconds) in cases {
            fixture = KernelObjectFixture()
            endpoint = fixture.endpoint()
            scheduler = Scheduler(hz: hz)
            let timeout = Timeout.microseconds(microseconds)
            // The clock (microseconds here) advances by a tick period per tick: the first tick at or after
            // the deadline wakes it, never an earlier one.
            let ticks = Int(timeout.ticks(hz: hz))
            let label = "\(microseconds) µs at \(hz) Hz = \(ticks) ticks"

            let idle = thread(priority: 0)
            run(idle)
            tick(3)   // the timeout is relative to now
            let client = thread(priority: 10)
            client.pointee.context.rax = 0xDEAD
            sending(client, timeout: timeout)
            XCTAssertEqual(members(of: endpoint.pointee.senders), [client], label)
            XCTAssertEqual(client.pointee.queuedOn, endpoint, label)
            XCTAssertEqual(members(of: scheduler.timeouts), [client], label)
            XCTAssertEqual(client.pointee.wakeupTime, 3 * (1_000_000 / hz) + microseconds, label)
            XCTAssertEqual(scheduler.current, idle, label)

            tick(ticks - 1)
            XCTAssertEqual(client.pointee.state, .sending(call: false), label)
            XCTAssertEqual(client.pointee.context.rax, 0xDEAD, label)
            tick()
            XCTAssertEqual(client.pointee.context.rax, SyscallError.timeout.rawValue, label)
            XCTAssertEqual(scheduler.current, client, "\(label): woken and preempting the idle thread")
            XCTAssertTrue(endpoint.pointee.senders.isEmpty, label)
            XCTAssertNil(client.pointee.queuedOn, label)
            XCTAssertFalse(client.pointee.inTimeoutList, label)
            XCTAssertNil(scheduler.timeouts.head, label)
        }
    }

    func testACallsTimeoutBoundsTheSendPhase() {
        let client = thread()
        sending(client, call: true, timeout: .microseconds(20_000))
        tick(1)
        XCTAssertEqual(client.pointee.state, .sending(call: true), "never early")
        tick(1)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(client.pointee.state, .running)
        XCTAssertTrue(endpoint.pointee.senders.isEmpty)
    }

    /// Sub-millisecond timeouts: the timer interrupt for a timeout (between ticks) wakes it at its
    /// deadline on the fine clock, not at the next tick.
    func testATimeoutExpiresAtItsDeadlineBetweenTicks() {
        scheduler = Scheduler(hz: 1000, clockHz: 3_000_000_000)       // a 3 GHz TSC, a 1 ms tick
        let client = thread()
        tick(5)
        let start = scheduler.clock
        sending(client, timeout: .microseconds(100))
        XCTAssertEqual(client.pointee.wakeupTime, start + 300_000, "100 µs of a 3 GHz clock")
        XCTAssertEqual(scheduler.nextTimeout, start + 300_000, "what the timer is armed for")
        scheduler.expire(at: start + 299_999, expire: IPC.expire)
        XCTAssertEqual(client.pointee.state, .sending(call: false), "never early")
        scheduler.expire(at: start + 300_000, expire: IPC.expire)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(scheduler.now, 5, "no tick was needed")
        XCTAssertNil(scheduler.nextTimeout)
    }

    /// A periodic task's sleep (the heartbeat: a wait that only its timeout ends) preempts a lower-priority
    /// thread that runs when the timeout expires between ticks — the vCPU of a guest at 89 under a task at
    /// 100 — rather than waiting for that thread's timeslice to end; at equal priority it only queues.
    func testATimeoutBetweenTicksPreemptsARunningLowerPriorityThread() {
        scheduler = Scheduler(hz: 1000, clockHz: 3_000_000_000)
        let heartbeat = thread(priority: 100), guest = thread(priority: 89), peer = thread(priority: 100)
        tick(5)
        let start = scheduler.clock
        waiting(heartbeat, timeout: .microseconds(2_000))
        scheduler.start(guest)
        XCTAssertEqual(scheduler.current, guest)
        scheduler.expire(at: start + 6_000_000, expire: IPC.expire)
        XCTAssertEqual(scheduler.current, heartbeat, "the woken thread runs at once")
        XCTAssertEqual(heartbeat.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(guest.pointee.state, .ready, "the guest's vCPU is preempted, still ready")
        XCTAssertEqual(scheduler.now, 5, "between ticks")

        IPC.wait(heartbeat, on: endpoint, timeout: .microseconds(2_000), scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, guest)
        scheduler.start(peer)
        XCTAssertEqual(scheduler.current, peer)
        scheduler.expire(at: start + 12_000_001, expire: IPC.expire)
        XCTAssertEqual(scheduler.current, peer, "equal priority: no preemption")
        XCTAssertEqual(heartbeat.pointee.state, .ready)
    }

    func testTheLongestTimeoutOnTheFastestClockNeverTraps() {
        let fastest = Scheduler(hz: 1000, clockHz: UInt64.max)
        XCTAssertEqual(fastest.clockHz, 1 << 40, "clamped")
        let longest = Timeout.microseconds(Timeout.maximumMicroseconds)
        XCTAssertEqual(fastest.clockUnits(longest), (Timeout.maximumMicroseconds / 1_000_000) << 40
                       + ((Timeout.maximumMicroseconds % 1_000_000) << 40 + 999_999) / 1_000_000)
        XCTAssertEqual(Scheduler(hz: 1000, clockHz: 3_000_000_000).clockUnits(.microseconds(1)), 3000)
        XCTAssertEqual(Scheduler(hz: 1000, clockHz: 7).clockUnits(.microseconds(1)), 1, "rounded up: never early")
        let client = thread()
        scheduler = Scheduler(hz: 1000, clockHz: 1 << 40)
        scheduler.expire(at: UInt64.max - 5, expire: IPC.expire)
        sending(client, timeout: longest)
        XCTAssertEqual(client.pointee.wakeupTime, UInt64.max, "past the end of the clock: saturated")
    }

    func testAnInfiniteTimeoutNeverExpires() {
        let (client, server) = (thread(), thread())
        sending(client, timeout: .infinite)
        XCTAssertFalse(client.pointee.inTimeoutList)
        tick(1000)
        XCTAssertEqual(client.pointee.state, .sending(call: false))
        XCTAssertEqual(members(of: endpoint.pointee.senders), [client])
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.state, .ready)
    }

    func testWaitWithAFiniteTimeoutExpires() {
        let (server, other) = (thread(priority: 10), thread(priority: 10))
        waiting(server, timeout: .microseconds(30_000))
        run(other)
        tick(2)
        XCTAssertEqual(server.pointee.state, .receiving)
        tick()
        XCTAssertEqual(server.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(server.pointee.state, .ready, "equal priority: queued behind the running thread")
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertNil(server.pointee.queuedOn)
    }

    func testAnArrivingSenderCancelsTheReceiversTimeout() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server, timeout: .microseconds(20_000))
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertFalse(server.pointee.inTimeoutList)
        tick(5)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.ok.rawValue)
    }

    func testAnArrivingCallerCancelsTheReceiversTimeout() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server, timeout: .microseconds(20_000))
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertFalse(server.pointee.inTimeoutList)
        tick(5)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(scheduler.current, server)
    }

    func testOnlyTheExpiredOfSeveralSendersLeavesTheQueue() {
        let (a, b, c) = (thread(), thread(), thread())
        sending(a, timeout: .infinite)
        sending(b, timeout: .microseconds(10_000))
        sending(c, timeout: .microseconds(50_000))
        scheduler.expire(at: scheduler.clock + 9_999, expire: IPC.expire)
        XCTAssertEqual(b.pointee.state, .sending(call: false), "never early")
        scheduler.expire(at: scheduler.clock + 1, expire: IPC.expire)
        XCTAssertEqual(b.pointee.context.rax, SyscallError.timeout.rawValue)
        XCTAssertEqual(members(of: endpoint.pointee.senders), [a, c])
        XCTAssertEqual(members(of: scheduler.timeouts), [c])
    }
}

final class CapabilityTransferTests: IPCTestCase {
    let receiveSlotWord = UTCBLayout.receiveSlot / 8
    var client: ThreadPointer!
    var server: ThreadPointer!
    var clientSpace: CapabilitySpace { client.pointee.task!.pointee.capabilities }
    var serverSpace: CapabilitySpace { server.pointee.task!.pointee.capabilities }
    let shared = Capability(type: .endpoint, object: 0xFFFF_8000_0050_0000, rights: [.send, .receive, .grant], badge: 0x77)

    override func setUp() {
        super.setUp()
        client = thread()
        server = thread()
        XCTAssertEqual(clientSpace.insert(shared, at: 7), .ok)
    }

    override func tearDown() {
        client = nil
        server = nil
        super.tearDown()
    }

    static func itemKind(_ mask: Rights) -> UInt64 { TypedItem.capabilityKind | UInt64(mask.rawValue) << 8 }

    /// The server waits with `slot` as its receive slot; the client sends `tag` with `words`.
    func transfer(_ tag: MessageTag, _ words: [UInt64], canGrant: Bool = true, slot: UInt64 = 9) {
        server.pointee.utcb![receiveSlotWord] = slot
        waiting(server)
        run(client)
        client.pointee.setMessage(tag, words)
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: canGrant, timeout: .infinite, scheduler: &scheduler)
    }

    func testACapabilityTravelsAfterTheUntypedWords() {
        transfer(MessageTag(label: 5, words: 1, items: 1), [0xAA, Self.itemKind(.all), 7])
        XCTAssertEqual(serverSpace.slot(9), .success(shared))
        XCTAssertFalse(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(server.pointee.receivedTag, MessageTag(label: 5, words: 1, items: 1))
        XCTAssertEqual(server.pointee.registerMessageArray[0...2], [0xAA, Self.itemKind(.all), 7],
                       "the item words are delivered as message words too")
        XCTAssertEqual(clientSpace.slot(7), .success(shared), "the sender keeps its capability")
    }

    func testRightsAreMaskedAndTheBadgeKept() {
        transfer(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind([.send, .control]), 7])
        guard case .success(let received) = serverSpace.slot(9) else { return XCTFail("nothing received") }
        XCTAssertEqual(received.rights, .send, "masked to send; control is never gained")
        XCTAssertEqual(received.type, .endpoint)
        XCTAssertEqual(received.object, shared.object)
        XCTAssertEqual(received.badge, 0x77)
        XCTAssertFalse(server.pointee.receivedTag.transferFailed)
    }

    func testItemWordsInTheUTCB() {
        transfer(MessageTag(label: 5, words: 5, items: 1), [1, 2, 3, 4, 5, Self.itemKind(.send), 7])
        XCTAssertEqual(serverSpace.lookup(9, type: .endpoint, rights: .send), .success(shared.derived(rights: .send)))
        XCTAssertFalse(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual((4..<7).map { server.pointee.utcb![$0] }, [5, Self.itemKind(.send), 7])
    }

    func testAnItemSplitBetweenRegistersAndUTCB() {
        transfer(MessageTag(label: 5, words: 3, items: 1), [1, 2, 3, Self.itemKind(.receive), 7])
        XCTAssertEqual(server.pointee.context.r9, Self.itemKind(.receive), "the kind word is MR3")
        XCTAssertEqual(serverSpace.slot(9), .success(shared.derived(rights: .receive)))
        XCTAssertFalse(server.pointee.receivedTag.transferFailed)
    }

    func testWithoutTheGrantRightNothingTravels() {
        transfer(MessageTag(label: 5, words: 1, items: 1), [0xAA, Self.itemKind(.all), 7], canGrant: false)
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(server.pointee.receivedTag.label, 5)
        XCTAssertEqual(server.pointee.receivedTag.items, 1)
        XCTAssertEqual(serverSpace.slot(9), .failure(.emptySlot))
        XCTAssertEqual(server.pointee.context.rdx, 0xAA, "the untyped words still arrive")
        XCTAssertEqual(server.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue)
    }

    func testAnEmptySourceSlotFails() {
        transfer(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.all), 8])
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(serverSpace.slot(9), .failure(.emptySlot))
    }

    func testAnOutOfRangeOrZeroSourceSelectorFails() {
        transfer(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.all), 0])
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(serverSpace.slot(9), .failure(.emptySlot))
    }

    func testAnOccupiedReceiveSlotFailsAndKeepsItsOccupant() {
        let occupant = Capability(type: .thread, object: 0x1234_0000, rights: .control)
        XCTAssertEqual(serverSpace.insert(occupant, at: 9), .ok)
        transfer(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.all), 7])
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(serverSpace.slot(9), .success(occupant))
    }

    func testReceiveSlotZeroAcceptsNothing() {
        transfer(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.all), 7], slot: 0)
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
        for selector in 0..<UInt64(CapabilitySpace.slots) {
            XCTAssertEqual(serverSpace.slot(selector), .failure(.emptySlot))
        }
    }

    func testAnOutOfRangeReceiveSlotFails() {
        transfer(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.all), 7], slot: 256)
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
    }

    func testAnUnknownItemKindFails() {
        transfer(MessageTag(label: 5, words: 0, items: 1), [2 | UInt64(Rights.all.rawValue) << 8, 7])
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
        XCTAssertEqual(serverSpace.slot(9), .failure(.emptySlot))
    }

    func testASecondItemFindsTheSlotTakenAndFlagsTheMessage() {
        let other = Capability(type: .endpoint, object: 0xFFFF_8000_0060_0000, rights: .send)
        XCTAssertEqual(clientSpace.insert(other, at: 8), .ok)
        transfer(MessageTag(label: 5, words: 0, items: 2), [Self.itemKind(.all), 7, Self.itemKind(.all), 8])
        XCTAssertEqual(serverSpace.slot(9), .success(shared), "the first item was placed")
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
    }

    func testTransferHappensWhenAQueuedSenderIsReceived() {
        server.pointee.utcb![receiveSlotWord] = 20
        client.pointee.setMessage(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.send), 7])
        sending(client, canGrant: true)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(serverSpace.slot(20), .success(shared.derived(rights: .send)))
        XCTAssertFalse(server.pointee.receivedTag.transferFailed)
    }

    func testAQueuedSenderWithoutGrantTransfersNothing() {
        server.pointee.utcb![receiveSlotWord] = 20
        client.pointee.setMessage(MessageTag(label: 5, words: 0, items: 1), [Self.itemKind(.send), 7])
        sending(client, canGrant: false)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(serverSpace.slot(20), .failure(.emptySlot))
        XCTAssertTrue(server.pointee.receivedTag.transferFailed)
    }

    func testRepliesCannotCarryCapabilities() {
        client.pointee.utcb![receiveSlotWord] = 30
        XCTAssertEqual(serverSpace.insert(shared, at: 4), .ok)
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: true, timeout: .infinite, scheduler: &scheduler)
        server.pointee.setMessage(MessageTag(label: 1, words: 0, items: 1), [Self.itemKind(.all), 4])
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: true), .ok)
        XCTAssertTrue(client.pointee.receivedTag.transferFailed)
        XCTAssertEqual(clientSpace.slot(30), .failure(.emptySlot))
    }
}

final class FaultDeliveryTests: IPCTestCase {
    var faulting: ThreadPointer!
    var handler: ThreadPointer!

    override func setUp() {
        super.setUp()
        faulting = thread(priority: 10)
        handler = thread(priority: 20)
        var context = UserContext()
        context.vector = 14
        context.errorCode = 6
        context.rip = 0x40_1000
        context.rsp = 0x7FFF_F000
        context.rflags = 0x10246
        context.rax = 0x1111
        context.rdx = 0x2222
        context.rsi = 0x3333
        context.rdi = 0x4444
        faulting.pointee.context = context
        faulting.pointee.faultAddress = 0xDEAD_B000
        faulting.pointee.faultVector = 14
    }

    override func tearDown() {
        faulting = nil
        handler = nil
        super.tearDown()
    }

    func assertFaultMessage(file: StaticString = #filePath, line: UInt = #line) {
        let tag = handler.pointee.receivedTag
        XCTAssertEqual(tag.label, KernelMessageLabel.exception, file: file, line: line)
        XCTAssertEqual(tag.words, 6, file: file, line: line)
        XCTAssertEqual(tag.items, 0, file: file, line: line)
        XCTAssertEqual(handler.pointee.registerMessageArray, [14, 6, 0x40_1000, 0x7FFF_F000],
                       "vector, error code, RIP, RSP", file: file, line: line)
        XCTAssertEqual(handler.pointee.utcb![4], 0xDEAD_B000, "fault address", file: file, line: line)
        XCTAssertEqual(handler.pointee.utcb![5], 0x10246, "RFLAGS", file: file, line: line)
        XCTAssertEqual(handler.pointee.context.rdi, 0xFA, "badge", file: file, line: line)
        XCTAssertEqual(handler.pointee.context.rax, SyscallError.ok.rawValue, file: file, line: line)
        XCTAssertEqual(handler.pointee.caller, faulting, file: file, line: line)
        XCTAssertEqual(faulting.pointee.state, .faulted, file: file, line: line)
    }

    func assertRegistersPreserved(rip: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let context = faulting.pointee.context
        XCTAssertEqual(context.rip, rip, file: file, line: line)
        XCTAssertEqual([context.rax, context.rdx, context.rsi, context.rdi, context.rsp, context.rflags],
                       [0x1111, 0x2222, 0x3333, 0x4444, 0x7FFF_F000, 0x10246],
                       "the handler's reply does not overwrite the faulted thread's registers", file: file, line: line)
        XCTAssertEqual(faulting.pointee.faultVector, 0, file: file, line: line)
    }

    func testAFaultGoesToAWaitingHandlerAsAMessage() {
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0xFA, scheduler: &scheduler)
        assertFaultMessage()
        XCTAssertEqual(scheduler.current, handler)
        XCTAssertFalse(isQueued(faulting))
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertNil(scheduler.ready.highestPriority, "the faulted thread is not runnable")
    }

    func testTheResumeReplyRestartsTheThreadAtANewRIP() {
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0xFA, scheduler: &scheduler)
        handler.pointee.setMessage(MessageTag(label: KernelMessageLabel.resume, words: 1), [0x40_2000])
        XCTAssertEqual(IPC.reply(handler, scheduler: &scheduler, switchToCaller: false), .ok)
        assertRegistersPreserved(rip: 0x40_2000)
        XCTAssertEqual(faulting.pointee.state, .ready)
        XCTAssertNil(handler.pointee.caller)
        XCTAssertEqual(scheduler.current, handler, "the higher-priority handler keeps running")
        XCTAssertEqual(drain(&scheduler.ready), [faulting])
    }

    func testOtherRepliesRestartTheThreadWhereItFaulted() {
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0xFA, scheduler: &scheduler)
        handler.pointee.setMessage(MessageTag(label: 2, words: 1), [0x40_2000])
        IPC.reply(handler, scheduler: &scheduler, switchToCaller: false)
        assertRegistersPreserved(rip: 0x40_1000)
        XCTAssertEqual(faulting.pointee.state, .ready)
    }

    func testAResumeWithoutAWordKeepsTheRIP() {
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0xFA, scheduler: &scheduler)
        handler.pointee.setMessage(MessageTag(label: KernelMessageLabel.resume, words: 0), [0x40_2000])
        IPC.reply(handler, scheduler: &scheduler, switchToCaller: false)
        assertRegistersPreserved(rip: 0x40_1000)
    }

    func testAResumeToAKernelAddressIsIgnored() {
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0xFA, scheduler: &scheduler)
        for rip: UInt64 in [KernelAddressSpace.userSpaceEnd, 0xFFFF_8000_0010_0000] {
            handler.pointee.caller = faulting
            handler.pointee.setMessage(MessageTag(label: KernelMessageLabel.resume, words: 1), [rip])
            faulting.pointee.state = .faulted
            IPC.reply(handler, scheduler: &scheduler, switchToCaller: false)
            assertRegistersPreserved(rip: 0x40_1000)
            _ = drain(&scheduler.ready)
        }
    }

    func testAFaultQueuesUntilTheHandlerWaits() {
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0xFA, scheduler: &scheduler)
        XCTAssertEqual(faulting.pointee.state, .faulted)
        XCTAssertEqual(members(of: endpoint.pointee.senders), [faulting])
        XCTAssertEqual(faulting.pointee.queuedOn, endpoint)
        XCTAssertFalse(faulting.pointee.inTimeoutList, "a fault waits without limit")
        XCTAssertNil(scheduler.current)

        run(handler)
        IPC.wait(handler, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        assertFaultMessage()
        XCTAssertEqual(scheduler.current, handler)
        XCTAssertTrue(endpoint.pointee.senders.isEmpty)
        XCTAssertFalse(isQueued(faulting))
        XCTAssertNil(scheduler.ready.highestPriority, "still waiting for the handler's reply")

        // The handler answers with reply-wait: the thread runs again at the new RIP.
        handler.pointee.setMessage(MessageTag(label: KernelMessageLabel.resume, words: 1), [0x40_3000])
        IPC.replyWait(handler, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(scheduler.current, faulting)
        XCTAssertEqual(faulting.pointee.state, .running)
        assertRegistersPreserved(rip: 0x40_3000)
        XCTAssertEqual(members(of: endpoint.pointee.receivers), [handler])
    }
}

final class CancelTests: IPCTestCase {
    func testCancelRemovesASenderFromTheMiddleOfTheQueueAndTheTimeoutList() {
        let (a, b, c) = (thread(), thread(), thread())
        sending(a, timeout: .microseconds(100_000))
        sending(b, call: true, timeout: .microseconds(100_000))
        sending(c, timeout: .microseconds(100_000))
        IPC.cancel(b, with: .aborted, scheduler: &scheduler)
        XCTAssertEqual(b.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertEqual(b.pointee.state, .ready)
        XCTAssertNil(b.pointee.queuedOn)
        XCTAssertFalse(b.pointee.inTimeoutList)
        XCTAssertEqual(members(of: endpoint.pointee.senders), [a, c])
        XCTAssertEqual(members(of: scheduler.timeouts), [a, c])
        XCTAssertEqual(drain(&scheduler.ready), [b], "only in the ready queue now")
    }

    func testCancelRemovesAReceiver() {
        let (a, b) = (thread(), thread())
        waiting(a)
        waiting(b, timeout: .microseconds(10_000))
        IPC.cancel(b, with: .aborted, scheduler: &scheduler)
        XCTAssertEqual(members(of: endpoint.pointee.receivers), [a])
        XCTAssertEqual(b.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertEqual(b.pointee.state, .ready)
        XCTAssertNil(scheduler.timeouts.head)
        IPC.cancel(a, with: .aborted, scheduler: &scheduler)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertNil(a.pointee.queuedOn)
    }

    func testCancelRemovesAQueuedFault() {
        let (faulting, other) = (thread(), thread())
        sending(other)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0, scheduler: &scheduler)
        XCTAssertEqual(members(of: endpoint.pointee.senders), [other, faulting])
        IPC.cancel(faulting, with: .aborted, scheduler: &scheduler)
        XCTAssertEqual(members(of: endpoint.pointee.senders), [other])
        XCTAssertNil(faulting.pointee.queuedOn)
        XCTAssertEqual(faulting.pointee.state, .ready)
    }

    func testCancelledThreadsAreNotFoundByPartners() {
        let (client, server) = (thread(priority: 10), thread(priority: 20))
        sending(client)
        IPC.cancel(client, with: .aborted, scheduler: &scheduler)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .zero, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.timeout.rawValue, "nobody is left to receive from")
        XCTAssertEqual(client.pointee.context.rax, SyscallError.aborted.rawValue)
    }
}

/// `detach` takes a thread out of every IPC relation without making it runnable (for stopping it).
final class DetachTests: IPCTestCase {
    func testCallAndReplyLinkCallerAndCallee() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(client.pointee.callee, server)
        XCTAssertEqual(server.pointee.caller, client)
        IPC.reply(server, scheduler: &scheduler, switchToCaller: false)
        XCTAssertNil(client.pointee.callee)
        XCTAssertNil(server.pointee.caller)
    }

    func testDetachingAQueuedSenderLeavesItBlockedNowhere() {
        let (a, b) = (thread(), thread())
        sending(a, timeout: .microseconds(50_000))
        sending(b, timeout: .microseconds(50_000))
        a.pointee.context.rax = 0xDEAD
        IPC.detach(a, scheduler: &scheduler)
        XCTAssertEqual(members(of: endpoint.pointee.senders), [b])
        XCTAssertNil(a.pointee.queuedOn)
        XCTAssertFalse(a.pointee.inTimeoutList)
        XCTAssertEqual(members(of: scheduler.timeouts), [b])
        XCTAssertNil(scheduler.ready.highestPriority, "not made runnable")
        XCTAssertEqual(a.pointee.context.rax, 0xDEAD)
        tick(10)
        XCTAssertEqual(a.pointee.context.rax, 0xDEAD, "its timeout no longer fires")
        XCTAssertEqual(b.pointee.context.rax, SyscallError.timeout.rawValue)
    }

    func testDetachingAWaitingReceiver() {
        let server = thread()
        waiting(server, timeout: .microseconds(10_000))
        IPC.detach(server, scheduler: &scheduler)
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertNil(server.pointee.queuedOn)
        XCTAssertNil(scheduler.timeouts.head)
        XCTAssertNil(scheduler.ready.highestPriority)
    }

    func testDetachingAWaitingCallerTellsItsServer() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        IPC.detach(client, scheduler: &scheduler)
        XCTAssertNil(client.pointee.callee)
        XCTAssertNil(server.pointee.caller)
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .noCaller,
                       "the server cannot reply into a detached thread")
        XCTAssertNil(scheduler.ready.highestPriority)
    }

    func testDetachingAServerAbortsItsCaller() {
        let (client, server) = (thread(priority: 10), thread(priority: 10))
        waiting(server)
        run(client)
        IPC.send(client, to: endpoint, badge: 0, call: true, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        IPC.detach(server, scheduler: &scheduler)
        XCTAssertNil(server.pointee.caller)
        XCTAssertNil(client.pointee.callee)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertEqual(client.pointee.state, .ready)
        XCTAssertEqual(drain(&scheduler.ready), [client])
    }

    func testDetachingAHandlerRestartsTheFaultedThreadUntouched() {
        let (faulting, handler) = (thread(priority: 10), thread(priority: 20))
        faulting.pointee.context.vector = 13
        faulting.pointee.context.rax = 0x1234
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0, scheduler: &scheduler)
        XCTAssertEqual(faulting.pointee.callee, handler)
        IPC.detach(handler, scheduler: &scheduler)
        XCTAssertEqual(faulting.pointee.context.rax, 0x1234, "a faulted thread has no result register")
        XCTAssertEqual(faulting.pointee.state, .ready)
        XCTAssertNil(faulting.pointee.callee)
    }
}

final class PortItemTests: IPCTestCase {
    func testPortItemsGoThroughTheKernelsPortCode() {
        var seen: [(UInt64, UInt64)] = []
        IPC.transferPorts = { first, count, _, _ in
            seen.append((first, count))
            return first != 0x80
        }
        defer { IPC.transferPorts = nil }
        let (client, server) = (thread(), thread())
        waiting(server)
        run(client)
        let (k0, v0) = TypedItem.ports(first: 0x3F8, count: 8)
        let (k1, v1) = TypedItem.ports(first: 0x80, count: 1)
        client.pointee.context.rsi = MessageTag(label: 1, words: 0, items: 2).raw
        client.pointee.context.registerMessage = (k0, v0, k1, v1)
        IPC.send(client, to: endpoint, badge: 0, call: false, canGrant: false, timeout: .infinite, scheduler: &scheduler)
        XCTAssertEqual(seen.map(\.0), [0x3F8, 0x80])
        XCTAssertEqual(seen.map(\.1), [8, 1])
        XCTAssertTrue(MessageTag(raw: server.pointee.context.rsi).transferFailed, "the second item failed")
    }
}
