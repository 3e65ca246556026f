import SwiftletABI
import SwiftletUser

/// A task has exactly the endpoint rights its plan names: here a send right in slot 5 and nothing in
/// slot 6. It cannot receive on slot 5, cannot badge its copy to pose as another sender, and cannot
/// reach an endpoint it was not given. Then a reply saved with `saveCaller` answers its own caller
/// while the server's current caller is kept for a plain reply.
enum RightsTest {
    static let given = Report.sharedSlot, notGiven = Report.secondSharedSlot
    static let copy: UInt64 = 20, endpoint: UInt64 = 21, saved: UInt64 = 22, idle: UInt64 = 23
    static let callerA: UInt64 = 24, callerB: UInt64 = 25
    /// The label each caller got back (0 until it got a reply).
    nonisolated(unsafe) static var answers: (UInt64, UInt64) = (0, 0)
}

@_cdecl("task_main")
func rightsTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("rightstest")
    let identity = SystemCall.capability(RightsTest.given, .identify)
    checks.check(identity.succeeded && identity.words.0 == UInt64(ObjectType.endpoint.rawValue)
                 && identity.words.1 == UInt64(Rights.send.rawValue) && identity.words.2 != 0,
                 "slot 5 holds an endpoint with rights \(hex: identity.words.1) (send only), badge \(identity.words.2) (its task number)")
    checks.expect(SystemCall.wait(RightsTest.given, timeout: .zero).error, .missingRight, "wait on the send-only endpoint")
    checks.expect(SystemCall.replyWait(RightsTest.given, MessageTag(label: 0), timeout: .zero).error, .missingRight,
                  "reply-wait on the send-only endpoint")
    checks.expect(SystemCall.capability(RightsTest.given, .copy, (RightsTest.copy, UInt64(Rights.all.rawValue), 99, 0)).error,
                  .missingRight, "badge a copy of it as another sender")
    let widened = SystemCall.capability(RightsTest.given, .copy, (RightsTest.copy, UInt64(Rights.all.rawValue), 0, 0)).error
    let copied = SystemCall.capability(RightsTest.copy, .identify)
    checks.check(widened == .ok && copied.words.1 == UInt64(Rights.send.rawValue) && copied.words.2 == identity.words.2,
                 "a copy asking for all rights has rights \(hex: copied.words.1) and badge \(copied.words.2): no more than given")
    checks.expect(SystemCall.call(RightsTest.notGiven, MessageTag(label: 1), timeout: .zero).error, .emptySlot,
                  "call through slot 6, which holds nothing")
    checks.expect(SystemCall.wait(RightsTest.notGiven, timeout: .zero).error, .emptySlot, "wait on slot 6")
    savedReplyKeepsTheCurrentCaller(&checks)
    checks.report()
}

/// Caller A's call is saved, caller B's is current; A is answered through the saved right, then B with a
/// plain reply. Both must have their own answer (once B lost its reply and waited forever).
func savedReplyKeepsTheCurrentCaller(_ checks: inout TestChecks) {
    var spawner = ThreadSpawner()
    guard SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: RightsTest.endpoint) == .ok,
          SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: RightsTest.idle) == .ok,
          spawner.spawn(caller, argument: 0, priority: 90, slot: RightsTest.callerA) == .ok,
          spawner.spawn(caller, argument: 1, priority: 90, slot: RightsTest.callerB) == .ok else {
        checks.check(false, "set up the saved-reply check")
        return
    }
    // The callers run below this thread's priority: each calls when this thread waits.
    let first = SystemCall.wait(RightsTest.endpoint, timeout: .microseconds(1_000_000))
    let saved = SystemCall.saveCaller(into: RightsTest.saved)
    let second = SystemCall.wait(RightsTest.endpoint, timeout: .microseconds(1_000_000))
    let throughSaved = SystemCall.reply(through: RightsTest.saved, MessageTag(label: 0xA0 + first.words.0, words: 0))
    let plain = SystemCall.reply(MessageTag(label: 0xA0 + second.words.0, words: 0))
    _ = SystemCall.wait(RightsTest.idle, timeout: .microseconds(100_000))      // let both callers run
    let answers = RightsTest.answers
    checks.check(first.succeeded && second.succeeded && saved == .ok && throughSaved == .ok && plain == .ok
                 && answers.0 == 0xA0 && answers.1 == 0xA1,
                 "saved reply to the first caller, then a plain reply to the current one: they got \(hex: answers.0) and \(hex: answers.1) (plain reply: \(plain.name))")
}

/// Calls the test's endpoint with its number; records the label of the reply.
func caller(number: UInt64, utcb: UInt64) {
    let answer = SystemCall.call(RightsTest.endpoint, MessageTag(label: 1, words: 1), (number, 0, 0, 0))
    guard answer.succeeded else { return }
    if number == 0 { RightsTest.answers.0 = answer.tag.label } else { RightsTest.answers.1 = answer.tag.label }
}
