import SwiftletABI
import SwiftletUser
import UserPlatform

/// IPC correctness inside one task: the main thread talks to an echo server thread (ThreadSpawner) on an
/// endpoint it created from its factory, and handles the faults of a third thread as its exception handler.
///
/// Checked: every message length 0...64 words by call and by send (MR0-MR3 in registers, the rest in the
/// UTCB), that nothing beyond a message's length is written; wait and reply-wait on both sides; badges;
/// capability transfer as a typed item (masked rights, receive slot 0, occupied slot, no grant right,
/// bad items, a sender-set transferFailed bit on the fast and general paths); timeouts (zero, relative —
/// never early, not absurdly late — and infinite, woken by a partner; a call's timeout bounds only its send
/// phase); user faults delivered to an exception handler (#UD, #PF with CR2, #GP), resumed at a new RIP or
/// stopped; a fault without a handler, which stops the thread with a kernel report while the task goes on;
/// and partners stopped mid-operation (the caller gets `aborted`, the replier `noCaller`).
enum Slot {
    /// The echo server's endpoint (send, receive, grant).
    static let endpoint: UInt64 = 10
    /// The server sleeps on this one (nobody ever sends to it).
    static let serverSleep: UInt64 = 11
    /// The server sends and calls the main thread here.
    static let inbox: UInt64 = 12
    /// Nobody sends or waits here but the timeout tests.
    static let idle: UInt64 = 13
    /// Fault messages arrive here; `exceptionsBadged` is what the faulting thread's handler is set to.
    static let exceptions: UInt64 = 14
    static let exceptionsBadged: UInt64 = 30
    /// The faulting thread waits here for the go.
    static let go: UInt64 = 15
    static let badged: UInt64 = 17
    static let rebadgeKept: UInt64 = 18
    static let noGrant: UInt64 = 19
    static let maximumBadge: UInt64 = 23
    static let server: UInt64 = 20
    static let faulter: UInt64 = 21
    static let unhandled: UInt64 = 22
    static let stopper: UInt64 = 24
    static let stopperGo: UInt64 = 25
    /// Where the server's receive slot points in the transfer tests.
    static let received: UInt64 = 40
    static let neverUsed: UInt64 = 99
}

/// The protocol between the main thread and the server (labels).
enum Op {
    /// call: the reply has the same label and length, every word complemented.
    static let echo: UInt64 = 1
    /// send: the server checks the words against `pattern` and counts.
    static let record: UInt64 = 2
    /// call: reply (sends recorded, sends whose words were right, badge and tag of the last send).
    static let query: UInt64 = 3
    /// call: reply MR0 = the badge the server saw.
    static let badge: UInt64 = 4
    /// call: the server sets its UTCB receive slot to MR0.
    static let setReceiveSlot: UInt64 = 5
    /// call: reply (tag as received, MR0, MR1 as received, the receive slot).
    static let transfer: UInt64 = 6
    /// call MR0 = n: reply, then send an n-word `pattern` message to the inbox.
    static let sendBack: UInt64 = 7
    /// call MR0 = µs: reply, sleep that long, then send one word to the inbox.
    static let delayedSend: UInt64 = 8
    /// call MR0 = µs: sleep, then reply.
    static let slowReply: UInt64 = 9
    /// call MR0 = µs: reply, then sleep (not receiving) that long.
    static let busy: UInt64 = 10
    /// call: reply, then call the inbox with six `pattern` words and check the complemented reply.
    static let callBack: UInt64 = 11
    /// call: reply, then stop serving.
    static let quit: UInt64 = 12
    static let faulterDone: UInt64 = 13
    static let stopped: UInt64 = 15
    static let stopMe: UInt64 = 16
    /// call MR0 = n: reply with n words and the transferFailed bit set in the tag.
    static let forgedReply: UInt64 = 14
    static let unknown: UInt64 = 0xBAD
}

/// The words of a `length`-word test message: distinct per length and position, never zero.
func pattern(_ length: Int, _ index: Int) -> UInt64 {
    (UInt64(length) << 56) ^ (UInt64(index) << 48) ^ ((UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15) >> 20) ^ 0x5A5A
}

func patternRegisters(_ length: Int) -> (UInt64, UInt64, UInt64, UInt64) {
    (pattern(length, 0), pattern(length, 1), pattern(length, 2), pattern(length, 3))
}

func register(_ words: (UInt64, UInt64, UInt64, UInt64), _ index: Int) -> UInt64 {
    switch index {
    case 0: return words.0
    case 1: return words.1
    case 2: return words.2
    default: return words.3
    }
}

/// Fills MR4... of `utcb` with the pattern for a `length`-word message (MR0-MR3 go in registers).
func fillPattern(_ utcb: UTCB, _ length: Int) {
    var index = MessageTag.registerWords
    while index < length {
        utcb[register: index] = pattern(length, index)
        index += 1
    }
}

/// Whether a received `length`-word message holds the pattern (`complemented`: every word inverted).
func holdsPattern(_ utcb: UTCB, _ words: (UInt64, UInt64, UInt64, UInt64), _ length: Int, complemented: Bool) -> Bool {
    let flip: UInt64 = complemented ? ~0 : 0
    for index in 0..<length {
        let word = index < MessageTag.registerWords ? register(words, index) : utcb[register: index]
        if word != pattern(length, index) ^ flip { return false }
    }
    return true
}

