import SwiftletABI
import SwiftletUser

/// Regression checks for what a hostile task could do to the kernel's memory code (issue 9): a map item
/// ending at 2^64, revoking a page in use as a UTCB, mapping nodes and failed creates leaking quota.
/// Each check passes only on the measured outcome and prints what it measured.
enum Hardening {
    static let sameTaskEndpoint: UInt64 = 27, utcbEndpoint: UInt64 = 28
    static let receiverThread: UInt64 = 29, utcbThread: UInt64 = 30
    /// Slots above `scratch` take the objects (and failed attempts) of `failedCreates`.
    static let machine: UInt64 = 32, scratch: UInt64 = 40
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

    /// A map item whose destination is the page its source was derived from (W, mapped on to X; X sent
    /// into a window on W). Replacing W would revoke X, the source itself, midway through the transfer
    /// (once a use of a freed mapping node); the kernel refuses the item and both mappings stay.
    static func mapOntoAnAncestor(_ check: Check, heap: inout HeapPages) {
        let derived: UInt64 = 0x6100_0000
        let first = SystemCall.task(RootTaskLayout.taskSlot, .mapPages, (heap.take(), window, 1, 1))
        let second = SystemCall.task(RootTaskLayout.taskSlot, .mapPages, (window, derived, 1, 1))
        let (w0, w1) = TypedItem.map(Flexpage(base: derived, order: 12, rights: .all))
        let answer = SystemCall.call(sameTaskEndpoint, MessageTag(label: 1, items: 1), (w0, w1, 0, 0))
        let kept = SystemCall.readMapping(RootTaskLayout.taskSlot, at: window).rights
        let source = SystemCall.readMapping(RootTaskLayout.taskSlot, at: derived).rights
        let cleaned = SystemCall.unmap(Flexpage(base: window, order: 12, rights: .all), own: true)
        let gone = SystemCall.readMapping(RootTaskLayout.taskSlot, at: derived).rights.isEmpty
        check(first == .ok && second == .ok && answer.succeeded && answer.words.0 == 1 && kept == [.read, .write]
              && source == [.read, .write] && cleaned == .ok && gone,
              "a map item onto the page its source came from is refused (transferFailed \(answer.words.0)); both stay mapped (rights \(UInt64(kept.rawValue)), \(UInt64(source.rawValue))) and unmap takes both")
    }

    /// A map item with no rights maps nothing: it once replaced what the window held with a readable page
    /// whose mapping recorded no rights (readMapping said 0, mapPages there said occupied).
    static func mapItemWithoutRights(_ check: Check, heap: inout HeapPages) {
        let source = heap.take()
        let (w0, w1) = TypedItem.map(Flexpage(base: source, order: 12, rights: []))
        let answer = SystemCall.call(sameTaskEndpoint, MessageTag(label: 1, items: 1), (w0, w1, 0, 0))
        let free = SystemCall.task(RootTaskLayout.taskSlot, .mapPages, (heap.take(), window, 1, 1))
        let cleaned = SystemCall.unmap(Flexpage(base: window, order: 12, rights: .all), own: true)
        check(answer.succeeded && answer.words.0 == 1 && answer.words.1 == 0 && free == .ok && cleaned == .ok,
              "a map item without rights is refused and maps nothing (transferFailed \(answer.words.0), rights \(answer.words.1); the window then takes a page: \(free.name))")
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
        let start = timestamp()
        while done < cycles {
            failure = SystemCall.task(task, .mapPages, (page, destination, 1, 1))
            guard failure == .ok else { break }
            failure = SystemCall.unmap(Flexpage(base: page, order: 12, rights: .all))
            guard failure == .ok else { break }
            done += 1
        }
        let perCycle = (timestamp() - start) / max(done, 1)
        let after = framesLeft(factory)
        check(done == cycles && before == after && before > 0,
              "\(done) map/unmap cycles keep the quota (frames left before \(before), after \(after); \(failure.name); \(perCycle) TSC ticks a cycle)")
    }

    /// Creates that fail leave the quota as it was: each kind is tried on a fresh factory of 2 frames, and
    /// afterwards those 2 frames must still buy exactly 2 endpoints (a check that needs no quota read-out).
    static func failedCreates(_ check: Check, ownUTCB: UInt64) {
        var slot = scratch
        func next() -> UInt64 {
            slot += 1
            return slot
        }
        func smallFactory() -> UInt64 {
            let factory = next()
            _ = SystemCall.create(RootTaskLayout.factorySlot, .factory, into: factory, (2, 0, 0))
            return factory
        }
        /// Buys endpoints until refused: how many, and why it stopped.
        func endpoints(from factory: UInt64) -> (UInt64, SyscallError) {
            var bought: UInt64 = 0
            while bought < 3 {
                let error = SystemCall.create(factory, .endpoint, into: next())
                guard error == .ok else { return (bought, error) }
                bought += 1
            }
            return (bought, .ok)
        }

        let objects = smallFactory()
        let start = framesLeft(objects)
        let task = SystemCall.create(objects, .task, into: next())
        let unmapped = SystemCall.createThread(objects, into: next(), task: RootTaskLayout.taskSlot, priority: 1, utcb: 0x7F00_0000_0000)
        let inUse = SystemCall.createThread(objects, into: next(), task: RootTaskLayout.taskSlot, priority: 1, utcb: ownUTCB)
        let factory = SystemCall.create(objects, .factory, into: next(), (2, 0, 0))
        let huge = SystemCall.create(objects, .factory, into: next(), (UInt64.max, 0, 0))
        let after = framesLeft(objects)
        let (bought, refusal) = endpoints(from: objects)
        check(start == 2 && after == start && task == .quotaExceeded && unmapped == .invalidAddress && inUse == .slotOccupied
              && factory == .quotaExceeded && huge == .quotaExceeded && bought == 2 && refusal == .quotaExceeded,
              "failed creates of a task, threads (unmapped UTCB, a UTCB in use) and factories keep the quota (frames left \(start) before, \(after) after; then \(bought) endpoints bought)")

        // A vCPU costs 3 frames: with 2 left its create must fail without taking any.
        let vm = SystemCall.create(RootTaskLayout.factorySlot, .virtualMachine, into: machine)
        guard vm != .notSupported else { return log("memtest: vCPU create not tried: no VMX or SVM on this CPU") }
        let cpus = smallFactory()
        let before = framesLeft(cpus)
        let vcpu = SystemCall.create(cpus, .virtualCPU, into: next(), (machine, 1, 0))
        let left = framesLeft(cpus)
        let (afterVCPU, stop) = endpoints(from: cpus)
        check(vm == .ok && vcpu == .quotaExceeded && before == 2 && left == before && afterVCPU == 2 && stop == .quotaExceeded,
              "a failed vCPU create keeps the quota (frames left \(before) before, \(left) after, \(vcpu.name); then \(afterVCPU) endpoints bought)")
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
