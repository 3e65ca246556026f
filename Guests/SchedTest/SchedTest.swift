import SwiftletABI
import SwiftletUser

/// Scheduling: a periodic high-priority thread is not delayed by a spinning low-priority thread beyond
/// its timeslice bound, and threads of equal priority share the CPU round-robin.
///
/// The main thread (priority 100) sleeps `periods` times for `period` µs on a private endpoint (a wait
/// with a relative timeout that nobody ends), first on an otherwise idle system, then while a thread at
/// priority 20 spins. It measures each wake-up with the TSC: lateness = elapsed − requested. Then two
/// spinners at priority 50 run while the main thread sleeps; both must make progress, in several slices
/// each (round-robin, not one after the other). Lines: `schedtest: PASS|FAIL ...` and `sched: ...`.
enum Sched {
    static let period: UInt64 = 5_000
    static let idlePeriods = 20
    static let periods = 40
    /// The timer runs at 1000 Hz (the kernel's default; the root task passes tasks only the TSC rate).
    static let tickMicroseconds: UInt64 = 1_000
    /// A thread's timeslice, in ticks: the bound a higher-priority thread's wake-up must beat.
    static let timesliceTicks: UInt64 = 10
    static let roundRobinMicroseconds: UInt64 = 200_000
    /// Sub-millisecond timeouts: waits this short must not be rounded to the tick.
    static let shortWait: UInt64 = 100
    static let shortWaits = 10

    static let sleepEndpoint: UInt64 = 10
    static let lowSpinner: UInt64 = 20
    static let spinnerA: UInt64 = 21
    static let spinnerB: UInt64 = 22
}

/// Each spinner's words, in the main thread's UTCB above the message registers: iterations, slices (runs
/// after a gap in its own timeline, i.e. after another thread had the CPU), and the gap threshold in TSC ticks.
struct SpinnerRecord {
    let base: UInt64
    var iterations: SharedWord { SharedWord(address: base) }
    var slices: SharedWord { SharedWord(address: base + 8) }
    var gapTicks: SharedWord { SharedWord(address: base + 16) }

    static func at(_ index: UInt64) -> SpinnerRecord {
        SpinnerRecord(base: TaskLayout.utcb + 2048 + index * 64)
    }
}

/// Spins forever: counts iterations, and slices (a TSC jump larger than the gap threshold between two
/// iterations means the thread was off the CPU).
func spinner(record index: UInt64, utcb: UInt64) {
    let record = SpinnerRecord.at(index)
    let gap = record.gapTicks.load()
    var last = timestamp()
    record.slices.store(1)
    while true {
        record.iterations.increment()
        let now = timestamp()
        if now &- last > gap { record.slices.increment() }
        last = now
    }
}

struct Lateness {
    var minimum = Int64.max
    var maximum = Int64.min
    var total: Int64 = 0
    var early = 0
}

/// Sleeps `count` periods; returns the lateness of the wake-ups in µs.
func measurePeriods(_ count: Int, _ clock: TSCClock) -> Lateness {
    var lateness = Lateness()
    for _ in 0..<count {
        let start = timestamp()
        let result = SystemCall.wait(Sched.sleepEndpoint, timeout: .microseconds(Sched.period))
        let elapsed = clock.elapsed(since: start)
        let late = Int64(bitPattern: elapsed &- Sched.period)
        if result.error != .timeout { lateness.early += 1 }
        // The TSC and the timer are calibrated separately and may disagree by a fraction of a percent, and
        // QEMU without -icount delivers timer ticks it could not deliver in time in a quick burst.
        if elapsed + Sched.period / 100 + 200 < Sched.period { lateness.early += 1 }
        lateness.minimum = min(lateness.minimum, late)
        lateness.maximum = max(lateness.maximum, late)
        lateness.total += late
    }
    return lateness
}

