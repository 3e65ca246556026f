import SwiftletABI
import SwiftletUser
import UserPlatform

/// Bad input: every system call with invalid arguments, each checked against its specific error code,
/// then a seeded random fuzzer of raw system calls running beside a thread pair doing correct echo IPC.
///
/// The kernel must answer every call with a defined SyscallError, keep running, and keep the other
/// threads' IPC working. Console lines: `abusetest: PASS|FAIL ...` per check, `fuzz: ...` for the fuzzer.
enum Slot {
    // The systematic tests' objects.
    static let endpoint: UInt64 = 10          // send, receive, grant
    static let sendOnly: UInt64 = 11
    static let receiveOnly: UInt64 = 12
    static let factoryNoRights: UInt64 = 13
    static let threadNoRights: UInt64 = 14
    static let taskNoRights: UInt64 = 15
    static let emptyFactory: UInt64 = 16      // a factory with 0 frames
    static let childTask: UInt64 = 17
    static let inactiveThread: UInt64 = 18    // created, never started
    static let scratch: UInt64 = 19
    static let moreRights: UInt64 = 20
    static let smallFactory: UInt64 = 21
    static let smallTask: UInt64 = 22
    static let empty: UInt64 = 50             // never used

    /// The fuzzer never names these selectors where it could destroy, stop or use what they hold.
    static let protected: ClosedRange<UInt64> = 208...254
    /// Copies of the endpoints the started workers serve, one per worker stack (8).
    static let servedEndpoints: UInt64 = 208
    /// Copies of the fuzzer's started worker threads (8), and of the tasks whose pages it models (4).
    static let workerCopies: UInt64 = 216
    static let childCopies: UInt64 = 224
    /// Templates the fuzzer's objects in slots 1-9 are copied from every `Fuzz.refreshInterval` calls.
    static let threadTemplate: UInt64 = 232
    static let fuzzFactory: UInt64 = 252
    static let fuzzEndpoint: UInt64 = 253
    static let mainThread: UInt64 = 240
    static let task: UInt64 = 241
    static let factory: UInt64 = 242
    static let report: UInt64 = 243
    static let echo: UInt64 = 244
    static let stopEcho: UInt64 = 245
    static let results: UInt64 = 246
    static let go: UInt64 = 247
    static let echoServer: UInt64 = 248
    static let echoClient: UInt64 = 249
    static let fuzzer: UInt64 = 250
    static let echoSleep: UInt64 = 251
    static let partner: UInt64 = 236
}

enum Label {
    static let echo: UInt64 = 1
    static let stop: UInt64 = 2
    static let fuzzDone: UInt64 = 3
    static let echoDone: UInt64 = 4
}

let userSpaceEnd: UInt64 = 0x0000_8000_0000_0000

@inline(__always)
func sc(_ number: UInt64, _ rdi: UInt64 = 0, _ rsi: UInt64 = 0, _ rdx: UInt64 = 0, _ r10: UInt64 = 0,
        _ r8: UInt64 = 0, _ r9: UInt64 = 0, timeout r12: UInt64 = 0) -> UInt64 {
    SystemCall.raw(number, rdi, rsi, rdx, r10, r8, r9, r12)
}

let call = Syscall.call.rawValue, replyWait = Syscall.replyWait.rawValue, send = Syscall.send.rawValue
let wait = Syscall.wait.rawValue, reply = Syscall.reply.rawValue, yield = Syscall.yield.rawValue
let debugWrite = Syscall.debugWrite.rawValue, create = Syscall.create.rawValue
let threadControl = Syscall.threadControl.rawValue, taskControl = Syscall.taskControl.rawValue
let capabilityControl = Syscall.capabilityControl.rawValue, machineControl = Syscall.machineControl.rawValue

func tag(_ words: Int, items: Int = 0) -> UInt64 {
    MessageTag(label: 0x77, words: words, items: items).raw
}

/// A create into the scratch slot that must fail; if it succeeds anyway, the object is deleted again so
/// that one wrong answer does not turn the following checks into `slotOccupied`.
func tryCreate(_ factory: UInt64, _ type: UInt64, _ a: UInt64 = 0, _ b: UInt64 = 0, _ c: UInt64 = 0) -> UInt64 {
    let result = sc(create, factory, type, Slot.scratch, a, b, c)
    if result == SyscallError.ok.rawValue { _ = SystemCall.capability(Slot.scratch, .delete) }
    return result
}

/// A page no task has mapped: the guard page below the main thread's stack.
let unmappedPage = TaskLayout.stackTop - TaskLayout.stackPages * 4096 - 4096

let badTimeout = Timeout.maximumMicroseconds + 1
let allRights = UInt64(Rights.all.rawValue)

@_cdecl("task_main")
func abuseTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("abusetest")
    log("abusetest: start; every system call with invalid arguments, then \(Fuzz.calls) fuzzed calls")
    guard setUp(&checks) else {
        checks.report()
        return
    }
    selectors(&checks)
    ipc(&checks)
    unknownAndConsole(&checks)
    creation(&checks)
    threads(&checks)
    tasks(&checks)
    capabilities(&checks)
    machine(&checks)
    fuzzBesideEcho(&checks, tscKHz: tscKHz)
    checks.report(through: Slot.report)
    _ = SystemCall.thread(Slot.mainThread, .stop)
}

