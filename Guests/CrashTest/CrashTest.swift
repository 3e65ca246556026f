import SwiftletABI
import SwiftletUser
import UserPlatform

/// A stand-in for a driver under supervision (`service`, `restart-on-failure`): an echo service on the
/// endpoint in slot 5 (each call's MR0 comes back plus one). Given `period-ms` in its startup block, it
/// takes an invalid-opcode exception that long after it started: a crash the root task, its exception
/// handler, answers with a restart. It never reports: a service does not.
@_cdecl("task_main")
func crashTestMain(tscKHz: UInt64, utcb: UInt64) {
    let crashAfter = StartupBlock.word(StartupBlock.periodMilliseconds)
    let line: LogLine = crashAfter == 0 ? "crashtest: up, serving" : "crashtest: up, serving, crashing in \(crashAfter) ms"
    if ConsoleClient.write(line) != .ok { log(line) }
    let service: UInt64 = 5
    let deadline = crashAfter > 0 && tscKHz > 0 ? timestamp() &+ crashAfter &* tscKHz : UInt64.max
    var request = SystemCall.wait(service, timeout: timeLeft(until: deadline, tscKHz))
    while true {
        if timestamp() >= deadline { user_fault_invalid_opcode() }
        guard request.succeeded else {
            request = SystemCall.wait(service, timeout: timeLeft(until: deadline, tscKHz))
            continue
        }
        request = SystemCall.replyWait(service, MessageTag(label: 0, words: 1), (request.words.0 &+ 1, 0, 0, 0),
                                       timeout: timeLeft(until: deadline, tscKHz))
    }
}

func timeLeft(until deadline: UInt64, _ tscKHz: UInt64) -> Timeout {
    guard deadline != UInt64.max else { return .infinite }
    let now = timestamp()
    return .microseconds(deadline > now ? (deadline - now) * 1000 / tscKHz : 0)
}