/// How much earlier than `requested` µs a timeout may seem to fire when measured with the TSC: the TSC and
/// the timer are calibrated separately against the PIT and may disagree by a fraction of a percent, and
/// QEMU without -icount delivers timer ticks it could not deliver in time (host load) in a quick burst.
func clockTolerance(_ requested: UInt64) -> UInt64 {
    requested / 100 + 200
}

func sleep(_ endpoint: UInt64, microseconds: UInt64) {
    _ = SystemCall.wait(endpoint, timeout: .microseconds(microseconds))
}

// MARK: The echo server

func server(endpoint: UInt64, utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    var sends: UInt64 = 0, goodSends: UInt64 = 0, lastBadge: UInt64 = 0, lastTag: UInt64 = 0
    var callBackResult: UInt64 = 0
    var message = SystemCall.wait(endpoint)
    while true {
        guard message.succeeded else {
            log("ipctest: server: receive failed: \(message.error.name)")
            message = SystemCall.wait(endpoint)
            continue
        }
        let tag = message.tag, words = message.words
        var replyTag = MessageTag(label: tag.label)
        var reply: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        switch tag.label {
        case Op.echo:
            var index = MessageTag.registerWords
            while index < tag.words {
                utcb[register: index] = ~utcb[register: index]
                index += 1
            }
            replyTag = MessageTag(label: Op.echo, words: tag.words)
            reply = (~words.0, ~words.1, ~words.2, ~words.3)
        case Op.record:
            sends += 1
            if holdsPattern(utcb, words, tag.words, complemented: false) { goodSends += 1 }
            lastBadge = message.badge
            lastTag = tag.raw
            message = SystemCall.wait(endpoint)
            continue
        case Op.query:
            replyTag = MessageTag(label: Op.query, words: 6)
            reply = (sends, goodSends, lastBadge, lastTag)
            utcb[register: 4] = callBackResult
            utcb[register: 5] = message.badge
        case Op.badge:
            replyTag = MessageTag(label: Op.badge, words: 1)
            reply = (message.badge, 0, 0, 0)
        case Op.setReceiveSlot:
            utcb.receiveSlot = words.0
            replyTag = MessageTag(label: Op.setReceiveSlot, words: 1)
            reply = (utcb.receiveSlot, 0, 0, 0)
        case Op.transfer:
            replyTag = MessageTag(label: Op.transfer, words: 4)
            reply = (tag.raw, words.0, words.1, utcb.receiveSlot)
        case Op.sendBack:
            _ = SystemCall.reply(MessageTag(label: Op.sendBack))
            let length = Int(words.0)
            fillPattern(utcb, length)
            let error = SystemCall.send(Slot.inbox, MessageTag(label: Op.sendBack, words: length), patternRegisters(length))
            if error != .ok { log("ipctest: server: send back failed: \(error.name)") }
            message = SystemCall.wait(endpoint)
            continue
        case Op.delayedSend:
            _ = SystemCall.reply(MessageTag(label: Op.delayedSend))
            sleep(Slot.serverSleep, microseconds: words.0)
            _ = SystemCall.send(Slot.inbox, MessageTag(label: Op.delayedSend, words: 1), (0xC0FF_EE00 | words.0, 0, 0, 0))
            message = SystemCall.wait(endpoint)
            continue
        case Op.slowReply:
            sleep(Slot.serverSleep, microseconds: words.0)
            replyTag = MessageTag(label: Op.slowReply, words: 1)
            reply = (words.0 + 1, 0, 0, 0)
        case Op.busy:
            _ = SystemCall.reply(MessageTag(label: Op.busy))
            sleep(Slot.serverSleep, microseconds: words.0)
            message = SystemCall.wait(endpoint)
            continue
        case Op.callBack:
            _ = SystemCall.reply(MessageTag(label: Op.callBack))
            fillPattern(utcb, 6)
            let answer = SystemCall.call(Slot.inbox, MessageTag(label: Op.callBack, words: 6), patternRegisters(6))
            callBackResult = answer.succeeded && answer.tag.label == Op.callBack && answer.tag.words == 6
                && holdsPattern(utcb, answer.words, 6, complemented: true) ? 1 : 2
            message = SystemCall.wait(endpoint)
            continue
        case Op.forgedReply:
            replyTag = MessageTag(label: Op.forgedReply, words: Int(words.0)).with(transferFailed: true)
        case Op.quit:
            _ = SystemCall.reply(MessageTag(label: Op.quit))
            return
        default:
            replyTag = MessageTag(label: Op.unknown)
        }
        message = SystemCall.replyWait(endpoint, replyTag, reply)
    }
}

// MARK: Faulting threads

/// Faults three times with a handler that resumes it, reports, then faults a fourth time and is stopped.
func faulter(argument: UInt64, utcbAddress: UInt64) {
    _ = SystemCall.wait(Slot.go)
    user_fault_invalid_opcode()          // #UD: the handler resumes it at faultLanding, which returns here
    _ = user_fault_read(0xDEAD_B000)     // #PF: resumed after the 3-byte load
    user_fault_privileged()              // #GP (cli): resumed after the 1-byte instruction
    _ = SystemCall.send(Slot.inbox, MessageTag(label: Op.faulterDone, words: 1), (landings.load(), 0, 0, 0))
    user_fault_write(0x10, 1)            // #PF on a write: the handler stops the thread
    log("ipctest: FAIL the faulting thread ran on after it was stopped")
}