func setUp(_ checks: inout TestChecks) -> Bool {
    let factory = RootTaskLayout.factorySlot
    var ok = SystemCall.create(factory, .endpoint, into: Slot.endpoint) == .ok
    ok = ok && SystemCall.capability(Slot.endpoint, .copy, (Slot.sendOnly, UInt64(Rights.send.rawValue), 0, 0)).succeeded
    ok = ok && SystemCall.capability(Slot.endpoint, .copy, (Slot.receiveOnly, UInt64(Rights.receive.rawValue), 0, 0)).succeeded
    ok = ok && SystemCall.capability(factory, .copy, (Slot.factoryNoRights, 0, 0, 0)).succeeded
    ok = ok && SystemCall.capability(RootTaskLayout.threadSlot, .copy, (Slot.threadNoRights, 0, 0, 0)).succeeded
    ok = ok && SystemCall.capability(RootTaskLayout.taskSlot, .copy, (Slot.taskNoRights, 0, 0, 0)).succeeded
    ok = ok && SystemCall.create(factory, .factory, into: Slot.emptyFactory, (0, 0, 0)) == .ok
    ok = ok && SystemCall.create(factory, .task, into: Slot.childTask) == .ok
    // The last of the 16 spare thread pages (ThreadSpawner uses the first 12 for its three threads here).
    ok = ok && SystemCall.createThread(factory, into: Slot.inactiveThread, task: RootTaskLayout.taskSlot, priority: 50,
                                       utcb: spareUTCB) == .ok
    return checks.check(ok, "setup: an endpoint, copies without rights, a 0-frame factory, a child task, an inactive thread")
}

var spareUTCB: UInt64 { user_thread_pages() + 15 * 4096 }

// MARK: Selectors, for every call that takes one

func selectors(_ checks: inout TestChecks) {
    let numbers: InlineArray<8, UInt64> = [call, replyWait, send, wait, create, threadControl, taskControl, machineControl]
    for index in numbers.indices {
        let number = numbers[index]
        // RSI 1 is a valid operation or object type for the control calls; the IPC calls get timeout zero.
        checks.expect(raw: sc(number, 256, 1), .selectorOutOfRange, "syscall \(number) selector 256")
        checks.expect(raw: sc(number, UInt64.max, 1), .selectorOutOfRange, "syscall \(number) selector 2^64-1")
        checks.expect(raw: sc(number, 1 << 32, 1), .selectorOutOfRange, "syscall \(number) selector 2^32 (no truncation)")
        checks.expect(raw: sc(number, 0, 1), .emptySlot, "syscall \(number) selector 0")
        checks.expect(raw: sc(number, Slot.empty, 1), .emptySlot, "syscall \(number) empty slot \(Slot.empty)")
    }
    for operation in 1...3 as ClosedRange<UInt64> {
        checks.expect(raw: sc(capabilityControl, 256, operation, 60), .selectorOutOfRange, "capabilityControl op \(operation) selector 256")
        checks.expect(raw: sc(capabilityControl, 0, operation, 60), .emptySlot, "capabilityControl op \(operation) selector 0")
        checks.expect(raw: sc(capabilityControl, Slot.empty, operation, 60), .emptySlot, "capabilityControl op \(operation) empty slot")
    }
}

// MARK: IPC

func ipc(_ checks: inout TestChecks) {
    // Wrong object type and missing rights.
    checks.expect(raw: sc(call, RootTaskLayout.taskSlot, tag(0)), .wrongObjectType, "call on the task capability")
    checks.expect(raw: sc(send, RootTaskLayout.factorySlot, tag(0)), .wrongObjectType, "send on the factory capability")
    checks.expect(raw: sc(wait, RootTaskLayout.threadSlot), .wrongObjectType, "wait on the thread capability")
    checks.expect(raw: sc(replyWait, RootTaskLayout.taskSlot, tag(0)), .wrongObjectType, "reply-wait on the task capability")
    checks.expect(raw: sc(call, Slot.receiveOnly, tag(0)), .missingRight, "call through a receive-only copy")
    checks.expect(raw: sc(send, Slot.receiveOnly, tag(0)), .missingRight, "send through a receive-only copy")
    checks.expect(raw: sc(wait, Slot.sendOnly), .missingRight, "wait on a send-only copy")
    checks.expect(raw: sc(replyWait, Slot.sendOnly, tag(0)), .missingRight, "reply-wait on a send-only copy")

    // Messages too long: 65 words, 64 words and an item, 33 items, the largest encodable tag.
    let numberValues: InlineArray<3, UInt64> = [call, send, replyWait]
    for numberIndex in numberValues.indices {
        let number = numberValues[numberIndex]
        checks.expect(raw: sc(number, Slot.endpoint, tag(65)), .messageTooLong, "syscall \(number) with 65 words")
        checks.expect(raw: sc(number, Slot.endpoint, tag(64, items: 1)), .messageTooLong, "syscall \(number) with 64 words + 1 item")
        checks.expect(raw: sc(number, Slot.endpoint, tag(0, items: 33)), .messageTooLong, "syscall \(number) with 33 items")
        checks.expect(raw: sc(number, Slot.endpoint, tag(127, items: 63)), .messageTooLong, "syscall \(number) with 127 words + 63 items")
    }
    checks.expect(raw: sc(reply, 0, tag(65)), .messageTooLong, "reply with 65 words")
    checks.expect(raw: sc(reply, 0, tag(62, items: 2)), .messageTooLong, "reply with 62 words + 2 items")

    // Bad timeouts: just above the maximum relative timeout, and the value below infinite.
    let blocking: InlineArray<4, UInt64> = [call, send, replyWait, wait]
    for blockingIndex in blocking.indices {
        let number = blocking[blockingIndex]
        checks.expect(raw: sc(number, Slot.endpoint, tag(1), timeout: badTimeout), .invalidTimeout,
                      "syscall \(number) with timeout 2^40+1 us")
        checks.expect(raw: sc(number, Slot.endpoint, tag(1), timeout: UInt64.max - 1), .invalidTimeout,
                      "syscall \(number) with timeout 2^64-2 us")
        checks.expect(raw: sc(number, Slot.endpoint, tag(1), timeout: 0), .timeout, "syscall \(number) with zero timeout, no partner")
    }
    // A 64-word message and 32 items are within the limit (zero timeout: no partner).
    checks.expect(raw: sc(send, Slot.endpoint, tag(64), timeout: 0), .timeout, "send with exactly 64 words is accepted")
    checks.expect(raw: sc(send, Slot.endpoint, tag(0, items: 32), timeout: 0), .timeout, "send with exactly 32 items is accepted")
    checks.expect(raw: sc(reply, 0, tag(1)), .noCaller, "reply without a caller")
    checks.expect(raw: sc(reply, 0, tag(64)), .noCaller, "reply of 64 words without a caller")
}

