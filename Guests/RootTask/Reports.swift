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
    mutating func collect(daemons: Bool, _ plan: Plan, _ services: inout Services, _ launcher: inout TaskLauncher,
                          _ info: BootInformation, timeout: Timeout) {
        while !allFinished(daemons: daemons, plan) {
            let report = SystemCall.wait(services.reports, timeout: timeout)
            guard report.succeeded else {
                let kind: StaticString = daemons ? "daemons" : "tasks"
                log("roottask: \(awaited(daemons: daemons, plan)) \(kind) did not report: \(report.error.name)")
                return
            }
            take(report, plan, &services, &launcher, info)
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
            var restartable = false
            if report.badge >= 1, report.badge <= UInt64(plan.count), report.badge < 17,
               let footprint = services.footprints[Int(report.badge)] {
                restartable = footprint.restartsLeft > 0
            }
            let outcome: StaticString = restartable ? "restarting it" : "stopped"
            if case .budgetUsed(let pages) = answer {
                log("roottask: task \(report.badge &- 1) faulted at \(hex: address) (RIP \(hex: report.words.2)): budget of \(pages) pages used; \(outcome)")
            } else {
                log("roottask: task \(report.badge &- 1) faulted at \(hex: address) (RIP \(hex: report.words.2)), outside what it may have; \(outcome)")
            }
            if restartable && restart(plan.tasks[Int(report.badge - 1)], number: report.badge, cause: "it faulted", info: info,
                                      launcher: &launcher, services: &services) {
                return
            }
            if report.badge < 17 { _ = SystemCall.thread(services.threads[Int(report.badge)], .stop) }
            if restartable == false, report.badge >= 1, report.badge <= UInt64(plan.count), report.badge < 17,
               let footprint = services.footprints[Int(report.badge)] {
                footprint.logSummary(plan.tasks[Int(report.badge - 1)].node)
            }
            _ = finish(report.badge, passed: false)
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