/// Where the handler resumes the thread after its #UD. The fault happened on the first instruction of a
/// function, so the stack is as at a function's entry and this function returns to that one's caller.
@_cdecl("ipctest_fault_landing")
func faultLanding() {
    landings.increment()
}

/// Faults with no exception handler: the kernel stops it and reports.
func unhandledFaulter(argument: UInt64, utcbAddress: UInt64) {
    user_fault_invalid_opcode()
    log("ipctest: FAIL a thread ran on after a fault without a handler")
}

/// Counts the landing function's runs: a word in the main thread's UTCB, above the message registers.
var landings: SharedWord { SharedWord(address: TaskLayout.utcb + 2048) }

func address(of function: @convention(c) () -> Void) -> UInt64 {
    UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self)))
}

func address(of function: @convention(c) (UInt64) -> UInt64) -> UInt64 {
    UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self)))
}

// MARK: The main thread

@_cdecl("task_main")
func ipcTestMain(tscKHz: UInt64, utcb utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    let clock = TSCClock(kHz: tscKHz)
    var checks = TestChecks("ipctest")
    landings.store(0)
    log("ipctest: start; TSC \(tscKHz) kHz")

    var setup = SyscallError.ok
    for slot in Slot.endpoint...Slot.go where setup == .ok {
        setup = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: slot)
    }
    if setup == .ok { setup = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: Slot.stopperGo) }
    if setup == .ok {
        setup = SystemCall.capability(Slot.exceptions, .copy, (Slot.exceptionsBadged, UInt64(Rights.send.rawValue), 0xE1, 0)).error
    }
    var spawner = ThreadSpawner()
    if setup == .ok { setup = spawner.spawn(server, argument: Slot.endpoint, priority: 100, slot: Slot.server) }
    guard checks.check(setup == .ok, "setup: endpoints and the echo server thread (\(setup.name))") else {
        checks.report()
        return
    }

    messageLengths(&checks, utcb)
    waitAndReplyWait(&checks, utcb)
    badges(&checks)
    transfers(&checks, utcb)
    timeouts(&checks, utcb, clock)
    exceptions(&checks, &spawner, utcb, clock)

    let last = SystemCall.call(Slot.endpoint, MessageTag(label: Op.echo, words: 1), (41, 0, 0, 0))
    checks.check(last.succeeded && last.words.0 == ~UInt64(41), "the echo server still answers after all tests")
    stoppedPartners(&checks, &spawner, clock)
    checks.report()
}

// MARK: Message lengths

func messageLengths(_ checks: inout TestChecks, _ utcb: UTCB) {
    let sentinel: UInt64 = 0x5E47_1E15_5E47_1E15
    var callFailures = 0, untouchedFailures = 0
    for length in 0...MessageTag.maximumWords {
        fillPattern(utcb, length)
        for index in max(length, MessageTag.registerWords)..<MessageTag.maximumWords { utcb[register: index] = sentinel }
        let answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.echo, words: length), patternRegisters(length))
        let good = answer.succeeded && answer.tag.label == Op.echo && answer.tag.words == length && answer.tag.items == 0
            && !answer.tag.transferFailed && answer.badge == 0 && holdsPattern(utcb, answer.words, length, complemented: true)
        if !good {
            callFailures += 1
            log("ipctest: FAIL call echo of \(length) words: \(answer.error.name), label \(answer.tag.label), \(answer.tag.words) words back")
        }
        var untouched = true
        for index in max(length, MessageTag.registerWords)..<MessageTag.maximumWords where utcb[register: index] != sentinel {
            untouched = false
        }
        if !untouched {
            untouchedFailures += 1
            log("ipctest: FAIL the reply to a \(length)-word call wrote UTCB words beyond its length")
        }
    }
    checks.check(callFailures == 0, "call: all 65 lengths 0...64 words round-trip, every word checked (\(callFailures) bad)")
    checks.check(untouchedFailures == 0, "call: no UTCB word beyond a message's length is written (\(untouchedFailures) bad)")

    var sendErrors = 0
    for length in 0...MessageTag.maximumWords {
        fillPattern(utcb, length)
        let error = SystemCall.send(Slot.endpoint, MessageTag(label: Op.record, words: length), patternRegisters(length))
        if error != .ok {
            sendErrors += 1
            log("ipctest: FAIL send of \(length) words: \(error.name)")
        }
    }
    let query = SystemCall.call(Slot.endpoint, MessageTag(label: Op.query))
    checks.check(sendErrors == 0 && query.succeeded && query.words.0 == 65 && query.words.1 == 65,
                 "send: all 65 lengths 0...64 words arrive intact (\(query.words.1) of \(query.words.0) received right)")
    checks.check(MessageTag(raw: query.words.3).words == 64 && MessageTag(raw: query.words.3).label == Op.record,
                 "send: the receiver sees the sender's tag (label \(MessageTag(raw: query.words.3).label), \(MessageTag(raw: query.words.3).words) words)")
    checks.check(query.tag.words == 6 && utcb[register: 5] == 0, "call: a reply of 6 words carries MR4-MR5 through the UTCB; badge 0 unbadged")
}

// MARK: Wait and reply-wait in the main thread