// MARK: Unknown system calls and the console

func unknownAndConsole(_ checks: inout TestChecks) {
    // Syscall.count is the first number the ABI does not define.
    let numberValues: InlineArray<8, UInt64> = [0, Syscall.count, Syscall.count + 1, 99, 0xFF, 1 << 32 | 1, 1 << 63 | 3, UInt64.max]
    for numberIndex in numberValues.indices {
        let number = numberValues[numberIndex]
        checks.expect(raw: sc(number, Slot.endpoint, tag(0)), .unknownSyscall, "syscall number \(hex: number)")
    }
    checks.expect(raw: sc(debugWrite, 0, 33), .messageTooLong, "debugWrite of 33 bytes")
    checks.expect(raw: sc(debugWrite, 0, Syscall.debugWriteContinues | 33), .messageTooLong, "debugWrite of 33 bytes, continued")
    checks.expect(raw: sc(debugWrite, 0, UInt64.max), .messageTooLong, "debugWrite of 2^63-1 bytes")
    checks.expect(raw: sc(debugWrite, 0, Syscall.debugWriteContinues), .ok, "debugWrite of 0 bytes, continued")
    checks.expect(raw: sc(yield), .ok, "yield")
}

// MARK: create

func creation(_ checks: inout TestChecks) {
    let factory = RootTaskLayout.factorySlot, endpoint = UInt64(ObjectType.endpoint.rawValue)
    let thread = UInt64(ObjectType.thread.rawValue), factoryType = UInt64(ObjectType.factory.rawValue)
    checks.expect(raw: tryCreate(RootTaskLayout.taskSlot, endpoint), .wrongObjectType, "create from the task capability")
    checks.expect(raw: tryCreate(Slot.endpoint, endpoint), .wrongObjectType, "create from an endpoint")
    checks.expect(raw: tryCreate(Slot.factoryNoRights, endpoint), .missingRight, "create from a factory copy without control")
    let typeValues: InlineArray<6, UInt64> = [0, 5, 6, 255, 0x103, UInt64.max]
    for typeIndex in typeValues.indices {
        let type = typeValues[typeIndex]
        checks.expect(raw: tryCreate(factory, type), .invalidArgument, "create object type \(hex: type)")
    }
    checks.expect(raw: sc(create, factory, endpoint, 0), .selectorOutOfRange, "create into slot 0")
    checks.expect(raw: sc(create, factory, endpoint, 256), .selectorOutOfRange, "create into slot 256")
    checks.expect(raw: sc(create, factory, endpoint, UInt64.max), .selectorOutOfRange, "create into slot 2^64-1")
    checks.expect(raw: sc(create, factory, endpoint, RootTaskLayout.taskSlot), .slotOccupied, "create into an occupied slot")

    // Quotas.
    checks.expect(raw: tryCreate(Slot.emptyFactory, endpoint), .quotaExceeded, "create an endpoint from a 0-frame factory")
    checks.expect(raw: tryCreate(Slot.emptyFactory, UInt64(ObjectType.task.rawValue)), .quotaExceeded,
                  "create a task from a 0-frame factory")
    checks.expect(raw: tryCreate(Slot.emptyFactory, factoryType, 0), .quotaExceeded, "create a factory from a 0-frame factory")
    checks.expect(raw: tryCreate(Slot.emptyFactory, thread, RootTaskLayout.taskSlot, 10, spareUTCB), .quotaExceeded,
                  "create a thread from a 0-frame factory")
    checks.expect(raw: tryCreate(factory, factoryType, 1 << 40), .quotaExceeded, "create a factory of 2^40 frames")
    checks.expect(raw: tryCreate(factory, factoryType, 257), .quotaExceeded, "create a factory larger than its parent")
    checks.expect(raw: tryCreate(factory, factoryType, UInt64.max), .quotaExceeded,
                  "create a factory of 2^64-1 frames (frames + its own frame must not overflow)")

    // Threads: the task argument, the priority, the UTCB.
    let task = RootTaskLayout.taskSlot
    checks.expect(raw: tryCreate(factory, thread, 256, 10, spareUTCB), .selectorOutOfRange, "create a thread in task selector 256")
    checks.expect(raw: tryCreate(factory, thread, Slot.empty, 10, spareUTCB), .emptySlot, "create a thread in an empty slot's task")
    checks.expect(raw: tryCreate(factory, thread, factory, 10, spareUTCB), .wrongObjectType, "create a thread in a factory")
    checks.expect(raw: tryCreate(factory, thread, Slot.taskNoRights, 10, spareUTCB), .missingRight,
                  "create a thread in a task copy without control")
    checks.expect(raw: tryCreate(factory, thread, task, 256, spareUTCB), .invalidArgument, "create a thread with priority 256")
    checks.expect(raw: tryCreate(factory, thread, task, UInt64.max, spareUTCB), .invalidArgument, "create a thread with priority 2^64-1")
    checks.expect(raw: tryCreate(factory, thread, task, 101, spareUTCB), .priorityTooHigh, "create a thread with priority 101 > own 100")
    checks.expect(raw: tryCreate(factory, thread, task, 255, spareUTCB), .priorityTooHigh, "create a thread with priority 255 > own 100")
    checks.expect(raw: tryCreate(factory, thread, task, 10, userSpaceEnd), .invalidAddress, "create a thread with its UTCB at 2^47")
    checks.expect(raw: tryCreate(factory, thread, task, 10, 0xFFFF_FFFF_8000_0000), .invalidAddress,
                  "create a thread with its UTCB in the kernel")
    checks.expect(raw: tryCreate(factory, thread, task, 10, spareUTCB + 8), .unalignedAddress, "create a thread with an unaligned UTCB")
    checks.expect(raw: tryCreate(factory, thread, task, 10, spareUTCB + 0xFFF), .unalignedAddress, "create a thread with UTCB at page + 0xfff")
    checks.expect(raw: tryCreate(factory, thread, task, 10, unmappedPage), .invalidAddress, "create a thread with an unmapped UTCB (the page below the stack)")
    checks.expect(raw: tryCreate(factory, thread, task, 10, 0), .invalidAddress, "create a thread with its UTCB at 0")
    checks.expect(raw: tryCreate(factory, thread, task, 10, 0x40_0000), .invalidAddress, "create a thread with a read-only (text) UTCB")
    checks.expect(raw: tryCreate(factory, thread, Slot.childTask, 10, spareUTCB), .invalidAddress,
                  "create a thread in a child task where that UTCB is not mapped")
}

