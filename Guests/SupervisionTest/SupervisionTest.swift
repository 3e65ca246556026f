import SwiftletABI
import SwiftletUser

/// The client of a supervised service (crashtest's echo, endpoint in slot 5), as the VMM is a driver's:
/// it calls for `period-ms` (its startup block; 2 s without one), one call a millisecond. A call the
/// service took and never answered — it was killed or crashed holding it — comes back with an error; the
/// client re-issues it, and the restarted service answers. Every request must be answered right in the end.
/// Without the endpoint it only outlasts the period (a run that watches a service crash for good).
@_cdecl("task_main")
func supervisionTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("supervisiontest")
    let service: UInt64 = 5, idle: UInt64 = 20
    let period = StartupBlock.word(StartupBlock.periodMilliseconds)
    let milliseconds = period == 0 ? 2000 : min(period, 600_000)
    guard checks.check(tscKHz > 0 && SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: idle) == .ok,
                       "a TSC rate (\(tscKHz) kHz) and an endpoint to sleep on") else { return checks.report() }
    let end = timestamp() &+ milliseconds &* tscKHz
    guard SystemCall.capability(service, .identify).words.0 == UInt64(ObjectType.endpoint.rawValue) else {
        _ = SystemCall.wait(idle, timeout: .microseconds(milliseconds * 1000))
        checks.check(timestamp() >= end, "no service to call: waited \(milliseconds) ms")
        return checks.report()
    }
    var requests: UInt64 = 0, reissued: UInt64 = 0, wrong: UInt64 = 0, unanswered: UInt64 = 0
    var errors = InlineArray<20, UInt64>(repeating: 0)
    while timestamp() < end {
        requests += 1
        var attempts = 0
        while true {
            let answer = SystemCall.call(service, MessageTag(label: 1, words: 1), (requests, 0, 0, 0),
                                         timeout: .microseconds(5_000_000))
            if answer.succeeded {
                if answer.words.0 != requests &+ 1 { wrong += 1 }
                break
            }
            errors[Int(min(answer.error.rawValue, 19))] += 1
            reissued += 1
            attempts += 1
            if attempts > 100 {
                unanswered += 1
                break
            }
        }
        _ = SystemCall.wait(idle, timeout: .microseconds(1000))
    }
    var seen: LogLine = ""
    for code in 0..<20 where errors[code] > 0 {
        seen.append(" ")
        seen.append(SyscallError(rawValue: UInt64(code))?.name ?? "unknown")
        seen.append(" ")
        seen.appendDecimal(errors[code])
    }
    checks.check(wrong == 0 && unanswered == 0 && requests > 0,
                 "\(requests) requests over \(milliseconds) ms, each answered right in the end (\(wrong) wrong, \(unanswered) unanswered); \(reissued) re-issued after an error:\(seen)")
    checks.report()
}