func waitAndReplyWait(_ checks: inout TestChecks, _ utcb: UTCB) {
    // The server sends (it blocks until the main thread waits): every length class.
    var lengths = InlineArray<6, Int>(repeating: 0)
    lengths[0] = 0; lengths[1] = 3; lengths[2] = 4; lengths[3] = 5; lengths[4] = 33; lengths[5] = 64
    var bad = 0
    for position in 0..<6 {
        let length = lengths[position]
        let started = SystemCall.call(Slot.endpoint, MessageTag(label: Op.sendBack, words: 1), (UInt64(length), 0, 0, 0))
        let message = SystemCall.wait(Slot.inbox)
        let good = started.succeeded && message.succeeded && message.tag.label == Op.sendBack
            && message.tag.words == length && message.badge == 0 && holdsPattern(utcb, message.words, length, complemented: false)
        if !good {
            bad += 1
            log("ipctest: FAIL wait for a \(length)-word send: \(message.error.name), \(message.tag.words) words")
        }
    }
    checks.check(bad == 0, "wait: receives sends of 0, 3, 4, 5, 33 and 64 words intact")

    // The server calls the main thread, which answers with reply-wait (zero timeout: nothing else is queued).
    let started = SystemCall.call(Slot.endpoint, MessageTag(label: Op.callBack))
    let call = SystemCall.wait(Slot.inbox)
    let received = started.succeeded && call.succeeded && call.tag.label == Op.callBack && call.tag.words == 6
        && holdsPattern(utcb, call.words, 6, complemented: false)
    checks.check(received, "wait: receives a 6-word call from the other thread")
    for index in 4..<6 { utcb[register: index] = ~utcb[register: index] }
    let words = call.words
    let replied = SystemCall.replyWait(Slot.inbox, MessageTag(label: Op.callBack, words: 6), (~words.0, ~words.1, ~words.2, ~words.3),
                                       timeout: .zero)
    checks.expect(replied.error, .timeout, "reply-wait replies, then its zero-timeout wait finds nobody")
    let query = SystemCall.call(Slot.endpoint, MessageTag(label: Op.query))
    checks.check(query.succeeded && utcb[register: 4] == 1, "reply-wait: the caller got the 6-word reply intact")
    checks.expect(SystemCall.reply(MessageTag(label: 1)), .noCaller, "reply after the reply-wait has no caller left")
}

// MARK: Badges

func badges(_ checks: inout TestChecks) {
    let badge: UInt64 = 0x1234_5678
    var error = SystemCall.capability(Slot.endpoint, .copy, (Slot.badged, UInt64(Rights.send.rawValue), badge, 0)).error
    checks.expect(error, .ok, "copy the endpoint with badge \(hex: badge) and only the send right")
    let identity = SystemCall.capability(Slot.badged, .identify)
    checks.check(identity.succeeded && identity.words.0 == UInt64(ObjectType.endpoint.rawValue)
                 && identity.words.1 == UInt64(Rights.send.rawValue) && identity.words.2 == badge,
                 "identify the badged copy: endpoint, send only, badge \(hex: identity.words.2)")
    let answer = SystemCall.call(Slot.badged, MessageTag(label: Op.badge))
    checks.check(answer.succeeded && answer.words.0 == badge, "call through the badged copy: the server sees badge \(hex: answer.words.0)")
    let plain = SystemCall.call(Slot.endpoint, MessageTag(label: Op.badge))
    checks.check(plain.succeeded && plain.words.0 == 0, "call through the original: the server sees badge 0")

    error = SystemCall.send(Slot.badged, MessageTag(label: Op.record))
    let query = SystemCall.call(Slot.endpoint, MessageTag(label: Op.query))
    checks.check(error == .ok && query.words.2 == badge, "send through the badged copy: the server sees badge \(hex: query.words.2)")

    error = SystemCall.capability(Slot.badged, .copy, (Slot.rebadgeKept, UInt64(Rights.all.rawValue), 0, 0)).error
    let kept = SystemCall.capability(Slot.rebadgeKept, .identify)
    checks.check(error == .ok && kept.words.2 == badge && kept.words.1 == UInt64(Rights.send.rawValue),
                 "a copy with badge 0 keeps the badge, and asking for all rights gives no more than send")

    error = SystemCall.capability(Slot.endpoint, .copy, (Slot.maximumBadge, UInt64(Rights.send.rawValue), (1 << 48) - 1, 0)).error
    let widest = SystemCall.call(Slot.maximumBadge, MessageTag(label: Op.badge))
    checks.check(error == .ok && widest.words.0 == (1 << 48) - 1, "the widest badge, 2^48-1, arrives whole (\(hex: widest.words.0))")
}

// MARK: Capability transfer

