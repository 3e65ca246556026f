import XCTest
@testable import KernelCore
import SwiftletABI

/// The IPC fast path: taken exactly when its preconditions hold, and then with the general path's result.
final class FastPathTests: IPCTestCase {
    func testCallToAWaitingServerTakesTheFastPath() {
        let (client, server) = (thread(), thread())
        give(client, rights: .send, badge: 0x77)
        waiting(server)
        run(client)
        enter(client, .call, tag: MessageTag(label: 5, words: 4), words: (1, 2, 3, 4))
        XCTAssertTrue(FastPath.handle(client, scheduler: &scheduler))
        XCTAssertEqual(scheduler.current, server)
        XCTAssertEqual(server.pointee.state, .running)
        XCTAssertEqual(client.pointee.state, .waitingForReply)
        XCTAssertEqual(server.pointee.caller, client)
        XCTAssertEqual(client.pointee.callee, server)
        XCTAssertEqual(server.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(server.pointee.context.rdi, 0x77)
        XCTAssertEqual(MessageTag(raw: server.pointee.context.rsi).label, 5)
        XCTAssertTrue(server.pointee.context.registerMessage == (1, 2, 3, 4))
        XCTAssertTrue(endpoint.pointee.receivers.isEmpty)
        XCTAssertNil(server.pointee.queuedOn)
    }

    func testReplyWaitToAWaitingCallerTakesTheFastPath() {
        let (client, server) = (thread(), thread())
        give(client, rights: .send)
        give(server, rights: .receive)
        waiting(server)
        run(client)
        enter(client, .call, tag: MessageTag(label: 5, words: 1), words: (41, 0, 0, 0))
        XCTAssertTrue(FastPath.handle(client, scheduler: &scheduler))
        enter(server, .replyWait, tag: MessageTag(label: 6, words: 2), words: (42, 43, 0, 0))
        XCTAssertTrue(FastPath.handle(server, scheduler: &scheduler))
        XCTAssertEqual(scheduler.current, client)
        XCTAssertEqual(client.pointee.state, .running)
        XCTAssertEqual(client.pointee.context.rax, SyscallError.ok.rawValue)
        XCTAssertEqual(client.pointee.context.rdx, 42)
        XCTAssertEqual(client.pointee.context.r10, 43)
        XCTAssertEqual(MessageTag(raw: client.pointee.context.rsi).label, 6)
        XCTAssertNil(server.pointee.caller)
        XCTAssertNil(client.pointee.callee)
        XCTAssertEqual(server.pointee.state, .receiving)
        XCTAssertEqual(members(of: endpoint.pointee.receivers), [server])
    }

    func testEveryFailedPreconditionFallsBackWithoutChangingAnything() {
        let (client, server) = (thread(), thread())
        give(client, rights: .receive)                          // slot 9: no send right
        let sendSlot: UInt64 = 10
        let capability = Capability(type: .endpoint, object: UInt64(UInt(bitPattern: endpoint)), rights: .send)
        XCTAssertEqual(client.pointee.task!.pointee.capabilities.insert(capability, at: sendSlot), .ok)
        waiting(server)
        run(client)
        enter(client, .call, tag: MessageTag(label: 1, words: 1))
        XCTAssertFalse(FastPath.handle(client, scheduler: &scheduler), "missing right")
        let attempts: [(MessageTag, Timeout, UInt64, String)] = [
            (MessageTag(label: 1, words: 5), .infinite, sendSlot, "long message"),
            (MessageTag(label: 1, words: 1, items: 1), .infinite, sendSlot, "typed item"),
            (MessageTag(label: 1, words: 1), Timeout(raw: Timeout.maximumMicroseconds + 1), sendSlot, "invalid timeout"),
            (MessageTag(label: 1, words: 1), .infinite, 300, "selector out of range"),
            (MessageTag(label: 1, words: 1), .infinite, 0, "selector 0"),
        ]
        for (tag, timeout, selector, reason) in attempts {
            enter(client, .call, tag: tag, timeout: timeout)
            client.pointee.context.rdi = selector
            XCTAssertFalse(FastPath.handle(client, scheduler: &scheduler), reason)
        }
        enter(client, .call, tag: MessageTag(label: 1, words: 1))
        client.pointee.context.rdi = sendSlot
        XCTAssertTrue(FastPath.handle(client, scheduler: &scheduler), "and with everything right it is taken")
        XCTAssertEqual(scheduler.current, server)
    }

    func testNoReceiverFallsBack() {
        let client = thread(priority: 10)
        give(client, rights: .send)
        run(client)
        enter(client, .call, tag: MessageTag(label: 1, words: 1))
        XCTAssertFalse(FastPath.handle(client, scheduler: &scheduler), "nobody waits")
        XCTAssertEqual(client.pointee.state, .running)
    }

    func testAReadyThreadAboveTheReceiverFallsBack() {
        let (client, server, busy) = (thread(priority: 10), thread(priority: 5), thread(priority: 8))
        give(client, rights: .send)
        waiting(server)
        run(client)
        scheduler.wake(busy)
        enter(client, .call, tag: MessageTag(label: 1, words: 1))
        XCTAssertFalse(FastPath.handle(client, scheduler: &scheduler), "a ready thread outranks the receiver")
        XCTAssertEqual(server.pointee.state, .receiving)
        XCTAssertEqual(scheduler.current, client)
    }

    func testReplyWaitFallsBackForPendingSendersFiniteTimeoutsAndFaults() {
        let (client, server) = (thread(), thread())
        give(client, rights: .send)
        give(server, rights: .receive)
        waiting(server)
        run(client)
        enter(client, .call, tag: MessageTag(label: 5, words: 1))
        XCTAssertTrue(FastPath.handle(client, scheduler: &scheduler))
        enter(server, .replyWait, tag: MessageTag(label: 6), timeout: .microseconds(1000))
        XCTAssertFalse(FastPath.handle(server, scheduler: &scheduler), "finite timeout")
        let other = thread()
        other.pointee.state = .sending(call: false)
        other.pointee.queuedOn = endpoint
        endpoint.pointee.senders.enqueue(other)
        enter(server, .replyWait, tag: MessageTag(label: 6))
        XCTAssertFalse(FastPath.handle(server, scheduler: &scheduler), "a sender is pending")
        XCTAssertEqual(server.pointee.caller, client, "nothing changed")
    }
}

extension FastPathTests {
    func testASenderSetTransferFailedBitNeverArrives() {
        let (client, server) = (thread(), thread())
        give(client, rights: .send)
        waiting(server)
        run(client)
        enter(client, .call, tag: MessageTag(label: 5, words: 2).with(transferFailed: true))
        XCTAssertTrue(FastPath.handle(client, scheduler: &scheduler))
        XCTAssertFalse(MessageTag(raw: server.pointee.context.rsi).transferFailed)
        XCTAssertEqual(MessageTag(raw: server.pointee.context.rsi).words, 2)
    }
}
