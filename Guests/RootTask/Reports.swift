import SwiftletABI
import SwiftletUser

/// What the root task hears from the tasks it started, on its report endpoint (badged with the task's
/// number, 1-16): `done` with the number of failures, or a page fault of the task's heap, which it pages
/// in or answers by stopping the task. Each task counts once, whatever it sends later.
struct Reports {
    /// By task number: started, and reported (or stopped after a fault).
    var started = InlineArray<17, Bool>(repeating: false)
    var finished = InlineArray<17, Bool>(repeating: false)
    var finishedCount = 0, passed = 0
    /// The status a VMM's guest wrote to its debug-exit port (the first such report), if any.
    var guestStatus: UInt8?
    /// Services (drivers) that failed with no restart left: they count as failed tasks in the verdict.
    var servicesLost = 0

    /// Whether every started task that is (or is not) a daemon has finished.
    func allFinished(daemons: Bool, _ plan: Plan) -> Bool {
        awaited(daemons: daemons, plan) == 0
    }

    func awaited(daemons: Bool, _ plan: Plan) -> Int {
        var count = 0
        for index in 0..<plan.count where plan.tasks[index].daemon == daemons && started[index + 1] && !finished[index + 1] {
            count += 1
        }
        return count
    }

    /// Serves reports and page faults until every started task of the kind has finished, or a wait for the
    /// next report runs out after `timeout` (those tasks then count as not reporting).
    /// Tasks with `kill-every-ms` are killed (and restarted) when they are due, between reports; the wait
    /// for a report is cut short for that, and `timeout` counts from the last report.
    mutating func collect(daemons: Bool, _ plan: Plan, _ services: inout Services, _ launcher: inout TaskLauncher,
                          _ info: BootInformation, timeout: Timeout) {
        var lastReport = timestamp()
        while !allFinished(daemons: daemons, plan) {
            var wait = timeout
            if let due = nextKillDue(services), info.tscKHz > 0 {
                let now = timestamp()
                let untilKill = due > now ? (due - now) / info.tscKHz * 1000 : 0
                let waited = (now &- lastReport) / info.tscKHz * 1000
                let left = timeout.isInfinite ? UInt64.max : timeout.raw > waited ? timeout.raw - waited : 0
                wait = .microseconds(min(untilKill, left, Timeout.maximumMicroseconds))
            }
            let report = SystemCall.wait(services.reports, timeout: wait)
            if report.error == .timeout, wait != timeout {
                let now = timestamp()
                if timeout.isInfinite || (now &- lastReport) / info.tscKHz * 1000 < timeout.raw {
                    killDue(plan, &services, &launcher, info)
                    continue
                }
            }
            guard report.succeeded else {
                let kind: StaticString = daemons ? "daemons" : "tasks"
                log("roottask: \(awaited(daemons: daemons, plan)) \(kind) did not report: \(report.error.name)")
                return
            }
            lastReport = timestamp()
            take(report, plan, &services, &launcher, info)
        }
    }

    /// The earliest `kill-every-ms` deadline, if a task has one.
    func nextKillDue(_ services: Services) -> UInt64? {
        var earliest: UInt64?
        for number in 1..<17 where services.nextKill[number] != 0 {
            earliest = min(earliest ?? UInt64.max, services.nextKill[number])
        }
        return earliest
    }

    /// Kills every task whose `kill-every-ms` deadline has passed: a failure, so it is restarted (its
    /// restart-on-failure lasts: `kill-every-ms` needs one) or, with none left, given up.
    mutating func killDue(_ plan: Plan, _ services: inout Services, _ launcher: inout TaskLauncher, _ info: BootInformation) {
        let now = timestamp()
        for number in 1..<min(17, plan.count + 1) where services.nextKill[number] != 0 && services.nextKill[number] <= now {
            let task = plan.tasks[number - 1]
            services.nextKill[number] = 0
            guard !finished[number] else { continue }
            log("roottask: killing task \(UInt64(number) - 1) (\(task.node)) on purpose (kill-every-ms)")
            failed(UInt64(number), plan, &services, &launcher, info, cause: "killed on purpose (kill-every-ms)")
        }
    }

    /// Task `number` failed (a fault it may not have, an exception, a kill): restarted while it has restarts
    /// left, else stopped and counted as failed.
    private mutating func failed(_ number: UInt64, _ plan: Plan, _ services: inout Services, _ launcher: inout TaskLauncher,
                                 _ info: BootInformation, cause: StaticString) {
        guard number >= 1, number <= UInt64(plan.count), number < 17 else { return }
        let task = plan.tasks[Int(number - 1)]
        if let footprint = services.footprints[Int(number)], footprint.restartsLeft > 0 || footprint.failureRestartsLeft > 0 {
            if restart(task, number: number, cause: cause, failure: true, info: info, launcher: &launcher, services: &services) { return }
        }
        _ = SystemCall.thread(services.threads[Int(number)], .stop)
        services.nextKill[Int(number)] = 0
        // (A service's summary comes at the end of the run, with every service's.)
        if !task.service, let footprint = services.footprints[Int(number)] { footprint.logSummary(task.node) }
        if task.service {
            log("roottask: service \(task.node) failed with no restart left; it stays stopped")
            servicesLost += 1
        } else {
            _ = finish(number, passed: false)
        }
    }