func transfers(_ checks: inout TestChecks, _ utcb: UTCB) {
    func setReceiveSlot(_ slot: UInt64) -> Bool {
        let answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.setReceiveSlot, words: 1), (slot, 0, 0, 0))
        return answer.succeeded && answer.words.0 == slot
    }
    func item(_ rights: Rights) -> UInt64 { TypedItem.capabilityKind | UInt64(rights.rawValue) << 8 }
    func identify(_ slot: UInt64) -> Message { SystemCall.capability(slot, .identify) }

    checks.check(setReceiveSlot(Slot.received), "the server's receive slot is \(Slot.received)")

    // An endpoint capability with all rights, masked to send: it arrives in the receive slot with send only.
    var answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 2, items: 1),
                                 (0xAA, 0xBB, item(.send), Slot.idle))
    var received = MessageTag(raw: answer.words.0)
    checks.check(answer.succeeded && received.items == 1 && received.words == 2 && !received.transferFailed
                 && answer.words.1 == 0xAA && answer.words.2 == 0xBB,
                 "transfer an endpoint (item in MR2-MR3): delivered without transferFailed, untyped words intact")
    var identity = identify(Slot.received)
    checks.check(identity.succeeded && identity.words.0 == UInt64(ObjectType.endpoint.rawValue)
                 && identity.words.1 == UInt64(Rights.send.rawValue),
                 "the transferred endpoint is in slot \(Slot.received) with rights masked to send (rights \(hex: identity.words.1))")
    _ = SystemCall.capability(Slot.received, .delete)

    // The badged send-only copy, asking for all rights: no rights are gained, the badge travels.
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 1), (item(.all), Slot.badged, 0, 0))
    identity = identify(Slot.received)
    checks.check(answer.succeeded && !MessageTag(raw: answer.words.0).transferFailed && identity.words.1 == UInt64(Rights.send.rawValue)
                 && identity.words.2 == 0x1234_5678,
                 "transfer a badged send-only endpoint with mask all: still send only, badge \(hex: identity.words.2) kept")
    _ = SystemCall.capability(Slot.received, .delete)

    // The item after five untyped words: it travels in the UTCB (MR5-MR6). A thread capability, masked to control.
    utcb[register: 4] = 0x55
    utcb[register: 5] = item(.control)
    utcb[register: 6] = Slot.server
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 5, items: 1), (1, 2, 3, 4))
    identity = identify(Slot.received)
    checks.check(answer.succeeded && !MessageTag(raw: answer.words.0).transferFailed
                 && identity.words.0 == UInt64(ObjectType.thread.rawValue) && identity.words.1 == UInt64(Rights.control.rawValue),
                 "transfer a thread capability as an item in the UTCB (MR5-MR6): arrives as a thread with control")
    _ = SystemCall.capability(Slot.received, .delete)

    // Mask zero: the capability arrives without rights.
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 1), (item([]), Slot.idle, 0, 0))
    identity = identify(Slot.received)
    checks.check(answer.succeeded && !MessageTag(raw: answer.words.0).transferFailed && identity.succeeded && identity.words.1 == 0,
                 "transfer with rights mask 0: the capability arrives with no rights")
    _ = SystemCall.capability(Slot.received, .delete)

    // By send, not call.
    var error = SystemCall.send(Slot.endpoint, MessageTag(label: Op.record, words: 0, items: 1), (item(.all), Slot.idle, 0, 0))
    let query = SystemCall.call(Slot.endpoint, MessageTag(label: Op.query))
    identity = identify(Slot.received)
    checks.check(error == .ok && query.succeeded && MessageTag(raw: query.words.3).items == 1
                 && !MessageTag(raw: query.words.3).transferFailed && identity.words.0 == UInt64(ObjectType.endpoint.rawValue),
                 "transfer by send: the endpoint arrives")
    _ = SystemCall.capability(Slot.received, .delete)

    // Receive slot 0: the receiver accepts no capability.
    checks.check(setReceiveSlot(0), "the server's receive slot is 0 (accept none)")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 2, items: 1), (0xCC, 0xDD, item(.all), Slot.idle))
    received = MessageTag(raw: answer.words.0)
    checks.check(answer.succeeded && received.transferFailed && answer.words.1 == 0xCC && answer.words.2 == 0xDD,
                 "receive slot 0: the message arrives with transferFailed, untyped words intact")

    // Receive slot occupied (slot 1 holds the task).
    checks.check(setReceiveSlot(RootTaskLayout.taskSlot), "the server's receive slot is 1 (occupied by the task capability)")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 1), (item(.all), Slot.idle, 0, 0))
    identity = identify(RootTaskLayout.taskSlot)
    checks.check(answer.succeeded && MessageTag(raw: answer.words.0).transferFailed
                 && identity.words.0 == UInt64(ObjectType.task.rawValue),
                 "occupied receive slot: transferFailed, and the slot still holds the task capability")

    checks.check(setReceiveSlot(Slot.received), "the server's receive slot is \(Slot.received) again")
    // The sender's endpoint capability lacks the grant right.
    error = SystemCall.capability(Slot.endpoint, .copy, (Slot.noGrant, UInt64(Rights.send.rawValue), 0, 0)).error
    answer = SystemCall.call(Slot.noGrant, MessageTag(label: Op.transfer, words: 0, items: 1), (item(.all), Slot.idle, 0, 0))
    identity = identify(Slot.received)
    checks.check(error == .ok && answer.succeeded && MessageTag(raw: answer.words.0).transferFailed && identity.error == .emptySlot,
                 "sender's endpoint capability without grant: transferFailed, nothing placed (\(identity.error.name))")

    // Bad items: an empty selector, a kind that is not a capability, a selector out of range.
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 1), (item(.all), Slot.neverUsed, 0, 0))
    identity = identify(Slot.received)
    checks.check(answer.succeeded && MessageTag(raw: answer.words.0).transferFailed && identity.error == .emptySlot,
                 "item naming an empty slot: transferFailed, nothing placed")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 1), (0 | UInt64(Rights.all.rawValue) << 8, Slot.idle, 0, 0))
    identity = identify(Slot.received)
    checks.check(answer.succeeded && MessageTag(raw: answer.words.0).transferFailed && identity.error == .emptySlot,
                 "item of kind 0 (not a capability): transferFailed, nothing placed")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 1), (item(.all), 256, 0, 0))
    identity = identify(Slot.received)
    checks.check(answer.succeeded && MessageTag(raw: answer.words.0).transferFailed && identity.error == .emptySlot,
                 "item naming selector 256: transferFailed, nothing placed")

    // Two items for one receive slot: the second cannot be placed.
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 0, items: 2),
                             (item(.all), Slot.idle, item(.all), Slot.inbox))
    checks.check(answer.succeeded && MessageTag(raw: answer.words.0).items == 2 && MessageTag(raw: answer.words.0).transferFailed,
                 "two items, one receive slot: transferFailed")
    _ = SystemCall.capability(Slot.received, .delete)

    // A sender cannot forge the flag: the kernel reports on its own delivery only. Short messages take the
    // fast path, five words the general path; both must clear it, in calls and in replies.
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 2).with(transferFailed: true), (1, 2, 0, 0))
    checks.check(answer.succeeded && !MessageTag(raw: answer.words.0).transferFailed,
                 "a transferFailed bit the caller sets does not reach the receiver (2-word call: fast path)")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.transfer, words: 5).with(transferFailed: true), (1, 2, 0, 0))
    checks.check(answer.succeeded && !MessageTag(raw: answer.words.0).transferFailed,
                 "a transferFailed bit the caller sets does not reach the receiver (5-word call: general path)")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.forgedReply, words: 1), (2, 0, 0, 0))
    checks.check(answer.succeeded && answer.tag.words == 2 && !answer.tag.transferFailed,
                 "a transferFailed bit the replier sets does not reach the caller (2-word reply-wait: fast path)")
    answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.forgedReply, words: 1), (5, 0, 0, 0))
    checks.check(answer.succeeded && answer.tag.words == 5 && !answer.tag.transferFailed,
                 "a transferFailed bit the replier sets does not reach the caller (5-word reply-wait: general path)")
    checks.check(setReceiveSlot(0), "the server's receive slot is 0 again")
}

