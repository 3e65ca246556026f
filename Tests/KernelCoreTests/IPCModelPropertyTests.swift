import XCTest
@testable import KernelCore
import SwiftletABI

/// The properties Spin proves of Kernel/Core/IPC/IPC.pml, checked on the Swift code itself: the scenarios
/// the model found, and a seeded random walk over the same operations with the model's audit after every
/// step (no lost wake-up, no dangling link, queues as the states say).
final class IPCModelPropertyTests: IPCTestCase {
    /// The reply capabilities the test's servers saved (saveCaller lives in Syscalls): caller and call number.
    var saved: [ThreadPointer: (caller: ThreadPointer, number: UInt64)] = [:]
    /// Callers a server dropped by waiting again without replying (its choice, as in the model).
    var dropped: Set<ThreadPointer> = []

    override func tearDown() {
        saved = [:]
        dropped = []
        super.tearDown()
    }

    /// What `saveCaller` does: the current caller becomes a reply capability badged with its call number.
    func saveCaller(_ server: ThreadPointer) {
        guard let caller = server.pointee.caller, saved[server] == nil else { return }
        saved[server] = (caller, caller.pointee.callCount & Capability.maximumBadge)
        server.pointee.caller = nil
    }

    func replySaved(_ server: ThreadPointer) -> SyscallError {
        guard let (caller, number) = saved.removeValue(forKey: server) else { return .noCaller }
        return IPC.replySaved(server, to: caller, callNumber: number, scheduler: &scheduler)
    }

    /// The model's audit(): every thread is where its state says, can still be woken, and names only partners
    /// that hold the matching link.
    func audit(_ threads: [ThreadPointer], _ step: String, file: StaticString = #filePath, line: UInt = #line) {
        let senders = members(of: endpoint.pointee.senders), receivers = members(of: endpoint.pointee.receivers)
        XCTAssertTrue(senders.isEmpty || receivers.isEmpty, "a sender and a receiver wait for each other after \(step)",
                      file: file, line: line)
        for thread in threads {
            let t = thread.pointee, name = "thread \(threads.firstIndex(of: thread)!) (\(t.state)) after \(step)"
            let queued: Bool
            switch t.state {
            case .sending: queued = senders.contains(thread)
            case .receiving: queued = receivers.contains(thread)
            case .faulted where t.callee == nil: queued = senders.contains(thread)
            default:
                queued = false
                XCTAssertFalse(senders.contains(thread) || receivers.contains(thread), "\(name) is queued", file: file, line: line)
            }
            if t.isBlocked && t.state != .waitingForReply || t.state == .faulted && t.callee == nil {
                XCTAssertTrue(queued && t.queuedOn == endpoint, "lost wake-up: \(name) is in no queue", file: file, line: line)
            } else {
                XCTAssertNil(t.queuedOn, "\(name) names an endpoint", file: file, line: line)
            }
            if t.inTimeoutList {
                XCTAssertTrue(t.state == .receiving || t.state == .sending(call: true) || t.state == .sending(call: false),
                              "\(name) has a timeout", file: file, line: line)
            }
            if let caller = t.caller {
                XCTAssertTrue(caller.pointee.callee == thread
                              && (caller.pointee.state == .waitingForReply || caller.pointee.state == .faulted),
                              "dangling: \(name) holds a caller that does not wait for it", file: file, line: line)
            }
            if t.state == .waitingForReply || t.state == .faulted && t.queuedOn == nil {
                guard let callee = t.callee else {
                    XCTFail("lost wake-up: \(name) waits for a reply from nobody", file: file, line: line)
                    continue
                }
                let savedHere = saved[callee].map { $0.caller == thread && $0.number == t.callCount & Capability.maximumBadge } ?? false
                XCTAssertTrue(callee.pointee.caller == thread || savedHere || dropped.contains(thread),
                              "lost wake-up: \(name) waits for a reply its callee cannot give", file: file, line: line)
            }
        }
    }