// MARK: threadControl

func threads(_ checks: inout TestChecks) {
    let own = RootTaskLayout.threadSlot, inactive = Slot.inactiveThread
    checks.expect(raw: sc(threadControl, RootTaskLayout.taskSlot, ThreadOperation.readState.rawValue), .wrongObjectType, "threadControl on the task")
    checks.expect(raw: sc(threadControl, Slot.endpoint, ThreadOperation.readState.rawValue), .wrongObjectType, "threadControl on an endpoint")
    checks.expect(raw: sc(threadControl, Slot.threadNoRights, ThreadOperation.readState.rawValue), .missingRight,
                  "threadControl on a thread copy without control")
    let operationValues: InlineArray<5, UInt64> = [0, 99, 0xFF, 1 << 32 | 1, UInt64.max]
    for operationIndex in operationValues.indices {
        let operation = operationValues[operationIndex]
        checks.expect(raw: sc(threadControl, own, operation), .invalidArgument, "threadControl operation \(hex: operation)")
    }
    checks.expect(raw: sc(threadControl, own, ThreadOperation.setEntry.rawValue, 0x40_0000, 0x1000), .invalidThreadState,
                  "setEntry on the running thread")
    checks.expect(raw: sc(threadControl, own, ThreadOperation.start.rawValue), .invalidThreadState, "start the running thread")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.start.rawValue), .invalidThreadState, "start a thread without an entry point")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.stop.rawValue), .invalidThreadState, "stop a thread never started")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.setEntry.rawValue, userSpaceEnd, 0x1000), .invalidAddress,
                  "setEntry with RIP 2^47")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.setEntry.rawValue, 0xFFFF_FFFF_8000_1000, 0x1000), .invalidAddress,
                  "setEntry with a kernel RIP")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.setEntry.rawValue, 0x40_0000, UInt64.max), .invalidAddress,
                  "setEntry with RSP 2^64-1")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.setPriority.rawValue, 256), .invalidArgument, "setPriority 256")
    checks.expect(raw: sc(threadControl, inactive, ThreadOperation.setPriority.rawValue, 101), .priorityTooHigh, "setPriority 101 > own 100")
    checks.expect(raw: sc(threadControl, own, ThreadOperation.setPriority.rawValue, 200), .priorityTooHigh, "raise own priority to 200")
    let handler = ThreadOperation.setExceptionHandler.rawValue
    checks.expect(raw: sc(threadControl, inactive, handler, 256), .selectorOutOfRange, "setExceptionHandler selector 256")
    checks.expect(raw: sc(threadControl, inactive, handler, Slot.empty), .emptySlot, "setExceptionHandler to an empty slot")
    checks.expect(raw: sc(threadControl, inactive, handler, RootTaskLayout.taskSlot), .wrongObjectType, "setExceptionHandler to the task")
    checks.expect(raw: sc(threadControl, inactive, handler, Slot.receiveOnly), .missingRight, "setExceptionHandler to a receive-only endpoint")
    checks.expect(raw: sc(threadControl, inactive, handler, 0), .ok, "setExceptionHandler 0 (none)")
    let state = SystemCall.thread(own, .readState)
    checks.check(state.succeeded && state.words.0 == ThreadStateCode.running.rawValue, "readState of the own thread: running (\(state.words.0))")
    let other = SystemCall.thread(inactive, .readState)
    checks.check(other.succeeded && other.words.0 == ThreadStateCode.inactive.rawValue, "readState of the created thread: inactive (\(other.words.0))")
}