// MARK: Timeouts

func timeouts(_ checks: inout TestChecks, _ utcb: UTCB, _ clock: TSCClock) {
    // Zero timeouts with no partner fail at once.
    var start = timestamp()
    var message = SystemCall.wait(Slot.idle, timeout: .zero)
    var elapsed = clock.elapsed(since: start)
    checks.check(message.error == .timeout && elapsed < 1000, "wait with zero timeout, no sender: timeout after \(elapsed) us")
    start = timestamp()
    var error = SystemCall.send(Slot.idle, MessageTag(label: 1, words: 1), (1, 0, 0, 0), timeout: .zero)
    elapsed = clock.elapsed(since: start)
    checks.check(error == .timeout && elapsed < 1000, "send with zero timeout, no receiver: timeout after \(elapsed) us")
    message = SystemCall.call(Slot.idle, MessageTag(label: 1), timeout: .zero)
    checks.expect(message.error, .timeout, "call with zero timeout, no receiver")
    message = SystemCall.replyWait(Slot.idle, MessageTag(label: 1), timeout: .zero)
    checks.expect(message.error, .timeout, "reply-wait with no caller and zero timeout, no sender")

    // Relative timeouts: never early, not absurdly late. Started at different points within a timer tick
    // (0-910 µs in), so a timeout counted a tick short would fire up to that much early.
    var early = 0, late = 0
    var shortest = Int64.max, longest = Int64.min
    for round in 0..<8 {
        let requested: UInt64 = round % 2 == 0 ? 5_000 : 20_000
        clock.spin(microseconds: UInt64(round) * 130)
        start = timestamp()
        message = SystemCall.wait(Slot.idle, timeout: .microseconds(requested))
        elapsed = clock.elapsed(since: start)
        if message.error != .timeout || elapsed + clockTolerance(requested) < requested { early += 1 }
        if elapsed > 2 * requested + 10_000 { late += 1 }
        let lateness = Int64(bitPattern: elapsed &- requested)
        shortest = min(shortest, lateness)
        longest = max(longest, lateness)
        log("ipctest: wait with \(requested) us timeout: \(message.error.name) after \(elapsed) us")
    }
    checks.check(early == 0, "relative timeouts (5 ms, 20 ms) never fire early, measured with the TSC (\(early) of 8 early)")
    checks.check(late == 0, "relative timeouts fire in time: \(shortest) to \(longest) us after the requested time")
    start = timestamp()
    error = SystemCall.send(Slot.idle, MessageTag(label: 1), timeout: .microseconds(5_000))
    elapsed = clock.elapsed(since: start)
    checks.check(error == .timeout && elapsed + clockTolerance(5_000) >= 5_000 && elapsed < 20_000, "send with 5 ms timeout, no receiver: timeout after \(elapsed) us")
    start = timestamp()
    message = SystemCall.call(Slot.idle, MessageTag(label: 1), timeout: .microseconds(5_000))
    elapsed = clock.elapsed(since: start)
    checks.check(message.error == .timeout && elapsed + clockTolerance(5_000) >= 5_000 && elapsed < 20_000, "call with 5 ms timeout, no receiver: timeout after \(elapsed) us")

    // An infinite wait is woken by the partner.
    var started = SystemCall.call(Slot.endpoint, MessageTag(label: Op.delayedSend, words: 1), (10_000, 0, 0, 0))
    start = timestamp()
    message = SystemCall.wait(Slot.inbox)
    elapsed = clock.elapsed(since: start)
    checks.check(started.succeeded && message.succeeded && message.tag.label == Op.delayedSend && message.words.0 == 0xC0FF_EE00 | 10_000
                 && elapsed >= 5_000, "infinite wait, woken by a send 10 ms later: after \(elapsed) us")
    // A relative timeout that the partner beats.
    started = SystemCall.call(Slot.endpoint, MessageTag(label: Op.delayedSend, words: 1), (10_000, 0, 0, 0))
    start = timestamp()
    message = SystemCall.wait(Slot.inbox, timeout: .microseconds(500_000))
    elapsed = clock.elapsed(since: start)
    checks.check(started.succeeded && message.succeeded && elapsed < 400_000,
                 "wait with 500 ms timeout, woken by a send 10 ms later: \(message.error.name) after \(elapsed) us")

    // A call's timeout bounds only its send phase: the server takes the call at once, replies 30 ms later.
    start = timestamp()
    message = SystemCall.call(Slot.endpoint, MessageTag(label: Op.slowReply, words: 1), (30_000, 0, 0, 0), timeout: .microseconds(5_000))
    elapsed = clock.elapsed(since: start)
    checks.check(message.succeeded && message.words.0 == 30_001 && elapsed >= 25_000,
                 "call with 5 ms timeout to a server that replies after 30 ms: \(message.error.name) after \(elapsed) us")
    // ... and does bound it: the server is busy for 30 ms, so the call cannot be delivered within 5 ms.
    started = SystemCall.call(Slot.endpoint, MessageTag(label: Op.busy, words: 1), (30_000, 0, 0, 0))
    start = timestamp()
    message = SystemCall.call(Slot.endpoint, MessageTag(label: Op.echo, words: 1), (7, 0, 0, 0), timeout: .microseconds(5_000))
    elapsed = clock.elapsed(since: start)
    checks.check(started.succeeded && message.error == .timeout && elapsed + clockTolerance(5_000) >= 5_000 && elapsed < 25_000,
                 "call with 5 ms timeout to a server busy for 30 ms: \(message.error.name) after \(elapsed) us")
    message = SystemCall.call(Slot.endpoint, MessageTag(label: Op.echo, words: 1), (7, 0, 0, 0))
    checks.check(message.succeeded && message.words.0 == ~UInt64(7), "an infinite call afterwards waits for the server and succeeds")
}

