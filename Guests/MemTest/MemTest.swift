import SwiftletABI
import SwiftletUser
import UserPlatform

/// Memory by mapping: the mapping database, map items over IPC, recursive revocation, a pager.
///
/// This task (A) builds two tasks, B and C, whose threads run A's own code (A maps its code pages into
/// them). A maps a page to B by IPC, B maps it on to C; C reads it. A then revokes its page's mappings:
/// B and C both lose it, and C's next read faults to its pager — A — which answers with another page.
/// It also measures the page-fault round trip and the cost of mapping and unmapping one page and 2 MiB.
enum MemTest {
    static let endpointB: UInt64 = 20, endpointC: UInt64 = 21, pagerEndpoint: UInt64 = 22
    static let taskB: UInt64 = 23, taskC: UInt64 = 24, threadB: UInt64 = 25, threadC: UInt64 = 26
    /// Where B and C receive the page, and where C touches fresh pages for the fault benchmark.
    static let windowB: UInt64 = 0x1000_0000, windowC: UInt64 = 0x2000_0000, faultArea: UInt64 = 0x3000_0000
    static let faultRounds: UInt64 = 64
    // Labels between A, B and C.
    static let pass: UInt64 = 1, read: UInt64 = 2, result: UInt64 = 3, bench: UInt64 = 4
}

/// Pages of this task's heap, handed out in order.
struct HeapPages {
    var next = TaskLayout.heap
    mutating func take(_ pages: UInt64 = 1) -> UInt64 {
        let address = next
        next += pages * 4096
        return address
    }
}