// MARK: taskControl

func tasks(_ checks: inout TestChecks) {
    let child = Slot.childTask, map = TaskOperation.mapPages.rawValue, copy = TaskOperation.copyCapability.rawValue
    let page = TaskLayout.utcb          // writable, not executable
    let text: UInt64 = 0x40_0000        // read and execute
    checks.expect(raw: sc(taskControl, RootTaskLayout.threadSlot, map), .wrongObjectType, "taskControl on the thread")
    checks.expect(raw: sc(taskControl, Slot.taskNoRights, map), .missingRight, "taskControl on a task copy without control")
    let operationValues: InlineArray<4, UInt64> = [0, 99, 1 << 32 | 1, UInt64.max]
    for operationIndex in operationValues.indices {
        let operation = operationValues[operationIndex]
        checks.expect(raw: sc(taskControl, child, operation), .invalidArgument, "taskControl operation \(hex: operation)")
    }
    // mapPages: MR0 source, MR1 destination, MR2 pages, MR3 rights (bit 0 write, bit 1 execute).
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_1000, 1, 3), .invalidAddress,
                  "mapPages a data page as writable and executable (more rights)")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_2000, 1, 4), .invalidArgument, "mapPages rights 4")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_3000, 0, 0), .invalidArgument, "mapPages of 0 pages")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_4000, 4097, 0), .invalidArgument, "mapPages of 4097 pages")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_5000, UInt64.max, 0), .invalidArgument, "mapPages of 2^64-1 pages")
    checks.expect(raw: sc(taskControl, child, map, page + 8, 0x1100_6000, 1, 0), .unalignedAddress, "mapPages from an unaligned source")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1000_0008, 1, 0), .unalignedAddress, "mapPages to an unaligned destination")
    checks.expect(raw: sc(taskControl, child, map, userSpaceEnd, 0x1100_7000, 1, 0), .invalidAddress, "mapPages from 2^47")
    checks.expect(raw: sc(taskControl, child, map, page, userSpaceEnd, 1, 0), .invalidAddress, "mapPages to 2^47")
    checks.expect(raw: sc(taskControl, child, map, page, userSpaceEnd - 4096, 2, 0), .invalidAddress, "mapPages across the end of user space")
    checks.expect(raw: sc(taskControl, child, map, page, userSpaceEnd - 4096, 1, 0), .invalidAddress,
                  "mapPages to the top page of user space (kept unmapped)")
    checks.expect(raw: sc(taskControl, child, map, 0xFFFF_FFFF_8000_0000, 0x1100_8000, 1, 0), .invalidAddress, "mapPages from the kernel image")
    checks.expect(raw: sc(taskControl, child, map, unmappedPage, 0x1100_9000, 1, 0), .invalidAddress,
                  "mapPages from an unmapped source (the page below the stack)")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_A000, 2, 0), .invalidAddress, "mapPages of a mapped and an unmapped page")
    checks.expect(raw: sc(taskControl, child, map, text, 0x1100_B000, 1, 1), .invalidAddress, "mapPages read-only text as writable (more rights)")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1100_C000, 1, 2), .invalidAddress, "mapPages a data page as executable (more rights)")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1000_0000, 1, 0), .ok, "mapPages one page read-only into the child")
    checks.expect(raw: sc(taskControl, child, map, page, 0x1000_0000, 1, 0), .slotOccupied, "mapPages onto a mapped page")
    checks.expect(raw: sc(taskControl, child, map, text, 0x2000_0000, 1, 2), .ok, "mapPages text as executable")

    // Page tables are charged to the factory that made the task: from a factory with 3 frames for the task
    // and 6 more, mappings 1 GiB apart (each needing new page tables) soon exceed the quota.
    var error = sc(create, RootTaskLayout.factorySlot, UInt64(ObjectType.factory.rawValue), Slot.smallFactory, 9)
    error = error == 0 ? sc(create, Slot.smallFactory, UInt64(ObjectType.task.rawValue), Slot.smallTask) : error
    checks.expect(raw: error, .ok, "create a task from a factory of 9 frames")
    var mapped = 0
    error = 0
    while error == 0 && mapped < 16 {
        error = sc(taskControl, Slot.smallTask, map, page, 0x4000_0000 * UInt64(mapped + 1), 1, 0)
        if error == 0 { mapped += 1 }
    }
    checks.check(error == SyscallError.quotaExceeded.rawValue && mapped >= 1 && mapped <= 6,
                 "page tables are charged to the task's factory: \(mapped) mappings 1 GiB apart, then \(SyscallError(rawValue: error)?.name ?? "?")")

    // copyCapability: MR0 own slot, MR1 destination slot in the task, MR2 rights mask.
    checks.expect(raw: sc(taskControl, child, copy, 256, 5, allRights), .selectorOutOfRange, "copyCapability from selector 256")
    checks.expect(raw: sc(taskControl, child, copy, 0, 5, allRights), .emptySlot, "copyCapability from selector 0")
    checks.expect(raw: sc(taskControl, child, copy, Slot.empty, 5, allRights), .emptySlot, "copyCapability from an empty slot")
    checks.expect(raw: sc(taskControl, child, copy, Slot.endpoint, 5, 0x100), .invalidArgument, "copyCapability with rights mask 0x100")
    checks.expect(raw: sc(taskControl, child, copy, Slot.endpoint, 0, allRights), .selectorOutOfRange, "copyCapability into slot 0")
    checks.expect(raw: sc(taskControl, child, copy, Slot.endpoint, 256, allRights), .selectorOutOfRange, "copyCapability into slot 256")
    checks.expect(raw: sc(taskControl, child, copy, Slot.endpoint, 5, allRights), .ok, "copyCapability into the child's slot 5")
    checks.expect(raw: sc(taskControl, child, copy, Slot.endpoint, 5, allRights), .slotOccupied, "copyCapability into an occupied slot")
    error = sc(taskControl, RootTaskLayout.taskSlot, copy, Slot.sendOnly, Slot.moreRights, 0xFF)
    let identity = SystemCall.capability(Slot.moreRights, .identify)
    checks.check(error == 0 && identity.words.1 == UInt64(Rights.send.rawValue),
                 "copyCapability of a send-only copy asking for all rights: rights stay \(hex: identity.words.1)")
    _ = SystemCall.capability(Slot.moreRights, .delete)
}