// MARK: Exceptions

func exceptions(_ checks: inout TestChecks, _ spawner: inout ThreadSpawner, _ utcb: UTCB, _ clock: TSCClock) {
    let invalidOpcode = address(of: user_fault_invalid_opcode)
    let privileged = address(of: user_fault_privileged)
    let read = address(of: user_fault_read)
    let landing = address(of: faultLanding)

    var error = spawner.spawn(faulter, argument: 0, priority: 100, slot: Slot.faulter)
    checks.expect(error, .ok, "start the faulting thread")
    error = SystemCall.thread(Slot.faulter, .setExceptionHandler, (Slot.exceptionsBadged, 0, 0, 0)).error
    checks.expect(error, .ok, "set its exception handler to a badged send-only copy of the exception endpoint")
    guard error == .ok else { return }

    // Let it run and fault before the handler waits: the fault message waits in the endpoint's queue.
    _ = SystemCall.send(Slot.go, MessageTag(label: 1))
    SystemCall.yield()
    var state = SystemCall.thread(Slot.faulter, .readState)
    checks.check(state.succeeded && state.words.0 == ThreadStateCode.faulted.rawValue && state.words.2 == 6,
                 "the thread is faulted (state \(state.words.0), vector \(state.words.2)) while its fault message waits")

    var fault = SystemCall.wait(Slot.exceptions)
    checks.check(fault.succeeded && fault.tag.label == KernelMessageLabel.exception && fault.tag.words == 6 && fault.badge == 0xE1,
                 "exception message received: label \(hex: fault.tag.label), \(fault.tag.words) words, badge \(hex: fault.badge)")
    checks.check(fault.words.0 == 6 && fault.words.2 == invalidOpcode && utcb[register: 5] & 0x200 != 0,
                 "#UD: vector \(fault.words.0), RIP \(hex: fault.words.2) (ud2 at \(hex: invalidOpcode)), RSP \(hex: fault.words.3), RFLAGS \(hex: utcb[register: 5])")

    // Resume at the landing function; the next fault arrives by the direct path (the handler already waits).
    fault = SystemCall.replyWait(Slot.exceptions, MessageTag(label: KernelMessageLabel.resume, words: 1), (landing, 0, 0, 0))
    checks.check(fault.succeeded && fault.tag.label == KernelMessageLabel.exception && fault.words.0 == 14
                 && fault.words.1 == 4 && fault.words.2 == read && utcb[register: 4] == 0xDEAD_B000,
                 "#PF: vector \(fault.words.0), error \(hex: fault.words.1) (user read, not present), RIP \(hex: fault.words.2), CR2 \(hex: utcb[register: 4])")

    fault = SystemCall.replyWait(Slot.exceptions, MessageTag(label: KernelMessageLabel.resume, words: 1), (fault.words.2 + 3, 0, 0, 0))
    checks.check(fault.succeeded && fault.words.0 == 13 && fault.words.1 == 0 && fault.words.2 == privileged,
                 "#GP: vector \(fault.words.0), error \(hex: fault.words.1), RIP \(hex: fault.words.2) (cli at \(hex: privileged))")

    error = SystemCall.reply(MessageTag(label: KernelMessageLabel.resume, words: 1), (fault.words.2 + 1, 0, 0, 0))
    checks.expect(error, .ok, "resume after the cli")
    let done = SystemCall.wait(Slot.inbox)
    checks.check(done.succeeded && done.tag.label == Op.faulterDone && done.words.0 == 1,
                 "the thread ran on after three resumed faults; the landing function ran \(done.words.0) time(s)")

    fault = SystemCall.wait(Slot.exceptions)
    checks.check(fault.succeeded && fault.words.0 == 14 && fault.words.1 == 6 && utcb[register: 4] == 0x10,
                 "#PF on a write: vector \(fault.words.0), error \(hex: fault.words.1) (user write, not present), CR2 \(hex: utcb[register: 4])")
    error = SystemCall.thread(Slot.faulter, .stop).error
    state = SystemCall.thread(Slot.faulter, .readState)
    checks.check(error == .ok && state.words.0 == ThreadStateCode.stopped.rawValue,
                 "the handler stops the faulted thread instead of replying: state \(state.words.0)")
    checks.expect(SystemCall.reply(MessageTag(label: KernelMessageLabel.resume, words: 1), (landing, 0, 0, 0)), .noCaller,
                  "no reply is pending for the stopped thread")

    // A fault without a handler: the kernel stops the thread and reports it on the console.
    error = spawner.spawn(unhandledFaulter, argument: 0, priority: 100, slot: Slot.unhandled)
    checks.expect(error, .ok, "start a thread that faults without an exception handler")
    sleep(Slot.idle, microseconds: 3_000)
    state = SystemCall.thread(Slot.unhandled, .readState)
    checks.check(state.succeeded && state.words.0 == ThreadStateCode.stopped.rawValue && state.words.1 == invalidOpcode
                 && state.words.2 == 6,
                 "without a handler the thread is stopped: state \(state.words.0), RIP \(hex: state.words.1), vector \(state.words.2)")
    let echo = SystemCall.call(Slot.endpoint, MessageTag(label: Op.echo, words: 2), (5, 6, 0, 0))
    checks.check(echo.succeeded && echo.words.0 == ~UInt64(5), "the kernel and the other threads keep running after the faults")
}