    /// A server that saved caller A's reply and then received caller B's call.
    func serverWithSavedAndCurrentCaller() -> (ThreadPointer, ThreadPointer, ThreadPointer) {
        let (callerA, callerB, server) = (thread(), thread(), thread())
        sending(callerA, call: true)
        sending(callerB, call: true)
        run(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        saveCaller(server)
        IPC.wait(server, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        return (callerA, callerB, server)
    }

    /// Found by the model (BUG_DETACH_CLEARS_ANY_CALLER): stopping a caller whose reply the server saved
    /// cleared the server's *current* caller, a different thread, which then waited for a reply forever.
    func testStoppingACallerWhoseReplyWasSavedLeavesTheServersCurrentCaller() {
        let (callerA, callerB, server) = serverWithSavedAndCurrentCaller()
        XCTAssertEqual(server.pointee.caller, callerB)

        IPC.stop(callerA, scheduler: &scheduler)
        XCTAssertEqual(server.pointee.caller, callerB, "B is still the server's caller")
        XCTAssertEqual(IPC.reply(server, scheduler: &scheduler, switchToCaller: false), .ok)
        XCTAssertEqual(callerB.pointee.state, .ready, "B got its reply")
        XCTAssertEqual(replySaved(server), .noCaller, "the saved reply finds A stopped")
        audit([callerA, callerB, server], "the replies")
    }

    /// Found by the model: a handler that saved a faulted thread's reply could never answer it (replySaved
    /// wanted `.waitingForReply`), so the thread stayed faulted forever.
    func testAHandlerAnswersASavedFaultThroughItsReplyCapability() {
        let (faulting, handler) = (thread(), thread())
        waiting(handler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0, scheduler: &scheduler)
        saveCaller(handler)
        audit([faulting, handler], "saveCaller")
        XCTAssertEqual(replySaved(handler), .ok)
        XCTAssertEqual(faulting.pointee.state, .ready, "the faulted thread resumes")
        XCTAssertNil(faulting.pointee.callee)
    }

    /// Each fault is a call of its own: a reply saved for an earlier one does not answer a later one.
    func testAReplySavedForAnEarlierCallDoesNotAnswerALaterFault() {
        let (faulting, handler) = (thread(), thread())
        sending(faulting, call: true)
        run(handler)
        IPC.wait(handler, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        let stale = faulting.pointee.callCount & Capability.maximumBadge
        XCTAssertEqual(IPC.reply(handler, scheduler: &scheduler, switchToCaller: false), .ok)
        IPC.wait(handler, on: endpoint, timeout: .infinite, scheduler: &scheduler)
        run(faulting)
        IPC.sendFault(faulting, to: endpoint, badge: 0, scheduler: &scheduler)
        XCTAssertEqual(IPC.replySaved(handler, to: faulting, callNumber: stale, scheduler: &scheduler), .noCaller)
        XCTAssertEqual(faulting.pointee.state, .faulted)
    }

    /// Stopping a server aborts its current caller; a caller whose reply it saved waits on (the server may be
    /// started again and answer through the capability; destroying it must abort that caller too).
    func testStoppingAServerAbortsItsCallerAndKeepsASavedOneForARestart() {
        let (callerA, callerB, server) = serverWithSavedAndCurrentCaller()
        IPC.stop(server, scheduler: &scheduler)
        XCTAssertNotEqual(callerB.pointee.state, .waitingForReply, "the current caller runs again")
        XCTAssertEqual(callerB.pointee.context.rax, SyscallError.aborted.rawValue)
        XCTAssertEqual(callerA.pointee.state, .waitingForReply)
        audit([callerA, callerB, server], "stop")
        scheduler.wake(server)
        XCTAssertEqual(replySaved(server), .ok)
        XCTAssertEqual(callerA.pointee.context.rax, SyscallError.ok.rawValue)
    }

    /// The model's operations in a seeded random order on three threads and one endpoint, through the real
    /// IPC code (calls and reply-waits try the fast path first, as the kernel's entry does) and scheduler,
    /// audited after every step. Destroy is not in the kernel yet: stop is the abort path walked here.
    func testRandomIPCNeverLosesAWakeUpNorLeavesALinkDangling() {
        var steps = 0, answered = 0, aborted = 0, expired = 0, fastPaths = 0
        for seed in UInt64(1)...20 {
            fixture = KernelObjectFixture()
            scheduler = Scheduler(hz: 100)
            endpoint = fixture.endpoint()
            saved = [:]
            dropped = []
            var random = ReplyWordGenerator(seed: seed)
            let threads = (0..<3).map { _ in thread() }
            for thread in threads { give(thread, rights: [.send, .receive]) }
            for thread in threads { scheduler.wake(thread) }
            scheduler.chooseNext()
            for step in 0..<3000 {
                let timeout: Timeout = [.zero, Timeout(raw: 5_000), .infinite][Int(random.next() % 3)]
                let target = threads[Int(random.next() % 3)]
                let description: String
                guard let current = scheduler.current else {
                    scheduler.tick(expire: IPC.expire)
                    if scheduler.current == nil && !threads.contains(where: { $0.pointee.inTimeoutList }) {
                        // Everyone blocked for good: the controller stops one (an abort path) and starts it again.
                        if target.pointee.state != .stopped { IPC.stop(target, scheduler: &scheduler) }
                        scheduler.start(target)
                    }
                    audit(threads, "seed \(seed) step \(step): idle")
                    continue
                }
                let callersBefore = threads.map { $0.pointee.caller }
                let blockedBefore = threads.map { $0.pointee.isBlocked || $0.pointee.state == .faulted }
                switch random.next() % 13 {
                case 0:
                    description = "send"
                    IPC.send(current, to: endpoint, badge: 0, call: false, canGrant: false, timeout: timeout, scheduler: &scheduler)
                case 1, 2:
                    // As the kernel's entry does it: the fast path if its preconditions hold, else the general path.
                    description = "call"
                    enter(current, .call, tag: MessageTag(label: 1, words: 1), timeout: timeout)
                    if FastPath.handle(current, scheduler: &scheduler) { fastPaths += 1 } else {
                        IPC.send(current, to: endpoint, badge: 0, call: true, canGrant: false, timeout: timeout, scheduler: &scheduler)
                    }
                case 3:
                    description = "wait"
                    IPC.wait(current, on: endpoint, timeout: timeout, scheduler: &scheduler)
                case 4, 5:
                    description = "replyWait"
                    enter(current, .replyWait, tag: MessageTag(label: 2, words: 1), timeout: timeout)
                    if FastPath.handle(current, scheduler: &scheduler) { fastPaths += 1 } else {
                        IPC.replyWait(current, on: endpoint, timeout: timeout, scheduler: &scheduler)
                    }
                case 6:
                    description = "reply"
                    IPC.reply(current, scheduler: &scheduler, switchToCaller: false)
                case 7:
                    description = "saveCaller"
                    saveCaller(current)
                case 8:
                    description = "replySaved"
                    _ = replySaved(current)
                case 9:
                    description = "fault"
                    IPC.sendFault(current, to: endpoint, badge: 0, scheduler: &scheduler)
                case 10:
                    description = "stop"
                    if target.pointee.state != .stopped { IPC.stop(target, scheduler: &scheduler) }
                case 11:
                    description = "start"
                    if target.pointee.state == .stopped { scheduler.wake(target) }
                    scheduler.chooseNext()
                default:
                    description = "tick"
                    scheduler.tick(expire: IPC.expire)
                }
                // A server that received a call while it still held an unanswered one dropped that one (a new
                // caller overwrote the link: the server's choice, as in the model). A link that became nil is not this.
                for (thread, before) in zip(threads, callersBefore) {
                    if let before, let after = thread.pointee.caller, after != before { dropped.insert(before) }
                }
                // A caller answered or aborted is no longer anyone's dropped call.
                dropped = dropped.filter { $0.pointee.state == .waitingForReply || $0.pointee.state == .faulted }
                if ProcessInfo.processInfo.environment["IPC_TRACE"] != nil {
                    print("seed \(seed) step \(step): T\(threads.firstIndex(of: current)!) \(description) target T\(threads.firstIndex(of: target)!)", threads.map { "\($0.pointee.state) caller \($0.pointee.caller.flatMap { threads.firstIndex(of: $0) } ?? -1) callee \($0.pointee.callee.flatMap { threads.firstIndex(of: $0) } ?? -1)" })
                }
                audit(threads, "seed \(seed) step \(step): \(description)")
                if testRun!.failureCount > 0 { return }
                steps += 1
                for (thread, wasBlocked) in zip(threads, blockedBefore) where wasBlocked {
                    guard thread.pointee.state == .ready || thread.pointee.state == .running else { continue }
                    switch thread.pointee.context.rax {
                    case SyscallError.aborted.rawValue: aborted += 1
                    case SyscallError.timeout.rawValue: expired += 1
                    default: answered += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(steps, 20 * 1000, "the walks ran")
        XCTAssertGreaterThan(fastPaths, 100, "calls and reply-waits took the fast path too")
        print("IPC random walk: \(steps) steps over 20 seeds audited, \(fastPaths) on the fast path (blocked threads woken: \(answered) with a message or reply, \(aborted) aborted, \(expired) timed out)")
    }
}

