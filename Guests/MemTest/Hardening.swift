import SwiftletABI
import SwiftletUser

/// Regression checks for what a hostile task could do to the kernel's memory code (issue 9): a map item
/// ending at 2^64, revoking a page in use as a UTCB, mapping nodes and failed creates leaking quota.
/// Each check passes only on the measured outcome and prints what it measured.
enum Hardening {
    static let sameTaskEndpoint: UInt64 = 27, utcbEndpoint: UInt64 = 28
    static let receiverThread: UInt64 = 29, utcbThread: UInt64 = 30
    static let smallFactory: UInt64 = 31, machine: UInt64 = 32, scratch: UInt64 = 33   // scratch..scratch+2
    /// The second thread's receive window.
    static let window: UInt64 = 0x6000_0000
    /// A valid flexpage (aligned, one page) whose end is 2^64.
    static let topPage = Flexpage(base: 0xFFFF_FFFF_FFFF_F000, order: 12, rights: .read)
    static let cycles: UInt64 = 100_000
    static let threadPriority: UInt8 = 100

    typealias Check = (Bool, LogLine) -> Void

    /// The frames left in a factory's quota (capability `identify`, MR3).
    static func framesLeft(_ factory: UInt64) -> UInt64 {
        SystemCall.capability(factory, .identify).words.3
    }