@_cdecl("task_main")
func memTestMain(tscKHz: UInt64, utcb utcbAddress: UInt64) {
    var failures: UInt64 = 0
    func check(_ condition: Bool, _ what: LogLine) {
        if !condition { failures += 1 }
        let verdict: StaticString = condition ? "PASS" : "FAIL"
        log("memtest: \(verdict) \(what)")
    }
    let utcb = UTCB(address: utcbAddress)
    var heap = HeapPages()
    let factory = RootTaskLayout.factorySlot, me = RootTaskLayout.taskSlot
    for slot in [MemTest.endpointB, MemTest.endpointC, MemTest.pagerEndpoint] as [UInt64] {
        _ = SystemCall.create(factory, .endpoint, into: slot)
    }
    check(SystemCall.create(factory, .task, into: MemTest.taskB) == .ok
          && SystemCall.create(factory, .task, into: MemTest.taskC) == .ok, "create tasks B and C")

    // 1. The mapping database through mapPages: rights shrink, revocation follows derivation.
    let page = heap.take()
    UnsafeMutablePointer<UInt64>(bitPattern: UInt(page))!.pointee = 0x5EED
    check(SystemCall.task(MemTest.taskB, .mapPages, (page, 0x5000_0000, 1, 1)) == .ok
          && SystemCall.readMapping(MemTest.taskB, at: 0x5000_0000).rights == [.read, .write], "map a page read-write into B")
    check(SystemCall.task(MemTest.taskC, .mapPages, (page, 0x5000_0000, 1, 0)) == .ok
          && SystemCall.readMapping(MemTest.taskC, at: 0x5000_0000).rights == .read, "map it read-only into C")
    check(SystemCall.task(MemTest.taskC, .mapPages, (0x400000, 0x6000_0000, 1, 1)) == .invalidAddress,
          "code pages cannot be passed on writable (rights never grow)")
    check(SystemCall.unmap(Flexpage(base: page, order: 12, rights: .write)) == .ok
          && SystemCall.readMapping(MemTest.taskB, at: 0x5000_0000).rights == .read
          && SystemCall.readMapping(me, at: page).rights == [.read, .write], "unmap the write right: B keeps read, A keeps all")
    check(SystemCall.unmap(Flexpage(base: page, order: 12, rights: .all)) == .ok
          && SystemCall.readMapping(MemTest.taskB, at: 0x5000_0000).rights.isEmpty
          && SystemCall.readMapping(MemTest.taskC, at: 0x5000_0000).rights.isEmpty
          && SystemCall.readMapping(me, at: page).rights == [.read, .write], "unmap: B and C lose the page, A keeps it")
    check(SystemCall.unmap(Flexpage(base: 0x1000, order: 13, rights: .all)) == .invalidArgument
          && SystemCall.unmap(Flexpage(base: 0, order: 11, rights: .all)) == .invalidArgument
          && SystemCall.unmap(Flexpage(base: 0, order: 47, rights: .all), own: false) == .ok,
          "unmap checks its flexpage; the whole address space is cheap to scan")

    // 2. Threads in B and C run this task's code: mirror the code and read-only pages, give each a stack,
    // a UTCB and its endpoints.
    mirrorCode(into: MemTest.taskB)
    mirrorCode(into: MemTest.taskC)
    let (startedB, utcbOfB) = startChild(MemTest.taskB, thread: MemTest.threadB, body: childB, heap: &heap,
                                         capabilities: [(MemTest.endpointB, 4, .receive), (MemTest.endpointC, 5, .send)])
    check(startedB == .ok, "start a thread in B running A's code")
    let (startedC, utcbOfC) = startChild(MemTest.taskC, thread: MemTest.threadC, body: childC, heap: &heap,
                                         capabilities: [(MemTest.endpointC, 4, .receive), (MemTest.pagerEndpoint, 6, .send)])
    check(startedC == .ok && SystemCall.thread(MemTest.threadC, .setPager, (MemTest.pagerEndpoint, 0, 0, 0)).error == .ok,
          "start a thread in C, A as its pager")

    // 3. A → B → C by map items; C reads the value.
    let (w0, w1) = TypedItem.map(Flexpage(base: page, order: 12, rights: [.read, .write]))
    utcb[register: 0] = 0
    let chain = SystemCall.call(MemTest.endpointB, MessageTag(label: MemTest.pass, words: 0, items: 1), (w0, w1, 0, 0))
    check(chain.succeeded && !chain.tag.transferFailed && chain.words.0 == 0x5EED, "A maps to B, B maps to C, C reads 0x5EED")
    check(SystemCall.readMapping(MemTest.taskB, at: MemTest.windowB).rights == [.read, .write]
          && SystemCall.readMapping(MemTest.taskC, at: MemTest.windowC).rights == .read, "B holds read-write, C read-only")

    // 4. Revocation is recursive: A unmaps, B and C lose the page; C's read faults to A, the pager.
    check(SystemCall.unmap(Flexpage(base: page, order: 12, rights: .all)) == .ok
          && SystemCall.readMapping(MemTest.taskB, at: MemTest.windowB).rights.isEmpty
          && SystemCall.readMapping(MemTest.taskC, at: MemTest.windowC).rights.isEmpty, "A revokes: B and C lose the page")
    let other = heap.take()
    UnsafeMutablePointer<UInt64>(bitPattern: UInt(other))!.pointee = 0xBEEF
    _ = SystemCall.send(MemTest.endpointC, MessageTag(label: MemTest.read))
    let fault = SystemCall.wait(MemTest.pagerEndpoint)
    check(fault.tag.label == KernelMessageLabel.pageFault && fault.words.0 == MemTest.windowC
          && PageRights(rawValue: UInt8(fault.words.1)) == .read, "C's read of the revoked page faults to its pager")
    // A pager reply whose send page ends at 2^64 maps nothing (the kernel used to overflow): C faults again.
    let (t0, t1) = TypedItem.map(Hardening.topPage)
    let badReply = SystemCall.reply(MessageTag(label: 0, items: 1), (t0, t1, 0, 0))
    let again = SystemCall.wait(MemTest.pagerEndpoint)
    check(badReply == .ok && again.tag.label == KernelMessageLabel.pageFault && again.words.0 == MemTest.windowC,
          "a pager reply with a map item ending at 2^64 maps nothing: C faults again at \(hex: again.words.0)")
    let (m0, m1) = TypedItem.map(Flexpage(base: other, order: 12, rights: .read))
    _ = SystemCall.reply(MessageTag(label: 0, items: 1), (m0, m1, 0, 0))
    let reread = SystemCall.wait(MemTest.pagerEndpoint)
    check(reread.tag.label == MemTest.result && reread.words.0 == 0xBEEF, "the pager maps another page; C reads 0xBEEF")

    // 5. Page-fault round trip: C touches fresh pages; A answers each fault with a map item.
    _ = SystemCall.send(MemTest.endpointC, MessageTag(label: MemTest.bench))
    var message = SystemCall.wait(MemTest.pagerEndpoint)
    var served: UInt64 = 0
    let answer = heap.take()
    while message.tag.label == KernelMessageLabel.pageFault {
        served += 1
        let (a0, a1) = TypedItem.map(Flexpage(base: answer, order: 12, rights: [.read, .write]))
        message = SystemCall.replyWait(MemTest.pagerEndpoint, MessageTag(label: 0, items: 1), (a0, a1, 0, 0))
    }
    check(served == MemTest.faultRounds && message.tag.label == MemTest.result, "served \(served) page faults")
    log("bench: pagefault.roundtrip.instructions \(message.words.0)")

    // B and C are done: their pager revokes B's UTCB and write-protects C's (section 6 would revoke both,
    // since they are heap pages). Each thread must stop before the kernel would write a revoked frame.
    Hardening.pagerRevokesAUTCB(check, task: MemTest.taskB, thread: MemTest.threadB, page: utcbOfB, writeOnly: false, heap: &heap)
    Hardening.pagerRevokesAUTCB(check, task: MemTest.taskC, thread: MemTest.threadC, page: utcbOfC, writeOnly: true, heap: &heap)

    // 6. The cost of mapping and unmapping one page and 2 MiB (from the heap: its 256 pages twice).
    let rounds: UInt64 = 32
    var mapCost: UInt64 = 0, unmapCost: UInt64 = 0
    for _ in 0..<rounds {
        let start = timestamp()
        _ = SystemCall.task(MemTest.taskB, .mapPages, (page, 0x7000_0000, 1, 1))
        let mapped = timestamp()
        _ = SystemCall.unmap(Flexpage(base: page, order: 12, rights: .all))
        unmapCost += timestamp() - mapped
        mapCost += mapped - start
    }
    let half = TaskLayout.heapPages
    let start = timestamp()
    let firstHalf = SystemCall.task(MemTest.taskB, .mapPages, (TaskLayout.heap, 0x4000_0000, half, 1))
    let secondHalf = SystemCall.task(MemTest.taskB, .mapPages, (TaskLayout.heap, 0x4000_0000 + half * 4096, half, 1))
    let mapped = timestamp()
    check(firstHalf == .ok && secondHalf == .ok && SystemCall.readMapping(MemTest.taskB, at: 0x401F_F000).rights == [.read, .write],
          "map 2 MiB (512 pages) into B")
    _ = SystemCall.unmap(Flexpage(base: TaskLayout.heap, order: 20, rights: .all))
    let unmapped = timestamp()
    check(SystemCall.readMapping(MemTest.taskB, at: 0x4000_0000).rights.isEmpty
          && SystemCall.readMapping(MemTest.taskB, at: 0x401F_F000).rights.isEmpty, "unmap them in one call")
    log("bench: map.page.instructions \(mapCost / rounds)")
    log("bench: unmap.page.instructions \(unmapCost / rounds)")
    log("bench: map.2mib.instructions \(mapped - start)")
    log("bench: unmap.2mib.instructions \(unmapped - mapped)")

    // 7. Hostile use of the memory calls (issue 9): no overflow, no revoked UTCB in use, no leaked quota.
    var spawner = ThreadSpawner()
    Hardening.mapItemAtTheTop(check, spawner: &spawner)
    Hardening.mapOntoAnAncestor(check, heap: &heap)
    Hardening.mapItemWithoutRights(check, heap: &heap)
    Hardening.failedCreates(check, ownUTCB: utcbAddress)
    Hardening.mapUnmapCycles(check, into: MemTest.taskB, page: page, destination: 0x7000_0000)
    Hardening.ownerUnmapsAUTCB(check, spawner: &spawner, heap: &heap)

    // 8. Past its heap the root task pages memory in on demand: this thread's pager is the root task.
    let beyond = UnsafeMutablePointer<UInt64>(bitPattern: UInt(TaskLayout.heap + TaskLayout.heapPages * 4096 + 0x3000))!
    let before = beyond.pointee
    beyond.pointee = 0xFEED
    check(before == 0 && beyond.pointee == 0xFEED, "a page past the heap is paged in by the root task")

    _ = SystemCall.thread(MemTest.threadB, .stop)
    _ = SystemCall.thread(MemTest.threadC, .stop)
    log("memtest: \(failures) failures")
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}