// MARK: capabilityControl

func capabilities(_ checks: inout TestChecks) {
    let copy = CapabilityOperation.copy.rawValue, delete = CapabilityOperation.delete.rawValue
    let operationValues: InlineArray<4, UInt64> = [0, 99, 1 << 32 | 1, UInt64.max]
    for operationIndex in operationValues.indices {
        let operation = operationValues[operationIndex]
        checks.expect(raw: sc(capabilityControl, Slot.endpoint, operation), .invalidArgument, "capabilityControl operation \(hex: operation)")
    }
    checks.expect(raw: sc(capabilityControl, Slot.endpoint, copy, 0, allRights), .selectorOutOfRange, "copy into slot 0")
    checks.expect(raw: sc(capabilityControl, Slot.endpoint, copy, 256, allRights), .selectorOutOfRange, "copy into slot 256")
    checks.expect(raw: sc(capabilityControl, Slot.endpoint, copy, RootTaskLayout.taskSlot, allRights), .slotOccupied, "copy into an occupied slot")
    checks.expect(raw: sc(capabilityControl, Slot.endpoint, copy, Slot.scratch, 0x100), .invalidArgument, "copy with rights mask 0x100")
    checks.expect(raw: sc(capabilityControl, Slot.endpoint, copy, Slot.scratch, allRights, 1 << 48), .invalidArgument, "copy with badge 2^48")
    checks.expect(raw: sc(capabilityControl, RootTaskLayout.taskSlot, copy, Slot.scratch, allRights, 5), .invalidArgument, "copy a task with a badge")
    checks.expect(raw: sc(capabilityControl, Slot.sendOnly, copy, Slot.moreRights, 0xFF), .ok, "copy a send-only endpoint with mask 0xff")
    let identity = SystemCall.capability(Slot.moreRights, .identify)
    checks.check(identity.succeeded && identity.words.1 == UInt64(Rights.send.rawValue),
                 "the copy has no more rights than its source: \(hex: identity.words.1)")
    checks.expect(raw: sc(capabilityControl, Slot.moreRights, delete), .ok, "delete the copy")
    checks.expect(raw: sc(capabilityControl, Slot.moreRights, delete), .emptySlot, "delete it again")
    checks.expect(raw: sc(capabilityControl, Slot.moreRights, CapabilityOperation.identify.rawValue), .emptySlot, "identify the deleted slot")
    checks.expect(raw: sc(send, Slot.moreRights, tag(0), timeout: 0), .emptySlot, "send through the deleted slot")
}

// MARK: machineControl

func machine(_ checks: inout TestChecks) {
    let powerOff = MachineOperation.powerOff.rawValue
    checks.expect(raw: sc(machineControl, RootTaskLayout.taskSlot, powerOff), .wrongObjectType, "power off with the task capability")
    checks.expect(raw: sc(machineControl, RootTaskLayout.factorySlot, powerOff), .wrongObjectType, "power off with the factory capability")
    checks.expect(raw: sc(machineControl, Slot.endpoint, powerOff), .wrongObjectType, "power off with an endpoint")
    checks.expect(raw: sc(machineControl, Slot.empty, powerOff), .emptySlot, "power off without a machine capability")
    checks.expect(raw: sc(machineControl, Slot.endpoint, 99), .wrongObjectType, "machine operation 99 without a machine capability")
}