    /// A second thread of this task receives a map item whose send page ends at 2^64: the kernel refuses
    /// the item (transferFailed) instead of overflowing.
    static func mapItemAtTheTop(_ check: Check, spawner: inout ThreadSpawner) {
        _ = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: sameTaskEndpoint)
        let started = spawner.spawn(receiveItems, argument: 0, priority: threadPriority, slot: receiverThread)
        let (w0, w1) = TypedItem.map(topPage)
        let answer = SystemCall.call(sameTaskEndpoint, MessageTag(label: 1, items: 1), (w0, w1, 0, 0))
        check(started == .ok && answer.succeeded && answer.words.0 == 1 && answer.words.1 == 0,
              "a map item ending at 2^64 from a second thread of the task is refused (transferFailed \(answer.words.0), rights mapped \(answer.words.1))")
    }

    /// The owner unmaps the page a thread of its own uses as its UTCB: the thread is stopped and detached,
    /// and the address can then be mapped again (the kernel no longer writes the old frame).
    static func ownerUnmapsAUTCB(_ check: Check, spawner: inout ThreadSpawner, heap: inout HeapPages) {
        _ = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: utcbEndpoint)
        let started = spawner.spawn(reportUTCB, argument: 0, priority: threadPriority, slot: utcbThread)
        let address = SystemCall.call(utcbEndpoint, MessageTag(label: 1)).words.0
        let unmapped = SystemCall.unmap(Flexpage(base: address, order: 12, rights: .all), own: true)
        let state = SystemCall.thread(utcbThread, .readState).words.0
        let gone = SystemCall.readMapping(RootTaskLayout.taskSlot, at: address).rights.isEmpty
        let remapped = SystemCall.task(RootTaskLayout.taskSlot, .mapPages, (heap.take(), address, 1, 1))
        let nobody = SystemCall.call(utcbEndpoint, MessageTag(label: 1), timeout: .zero).error
        check(started == .ok && unmapped == .ok && state == ThreadStateCode.stopped.rawValue && gone && remapped == .ok
              && nobody == .timeout,
              "the owner unmaps a thread's UTCB: the thread is stopped (state \(state)), the page can be mapped again (\(remapped.name))")
    }

    /// The pager (this task, which mapped the page to `task`) revokes the UTCB of `thread` from above, or
    /// takes its write right: either way the thread stops, and the address can be mapped over again.
    static func pagerRevokesAUTCB(_ check: Check, task: UInt64, thread: UInt64, page: UInt64, writeOnly: Bool,
                                  heap: inout HeapPages) {
        let before = SystemCall.thread(thread, .readState).words.0
        let revoked = SystemCall.unmap(Flexpage(base: page, order: 12, rights: writeOnly ? .write : .all))
        let state = SystemCall.thread(thread, .readState).words.0
        let left = SystemCall.readMapping(task, at: TaskLayout.utcb).rights
        var remapped = SyscallError.ok
        if !writeOnly { remapped = SystemCall.task(task, .mapPages, (heap.take(), TaskLayout.utcb, 1, 1)) }
        let what: StaticString = writeOnly ? "takes the write right of" : "revokes"
        let after: StaticString = writeOnly ? "the page stays read-only" : "the page can be mapped again"
        check(before != ThreadStateCode.stopped.rawValue && revoked == .ok && state == ThreadStateCode.stopped.rawValue
              && left == (writeOnly ? .read : []) && remapped == .ok,
              "the pager \(what) a child's UTCB from above: the thread is stopped (state \(before) -> \(state)), \(after)")
    }

    /// Mapping and unmapping one page must not leak quota: the nodes are refunded. B's page tables at
    /// `destination` exist already (they stay with the task), so the quota must end exactly where it began.
    static func mapUnmapCycles(_ check: Check, into task: UInt64, page: UInt64, destination: UInt64) {
        let factory = RootTaskLayout.factorySlot
        let before = framesLeft(factory)
        var done: UInt64 = 0
        var failure = SyscallError.ok
        while done < cycles {
            failure = SystemCall.task(task, .mapPages, (page, destination, 1, 1))
            guard failure == .ok else { break }
            failure = SystemCall.unmap(Flexpage(base: page, order: 12, rights: .all))
            guard failure == .ok else { break }
            done += 1
        }
        let after = framesLeft(factory)
        check(done == cycles && before == after && before > 0,
              "\(done) map/unmap cycles keep the quota (frames left before \(before), after \(after); \(failure.name))")
    }

    /// Creates that fail leave the quota as it was; the one that succeeds costs what it should.
    static func failedCreates(_ check: Check, ownUTCB: UInt64) {
        let factory = RootTaskLayout.factorySlot
        let made = SystemCall.create(factory, .factory, into: smallFactory, (2, 0, 0))
        let start = framesLeft(smallFactory)
        var outcomes: (SyscallError, SyscallError, SyscallError, SyscallError, SyscallError) = (.ok, .ok, .ok, .ok, .ok)
        outcomes.0 = SystemCall.create(smallFactory, .task, into: scratch)
        outcomes.1 = SystemCall.createThread(smallFactory, into: scratch, task: RootTaskLayout.taskSlot, priority: 1,
                                             utcb: 0x7F00_0000_0000)
        outcomes.2 = SystemCall.createThread(smallFactory, into: scratch, task: RootTaskLayout.taskSlot, priority: 1,
                                             utcb: ownUTCB)
        outcomes.3 = SystemCall.create(smallFactory, .factory, into: scratch, (2, 0, 0))
        outcomes.4 = SystemCall.create(smallFactory, .factory, into: scratch, (UInt64.max, 0, 0))
        let after = framesLeft(smallFactory)
        check(made == .ok && start == 2 && after == start && outcomes.0 == .quotaExceeded && outcomes.1 == .invalidAddress
              && outcomes.2 == .slotOccupied && outcomes.3 == .quotaExceeded && outcomes.4 == .quotaExceeded,
              "failed creates of a task, threads (unmapped UTCB, a UTCB in use) and factories keep the quota (frames left \(start) before, \(after) after)")

        // A vCPU costs 3 frames: with 2 left its create must fail without taking any.
        let vm = SystemCall.create(factory, .virtualMachine, into: machine)
        if vm == .notSupported {
            log("memtest: vCPU create not tried: no VMX or SVM on this CPU")
        } else {
            let vcpu = SystemCall.create(smallFactory, .virtualCPU, into: scratch, (machine, 1, 0))
            let left = framesLeft(smallFactory)
            check(vm == .ok && vcpu == .quotaExceeded && left == start,
                  "a failed vCPU create keeps the quota (frames left \(start) before, \(left) after; \(vcpu.name))")
        }
        // Independent of the quota read-out: the 2 frames still buy exactly 2 endpoints.
        var bought: UInt64 = 0
        var refusal = SyscallError.ok
        for slot in scratch..<(scratch + 3) where refusal == .ok {
            refusal = SystemCall.create(smallFactory, .endpoint, into: slot)
            if refusal == .ok { bought += 1 }
        }
        let spent = framesLeft(smallFactory)
        check(bought == 2 && refusal == .quotaExceeded && spent == 0,
              "after the failed creates the factory's 2 frames still buy \(bought) endpoints (then \(refusal.name); frames left \(spent))")
    }
}

/// The receiving thread of `mapItemAtTheTop`: reports whether the transfer failed and what landed in its window.
func receiveItems(argument: UInt64, utcbAddress: UInt64) {
    UTCB(address: utcbAddress).receiveWindow = Flexpage(base: Hardening.window, order: 12, rights: .all)
    var message = SystemCall.wait(Hardening.sameTaskEndpoint)
    while true {
        let rights = SystemCall.readMapping(RootTaskLayout.taskSlot, at: Hardening.window).rights
        message = SystemCall.replyWait(Hardening.sameTaskEndpoint, MessageTag(label: 1, words: 2),
                                       (message.tag.transferFailed ? 1 : 0, UInt64(rights.rawValue), 0, 0))
    }
}

/// The thread of `ownerUnmapsAUTCB`: answers each call with its UTCB address.
func reportUTCB(argument: UInt64, utcbAddress: UInt64) {
    _ = SystemCall.wait(Hardening.utcbEndpoint)
    while true {
        _ = SystemCall.replyWait(Hardening.utcbEndpoint, MessageTag(label: 1, words: 1), (utcbAddress, 0, 0, 0))
    }
}