/// Maps this task's code and read-only pages (from 4 MiB up) into `task` at the same addresses.
func mirrorCode(into task: UInt64) {
    var address: UInt64 = 0x40_0000
    for _ in 0..<512 {
        let rights = SystemCall.readMapping(RootTaskLayout.taskSlot, at: address).rights
        if !rights.isEmpty && !rights.contains(.write) {
            _ = SystemCall.task(task, .mapPages, (address, address, 1, rights.contains(.execute) ? 2 : 0))
        }
        address += 4096
    }
}

/// Gives `task` a stack and a UTCB from the heap, the capabilities, and a thread running `body`. Returns
/// the outcome and the page of this task that is the thread's UTCB.
func startChild(_ task: UInt64, thread: UInt64, body: @convention(c) (UInt64, UInt64) -> Void, heap: inout HeapPages,
                capabilities: [(UInt64, UInt64, Rights)]) -> (SyscallError, UInt64) {
    let stack = heap.take(2), utcb = heap.take()
    var error = SystemCall.task(task, .mapPages, (stack, TaskLayout.stackTop - 2 * 4096, 2, 1))
    if error == .ok { error = SystemCall.task(task, .mapPages, (utcb, TaskLayout.utcb, 1, 1)) }
    for (mine, theirs, rights) in capabilities where error == .ok {
        error = SystemCall.task(task, .copyCapability, (mine, theirs, UInt64(rights.rawValue), 0))
    }
    if error == .ok {
        error = SystemCall.createThread(RootTaskLayout.factorySlot, into: thread, task: task, priority: 100, utcb: TaskLayout.utcb)
    }
    let entry = UInt64(UInt(bitPattern: unsafeBitCast(body, to: UnsafeRawPointer.self)))
    if error == .ok { error = SystemCall.thread(thread, .setEntry, (entry, TaskLayout.stackTop, 0, 0)).error }
    if error == .ok { error = SystemCall.thread(thread, .start).error }
    return (error, utcb)
}