// MARK: The fuzzer, beside a thread pair doing correct echo IPC

func fuzzBesideEcho(_ checks: inout TestChecks, tscKHz: UInt64) {
    let factory = RootTaskLayout.factorySlot
    var ok = true
    for slot in Slot.echo...Slot.go where ok { ok = SystemCall.create(factory, .endpoint, into: slot) == .ok }
    ok = ok && SystemCall.create(factory, .endpoint, into: Slot.echoSleep) == .ok
    // What the task needs goes where the fuzzer never reaches: its own thread, the task, the factory, the report endpoint.
    ok = ok && SystemCall.capability(RootTaskLayout.threadSlot, .copy, (Slot.mainThread, allRights, 0, 0)).succeeded
    ok = ok && SystemCall.capability(RootTaskLayout.taskSlot, .copy, (Slot.task, allRights, 0, 0)).succeeded
    ok = ok && SystemCall.capability(factory, .copy, (Slot.factory, allRights, 0, 0)).succeeded
    ok = ok && SystemCall.capability(Report.reportSlot, .copy, (Slot.report, allRights, 0, 0)).succeeded
    var spawner = ThreadSpawner()
    ok = ok && spawner.spawn(echoServer, argument: Slot.echo, priority: 100, slot: Slot.echoServer) == .ok
    ok = ok && spawner.spawn(echoClient, argument: 0, priority: 100, slot: Slot.echoClient) == .ok
    // The fuzzer runs below the echo pair, which wakes every tick for a burst of round trips: the two
    // interleave all through the fuzzing, and the fuzzer's yields do not hand it whole timeslices.
    tscKHzForFuzzer = tscKHz
    let seed = TaskParameters.seed ?? Fuzz.seed
    // The fuzzer's model is larger than the spare pages' stacks: it runs on 31 heap pages of stack.
    var fuzzerSpawner = ThreadSpawner(pages: FuzzLayout.fuzzerPages, threads: 1, pagesEach: 32)
    ok = ok && fuzzerSpawner.spawn(fuzzer, argument: seed, priority: Fuzz.priority, slot: Slot.fuzzer) == .ok
    // The fuzzer's IPC partner, above it, on an endpoint of its own; its running threads' endpoint.
    ok = ok && SystemCall.create(factory, .endpoint, into: Partner.endpointSlot) == .ok
    ok = ok && SystemCall.create(factory, .endpoint, into: Partner.workerSlot) == .ok
    var partnerSpawner = ThreadSpawner(pages: FuzzLayout.partnerPages, threads: 1)
    ok = ok && partnerSpawner.spawn(partnerMain, argument: 0, priority: Partner.priority, slot: Slot.partner) == .ok
    // The originals go; the fuzzer gets a small factory of its own, an endpoint nobody waits on and an
    // inactive thread, kept as templates in protected slots and copied into slots 1-9 (see `refreshTargets`).
    for slot in 2...6 as ClosedRange<UInt64> { _ = SystemCall.capability(slot, .delete) }
    ok = ok && SystemCall.create(Slot.factory, .factory, into: Slot.fuzzFactory, (Fuzz.factoryFrames, 0, 0)) == .ok
    ok = ok && SystemCall.create(Slot.factory, .endpoint, into: Slot.fuzzEndpoint) == .ok
    ok = ok && SystemCall.capability(Slot.inactiveThread, .copy, (Slot.threadTemplate, allRights, 0, 0)).succeeded
    ok = ok && refreshTargets()
    let setUp = checks.check(ok, "fuzz setup: echo server, echo client and fuzzer threads; own capabilities moved to slots 216-254")
    guard setUp else { return }

    // Go: first the echo client, then the fuzzer (both wait on the go endpoint, in that order).
    _ = SystemCall.send(Slot.go, MessageTag(label: 1))
    _ = SystemCall.send(Slot.go, MessageTag(label: 1))
    var fuzzed = false, echoed = false
    for _ in 0..<2 {
        let result = SystemCall.wait(Slot.results)
        guard result.succeeded else {
            checks.check(false, "results from the fuzzer and the echo client: \(result.error.name)")
            return
        }
        if result.tag.label == Label.fuzzDone {
            fuzzed = true
            checks.check(result.words.1 == UInt64(Fuzz.calls) && result.words.1 >= 100_000,
                         "fuzz: \(result.words.1) calls made, the kernel answered each")
            checks.check(result.words.3 == 16, "fuzz: \(result.words.3) of the 16 system calls reached")
            checks.check(result.words.0 == 0, "fuzz: every result what the model of the fuzzer's capabilities and pages says (\(result.words.0) unexpected)")
        } else if result.tag.label == Label.echoDone {
            echoed = true
            checks.check(result.words.0 == 0 && result.words.1 > 0 && result.words.2 == Fuzz.echoesAfter,
                         "echo beside the fuzzer: \(result.words.1) round trips during the fuzzing, \(result.words.2) after, \(result.words.0) wrong")
        }
    }
    checks.check(fuzzed && echoed, "both the fuzzer and the echo client reported")
    let identity = SystemCall.capability(Slot.echo, .identify)
    checks.check(identity.succeeded && identity.words.0 == UInt64(ObjectType.endpoint.rawValue),
                 "the task's protected capabilities are intact after the fuzzing")
}