    /// Sends `stop` to every started daemon that has not finished (each has `Root.stopDeadline` to take it).
    func stopDaemons(_ plan: Plan, _ services: Services) {
        for index in 0..<plan.count where plan.tasks[index].daemon && started[index + 1] && !finished[index + 1] {
            log("roottask: every other task reported; stopping daemon \(plan.tasks[index].node)")
            let error = SystemCall.send(services.stops[index + 1], MessageTag(label: Report.stop), timeout: Root.stopDeadline)
            if error != .ok { log("roottask: daemon \(plan.tasks[index].node) did not take its stop: \(error.name)") }
        }
    }

    func restartable(_ number: UInt64, _ services: Services) -> Bool {
        guard number >= 1, number < 17, let footprint = services.footprints[Int(number)] else { return false }
        return footprint.restartsLeft > 0 || footprint.failureRestartsLeft > 0
    }

    private mutating func finish(_ number: UInt64, passed ok: Bool) -> Bool {
        guard number >= 1, number < 17, !finished[Int(number)] else { return false }
        finished[Int(number)] = true
        finishedCount += 1
        if ok { passed += 1 }
        return true
    }

    private mutating func take(_ report: Message, _ plan: Plan, _ services: inout Services, _ launcher: inout TaskLauncher,
                               _ info: BootInformation) {
        if report.tag.label == KernelMessageLabel.pageFault {
            let address = report.words.0
            let answer = services.pager.page(for: report.badge, at: address)
            if case .page(let page) = answer {
                let guestMemory = report.badge >= 1 && report.badge <= UInt64(plan.count) && plan.tasks[Int(report.badge - 1)].guestMemory
                let (w0, w1) = TypedItem.map(Flexpage(base: page, order: 12, rights: guestMemory ? .all : [.read, .write]))
                _ = SystemCall.reply(MessageTag(label: 0, items: 1), (w0, w1, 0, 0))
                return
            }
            // A task with restarts left is removed and started again instead (the basis of restartable drivers).
            let outcome: StaticString = restartable(report.badge, services) ? "restarting it" : "stopped"
            if case .budgetUsed(let pages) = answer {
                log("roottask: task \(report.badge &- 1) faulted at \(hex: address) (RIP \(hex: report.words.2)): budget of \(pages) pages used; \(outcome)")
            } else {
                log("roottask: task \(report.badge &- 1) faulted at \(hex: address) (RIP \(hex: report.words.2)), outside what it may have; \(outcome)")
            }
            failed(report.badge, plan, &services, &launcher, info, cause: "it faulted")
            return
        }
        // Only a supervised task (restart-on-failure) has the root task as its exception handler.
        if report.tag.label == KernelMessageLabel.exception {
            let outcome: StaticString = restartable(report.badge, services) ? "restarting it" : "stopped"
            log("roottask: task \(report.badge &- 1) took exception \(report.words.0) (error \(hex: report.words.1)) at RIP \(hex: report.words.2); \(outcome)")
            failed(report.badge, plan, &services, &launcher, info, cause: "an exception")
            return
        }
        guard report.tag.label == Report.done else { return }
        // A task to restart (`restart-after-report`) that passed is removed and started again; its last
        // incarnation's report counts.
        if report.words.0 == 0, report.badge >= 1, report.badge <= UInt64(plan.count), report.badge < 17,
           !finished[Int(report.badge)], let footprint = services.footprints[Int(report.badge)] {
            if footprint.restartsLeft > 0 {
                log("roottask: task \(report.badge - 1) done, passed (incarnation \(UInt64(footprint.restarts) + 1)); restarting it")
                if restart(plan.tasks[Int(report.badge - 1)], number: report.badge, cause: "it reported, restart-after-report",
                           info: info, launcher: &launcher, services: &services) { return }
                _ = finish(report.badge, passed: false)
                return
            } else {
                footprint.logSummary(plan.tasks[Int(report.badge - 1)].node)
            }
        }
        // Figures that moved across restarts are a leak: the task does not count as passed.
        let unchanged = report.badge < 17 ? services.footprints[Int(report.badge)]?.unchanged ?? true : true
        guard finish(report.badge, passed: report.words.0 == 0 && unchanged) else { return }
        let verdict: StaticString = report.words.0 == 0 ? "passed" : "FAILED"
        if report.words.0 == 0, report.words.1 & Report.guestExit != 0, report.words.1 >> 9 == 0, guestStatus == nil {
            guestStatus = UInt8(truncatingIfNeeded: report.words.1)
        }
        var startedCount = 0
        for number in 1..<17 where started[number] { startedCount += 1 }
        log("roottask: task \(report.badge - 1) done, \(verdict) (\(finishedCount)/\(startedCount))")
    }
}
