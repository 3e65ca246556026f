import SwiftletABI
import SwiftletUser

/// A native periodic task that shows it is alive beside everything else, the Linux guest included: every
/// `period-ms` (its startup block) it prints `heartbeat N at T s: L us late (worst W us)` through the
/// console service. It is a daemon: it beats until the root task sends `stop` on its own endpoint, then
/// prints a summary and reports.
///
/// It sleeps until absolute deadlines start + n·period, by waiting on that endpoint (only the root task
/// can send there) with a timeout computed from the TSC, so its lateness does not add up from beat to
/// beat; a beat whose deadline passed while it was late is taken at once, with its own lateness. Its
/// priority (100 in the configurations) is above the VMM's threads (90) and the guest's vCPU (89): when its
/// timeout expires the kernel preempts a running guest for it.
@_cdecl("task_main")
func heartbeatMain(tscKHz: UInt64, utcb: UInt64) {
    let period = StartupBlock.word(StartupBlock.periodMilliseconds)
    guard tscKHz > 0, period >= 1, period <= UInt64(SystemConfiguration.periodMilliseconds.upperBound) else {
        return fail("heartbeat: no period-ms in 1-3600000 in its startup block (\(period)), or no TSC rate (\(tscKHz) kHz); FAILED")
    }
    guard SystemCall.capability(Report.stopSlot, .identify).words.0 == UInt64(ObjectType.endpoint.rawValue) else {
        return fail("heartbeat: not started as a daemon: no endpoint of its own in slot 13; FAILED")
    }
    var heart = Heart(kHz: tscKHz, periodMilliseconds: period)
    heart.beatUntilStopped()
    heart.summarize()
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (heart.failures, 0, 0, 0))
}

func fail(_ line: LogLine) {
    say(line)
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (1, 0, 0, 0))
}

/// Through the serial driver's console service when there is one (the kernel console otherwise).
func say(_ line: LogLine) {
    if ConsoleClient.write(line) != .ok { log(line) }
}

struct Heart {
    let kHz: UInt64
    let periodMilliseconds: UInt64
    /// TSC ticks per period: at most 3.6e6 ms times the TSC rate in kHz (below 2^40), so far from wrapping.
    let periodTicks: UInt64
    let start: UInt64
    var beats: UInt64 = 0
    var worst: UInt64 = 0, total: UInt64 = 0
    var failures: UInt64 = 0

    init(kHz: UInt64, periodMilliseconds: UInt64) {
        self.kHz = kHz
        self.periodMilliseconds = periodMilliseconds
        let (ticks, overflow) = periodMilliseconds.multipliedReportingOverflow(by: kHz)
        periodTicks = overflow ? UInt64.max >> 8 : ticks
        start = timestamp()
    }

    /// Microseconds in `ticks`, rounded down (lateness) or up (a sleep: never short of its deadline).
    func microseconds(_ ticks: UInt64, roundingUp: Bool = false) -> UInt64 {
        let (scaled, overflow) = ticks.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return UInt64.max / kHz }
        return roundingUp ? scaled / kHz + (scaled % kHz == 0 ? 0 : 1) : scaled / kHz
    }

    mutating func beatUntilStopped() {
        while true {
            // Deadlines wrap only after centuries of beats (&+, &*).
            let deadline = start &+ (beats &+ 1) &* periodTicks
            let now = timestamp()
            let sleep = now >= deadline ? Timeout.zero : Timeout.microseconds(min(microseconds(deadline &- now, roundingUp: true),
                                                                                    Timeout.maximumMicroseconds))
            let message = SystemCall.wait(Report.stopSlot, timeout: sleep)
            let woke = timestamp()
            if message.succeeded {
                if message.tag.label == Report.stop { return }
                continue                      // only the root task can send here: nothing else is expected
            }
            guard message.error == .timeout else {
                failures += 1
                say("heartbeat: waiting on its endpoint FAILED: \(message.error.name)")
                return
            }
            beats += 1
            guard woke >= deadline else {
                failures += 1
                say("heartbeat \(beats): woke \(microseconds(deadline &- woke)) us before its deadline; FAILED")
                continue
            }
            let late = microseconds(woke &- deadline)
            worst = max(worst, late)
            total &+= late
            let at = beats &* periodMilliseconds
            say("heartbeat \(beats) at \(at / 1000).\(digits: at % 1000, 3) s: \(late) us late (worst \(worst) us)")
        }
    }

    func summarize() {
        let tenths = microseconds(timestamp() &- start) / 100_000
        let mean = beats == 0 ? 0 : total / beats
        say("heartbeat: \(beats) beats in \(tenths / 10).\(tenths % 10) s, worst \(worst) us late, mean \(mean) us")
    }
}

extension LogLine.Interpolation {
    /// `value` in decimal with at least `width` digits (leading zeros): the fraction of a fixed-point number.
    mutating func appendInterpolation(digits value: UInt64, _ width: Int) {
        var power: UInt64 = 1
        for _ in 1..<max(width, 1) { power &*= 10 }
        while power > 1 && value < power {
            appendLiteral("0")
            power /= 10
        }
        appendInterpolation(value)
    }
}