func echoServer(endpoint: UInt64, utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    var message = SystemCall.wait(endpoint)
    while true {
        guard message.succeeded else {
            message = SystemCall.wait(endpoint)
            continue
        }
        let words = message.tag.words
        var index = MessageTag.registerWords
        while index < words {
            utcb[register: index] = ~utcb[register: index]
            index += 1
        }
        let (w0, w1, w2, w3) = message.words
        message = SystemCall.replyWait(endpoint, MessageTag(label: Label.echo, words: words), (w0 &+ 1, ~w1, ~w2, ~w3))
    }
}

/// Calls the echo server in bursts, one every timer tick or so, until the fuzzer says it is done, then
/// `Fuzz.echoesAfter` more times in a row; checks every word.
func echoClient(argument: UInt64, utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    var random = XorShift64Star(seed: 0xEC40_EC40)
    var wrong: UInt64 = 0, during: UInt64 = 0, after: UInt64 = 0
    var stopped = false
    _ = SystemCall.wait(Slot.go)
    while !stopped || after < Fuzz.echoesAfter {
        let words = Int(random.next(below: 9))        // 0-4 words take the fast path, 5-8 the general path
        let values = (random.next(), random.next(), random.next(), random.next())
        var index = MessageTag.registerWords
        while index < words {
            utcb[register: index] = values.0 &+ UInt64(index)
            index += 1
        }
        let answer = SystemCall.call(Slot.echo, MessageTag(label: Label.echo, words: words), values)
        var good = answer.succeeded && answer.tag.words == words && answer.tag.label == Label.echo
            && answer.words.0 == values.0 &+ 1 && answer.words.1 == ~values.1 && answer.words.2 == ~values.2
            && answer.words.3 == ~values.3
        index = MessageTag.registerWords
        while index < words {
            if utcb[register: index] != ~(values.0 &+ UInt64(index)) { good = false }
            index += 1
        }
        if !good {
            wrong += 1
            if wrong <= 5 { log("abusetest: FAIL echo of \(words) words: \(answer.error.name), \(answer.tag.words) words back") }
        }
        if stopped {
            after += 1
        } else {
            during += 1
            if during % UInt64(Fuzz.burst) == 0 {
                if SystemCall.wait(Slot.stopEcho, timeout: .zero).succeeded {
                    stopped = true
                } else {
                    _ = SystemCall.wait(Slot.echoSleep, timeout: .microseconds(Fuzz.pause))
                }
            }
        }
    }
    _ = SystemCall.send(Slot.results, MessageTag(label: Label.echoDone, words: 3), (wrong, during, after, 0))
}

/// Gives the fuzzer fresh capabilities to aim at in slots 1-9: the task, an endpoint and copies of it
/// (badged send-only, receive-only, without grant), its factory (and a copy without rights), an inactive thread.
func refreshTargets() -> Bool {
    for slot in 1...9 as ClosedRange<UInt64> { _ = SystemCall.capability(slot, .delete) }
    let send = UInt64(Rights.send.rawValue), receive = UInt64(Rights.receive.rawValue)
    var ok = SystemCall.capability(Slot.task, .copy, (1, allRights, 0, 0)).succeeded
    ok = SystemCall.capability(Slot.fuzzEndpoint, .copy, (2, allRights, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.fuzzFactory, .copy, (3, allRights, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.fuzzEndpoint, .copy, (4, send, 0xF022, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.fuzzEndpoint, .copy, (5, receive, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.threadTemplate, .copy, (6, allRights, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.fuzzEndpoint, .copy, (7, send | receive, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.fuzzFactory, .copy, (8, 0, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Slot.task, .copy, (9, 0, 0, 0)).succeeded && ok
    for slot in FuzzLayout.partnerAll...FuzzLayout.workers { _ = SystemCall.capability(slot, .delete) }
    let grant = UInt64(Rights.grant.rawValue)
    ok = SystemCall.capability(Partner.endpointSlot, .copy, (FuzzLayout.partnerAll, allRights, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Partner.endpointSlot, .copy, (FuzzLayout.partnerSendBadged, send | grant, FuzzLayout.partnerBadge, 0)).succeeded && ok
    ok = SystemCall.capability(Partner.endpointSlot, .copy, (FuzzLayout.partnerNoGrant, send, 0, 0)).succeeded && ok
    ok = SystemCall.capability(Partner.workerSlot, .copy, (FuzzLayout.workers, send, 0, 0)).succeeded && ok
    _ = SystemCall.capability(FuzzLayout.child, .delete)
    // The fuzzer's mapping child, once the fuzzer has made it.
    if SystemCall.capability(Slot.childCopies, .identify).succeeded {
        ok = SystemCall.capability(Slot.childCopies, .copy, (FuzzLayout.child, allRights, 0, 0)).succeeded && ok
    }
    return ok
}