@_cdecl("task_main")
func schedTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("schedtest")
    let clock = TSCClock(kHz: tscKHz)
    let bound = Int64(Sched.timesliceTicks * Sched.tickMicroseconds)
    log("sched: TSC \(tscKHz) kHz; timer assumed at \(1_000_000 / Sched.tickMicroseconds) Hz, timeslice \(Sched.timesliceTicks) ticks")
    guard checks.check(SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: Sched.sleepEndpoint) == .ok,
                       "create the private sleep endpoint") else {
        checks.report()
        return
    }
    for index in 0..<3 as Range<UInt64> {
        let record = SpinnerRecord.at(index)
        record.iterations.store(0)
        record.slices.store(0)
        record.gapTicks.store(clock.ticks(microseconds: 200))
    }

    // 0. Sub-millisecond timeouts: a 100 µs wait ends after about 100 µs (the timer is armed for the
    // timeout), not at the next 1 ms tick. Never early; the shortest of several well under one tick.
    var shortest = UInt64.max, longest: UInt64 = 0, shortEarly = 0
    for _ in 0..<Sched.shortWaits {
        let start = timestamp()
        let result = SystemCall.wait(Sched.sleepEndpoint, timeout: .microseconds(Sched.shortWait))
        let ticks = timestamp() &- start
        if result.error != .timeout || ticks < clock.ticks(microseconds: Sched.shortWait) { shortEarly += 1 }
        shortest = min(shortest, ticks)
        longest = max(longest, ticks)
    }
    log("sched: \(Sched.shortWaits) waits of \(Sched.shortWait) us took \(shortest)-\(longest) TSC ticks (\(clock.microseconds(shortest))-\(clock.microseconds(longest)) us; the timer ticks every \(Sched.tickMicroseconds) us)")
    checks.check(shortEarly == 0, "\(Sched.shortWait) us waits: none ended before \(Sched.shortWait) us (\(shortEarly) early)")
    checks.check(clock.microseconds(shortest) < Sched.tickMicroseconds / 2,
                 "\(Sched.shortWait) us waits: the shortest took \(clock.microseconds(shortest)) us, not a tick (\(Sched.tickMicroseconds) us)")

    // 1. Periodic wake-ups on an idle system.
    let idle = measurePeriods(Sched.idlePeriods, clock)
    log("sched: idle: \(Sched.idlePeriods) sleeps of \(Sched.period) us, lateness min \(idle.minimum) avg \(idle.total / Int64(Sched.idlePeriods)) max \(idle.maximum) us")
    checks.check(idle.early == 0, "idle: no wake-up before the requested \(Sched.period) us (\(idle.early) early)")

    // 2. The same with a thread spinning at priority 20.
    var spawner = ThreadSpawner()
    let started = spawner.spawn(spinner, argument: 0, priority: 20, slot: Sched.lowSpinner)
    checks.expect(started, .ok, "start a spinning thread at priority 20")
    let before = SpinnerRecord.at(0).iterations.load()
    let loaded = measurePeriods(Sched.periods, clock)
    let spun = SpinnerRecord.at(0).iterations.load() &- before
    log("sched: beside a priority-20 spinner: \(Sched.periods) sleeps of \(Sched.period) us, lateness min \(loaded.minimum) avg \(loaded.total / Int64(Sched.periods)) max \(loaded.maximum) us; the spinner ran \(spun) iterations meanwhile")
    log("sched: max lateness \(loaded.maximum) us (bound: one timeslice, \(bound) us; within 2 ticks: \(yesNo: loaded.maximum <= 2 * Int64(Sched.tickMicroseconds)))")
    checks.check(spun > 0, "the low-priority thread spun while the high-priority thread slept (\(spun) iterations)")
    checks.check(loaded.early == 0, "beside the spinner: no wake-up before the requested \(Sched.period) us (\(loaded.early) early)")
    checks.check(loaded.maximum < bound,
                 "beside the spinner: max lateness \(loaded.maximum) us is below one timeslice (\(bound) us)")
    _ = SystemCall.thread(Sched.lowSpinner, .stop)

    // 3. Two spinners of equal priority share the CPU round-robin while the main thread sleeps.
    let a = spawner.spawn(spinner, argument: 1, priority: 50, slot: Sched.spinnerA)
    let b = spawner.spawn(spinner, argument: 2, priority: 50, slot: Sched.spinnerB)
    checks.check(a == .ok && b == .ok, "start two spinning threads at priority 50")
    _ = SystemCall.wait(Sched.sleepEndpoint, timeout: .microseconds(Sched.roundRobinMicroseconds))
    let first = SpinnerRecord.at(1), second = SpinnerRecord.at(2)
    let (iterationsA, slicesA) = (first.iterations.load(), first.slices.load())
    let (iterationsB, slicesB) = (second.iterations.load(), second.slices.load())
    _ = SystemCall.thread(Sched.spinnerA, .stop)
    _ = SystemCall.thread(Sched.spinnerB, .stop)
    let expectedSlices = Sched.roundRobinMicroseconds / (Sched.timesliceTicks * Sched.tickMicroseconds) / 2
    log("sched: round robin over \(Sched.roundRobinMicroseconds / 1000) ms: A \(iterationsA) iterations in \(slicesA) slices, B \(iterationsB) iterations in \(slicesB) slices (about \(expectedSlices) each expected)")
    checks.check(iterationsA > 0 && iterationsB > 0, "round robin: both equal-priority spinners made progress")
    checks.check(slicesA >= 3 && slicesB >= 3, "round robin: each ran in several slices (\(slicesA), \(slicesB)), taking turns")
    let smaller = min(iterationsA, iterationsB), larger = max(iterationsA, iterationsB)
    checks.check(smaller * 3 >= larger, "round robin: fair shares, within a factor of 3 (\(smaller) vs \(larger))")

    checks.report()
}
