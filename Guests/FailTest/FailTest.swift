import SwiftletABI
import SwiftletUser

/// A task whose one check fails on purpose, so the system tests can see that a failed task makes the
/// run's verdict a failure (the root task's summary, its power-off reason and `swiftlet run`'s status).
@_cdecl("task_main")
func failTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("failtest")
    checks.check(false, "this check fails on purpose")
    checks.report()
}