// MARK: Partners stopped during an operation

/// Stops the echo server while the main thread waits for its reply, reports, then calls the main thread
/// and is stopped by it before the reply.
func stopper(argument: UInt64, utcbAddress: UInt64) {
    _ = SystemCall.wait(Slot.stopperGo)
    sleep(Slot.idle, microseconds: 5_000)
    let error = SystemCall.thread(Slot.server, .stop).error
    _ = SystemCall.send(Slot.inbox, MessageTag(label: Op.stopped, words: 1), (error.rawValue, 0, 0, 0))
    _ = SystemCall.call(Slot.inbox, MessageTag(label: Op.stopMe))
    log("ipctest: FAIL the stopped caller ran on")
}

func stoppedPartners(_ checks: inout TestChecks, _ spawner: inout ThreadSpawner, _ clock: TSCClock) {
    var error = spawner.spawn(stopper, argument: 0, priority: 100, slot: Slot.stopper)
    checks.expect(error, .ok, "start a thread that stops the echo server 5 ms into a call")
    error = SystemCall.send(Slot.stopperGo, MessageTag(label: 1))
    // The server takes the call and sleeps 50 ms before replying; it is stopped after 5.
    let start = timestamp()
    let answer = SystemCall.call(Slot.endpoint, MessageTag(label: Op.slowReply, words: 1), (50_000, 0, 0, 0))
    let elapsed = clock.elapsed(since: start)
    checks.check(error == .ok && answer.error == .aborted && elapsed < 45_000,
                 "the callee is stopped while the caller waits for its reply: \(answer.error.name) after \(elapsed) us")
    let report = SystemCall.wait(Slot.inbox)
    let state = SystemCall.thread(Slot.server, .readState)
    checks.check(report.succeeded && report.tag.label == Op.stopped && report.words.0 == 0
                 && state.words.0 == ThreadStateCode.stopped.rawValue,
                 "stopping the server: \(SyscallError(rawValue: report.words.0)?.name ?? "?"), its state \(state.words.0) (stopped)")
    let queued = SystemCall.call(Slot.endpoint, MessageTag(label: Op.echo), timeout: .microseconds(2_000))
    checks.expect(queued.error, .timeout, "the stopped server no longer waits on its endpoint (call with 2 ms timeout)")

    // The caller is stopped while the main thread holds its call: the reply finds no caller.
    let call = SystemCall.wait(Slot.inbox)
    error = SystemCall.thread(Slot.stopper, .stop).error
    checks.check(call.succeeded && call.tag.label == Op.stopMe && error == .ok, "receive a call, then stop the caller")
    checks.expect(SystemCall.reply(MessageTag(label: Op.stopMe)), .noCaller, "the reply to a stopped caller")
    checks.expect(SystemCall.wait(Slot.idle, timeout: .zero).error, .timeout, "the kernel still answers")
}