/// B: receives A's page at its window and maps it on, read-only, to C; returns what C read.
func childB(argument: UInt64, utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    utcb.receiveWindow = Flexpage(base: MemTest.windowB, order: 12, rights: .all)
    _ = SystemCall.wait(4)
    while true {
        let (w0, w1) = TypedItem.map(Flexpage(base: MemTest.windowB, order: 12, rights: .read))
        let answer = SystemCall.call(5, MessageTag(label: MemTest.pass, items: 1), (w0, w1, 0, 0))
        _ = SystemCall.replyWait(4, MessageTag(label: MemTest.result, words: 1), (answer.words.0, 0, 0, 0))
    }
}

/// C: reads the page it receives; on request reads it again (through the pager if it is gone), or touches
/// fresh pages and reports the average fault round trip.
func childC(argument: UInt64, utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    utcb.receiveWindow = Flexpage(base: MemTest.windowC, order: 12, rights: .all)
    var request = SystemCall.wait(4)
    request = SystemCall.replyWait(4, MessageTag(label: MemTest.result, words: 1), (readWord(MemTest.windowC), 0, 0, 0))
    while true {
        switch request.tag.label {
        case MemTest.read:
            _ = SystemCall.send(6, MessageTag(label: MemTest.result, words: 1), (readWord(MemTest.windowC), 0, 0, 0))
        case MemTest.bench:
            let start = timestamp()
            for index in 0..<MemTest.faultRounds { _ = readWord(MemTest.faultArea + index * 4096) }
            let average = (timestamp() - start) / MemTest.faultRounds
            _ = SystemCall.send(6, MessageTag(label: MemTest.result, words: 1), (average, 0, 0, 0))
        default:
            break
        }
        request = SystemCall.wait(4)
    }
}

@inline(never)
func readWord(_ address: UInt64) -> UInt64 {
    user_fault_read(address)
}
