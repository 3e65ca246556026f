import SwiftletABI
import SwiftletUser

/// Pages in on demand, from the root task: this task touches `pages` pages past its heap, one fault each,
/// then reads every one back. Two copies with different `memory-pages` budgets show that one task that
/// takes more than its budget is stopped at its budget, and the other still gets all of its pages.
enum PagerTest {
    static let pages: UInt64 = 2048      // 8 MiB: more than half the root task's pool
    static let first = TaskLayout.heap + TaskLayout.heapPages * 4096
}

@_cdecl("task_main")
func pagerTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("pagertest")
    for index in 0..<PagerTest.pages {
        let word = UnsafeMutablePointer<UInt64>(bitPattern: UInt(PagerTest.first + index * 4096))!
        word.pointee = index ^ 0x5A5A_0000      // faults to the root task, which maps a fresh page
    }
    var wrong: UInt64 = 0
    for index in 0..<PagerTest.pages {
        let word = UnsafeMutablePointer<UInt64>(bitPattern: UInt(PagerTest.first + index * 4096))!
        if word.pointee != index ^ 0x5A5A_0000 { wrong += 1 }
    }
    checks.check(wrong == 0, "\(PagerTest.pages) pages paged in on demand, \(PagerTest.pages - wrong) read back intact")
    checks.report()
}
