import SwiftletABI
import SwiftletUser

/// Pages the started tasks' heaps in on demand (the root task is the pager of each task's first thread),
/// each task from its own budget: its `memory-pages`, set aside from the pool when it starts. A task that
/// touches its whole window is stopped at its budget, and the other tasks' pages are still there.
struct HeapPager {
    /// By task number (the badge of its report and fault messages, 1-16).
    private var budgets = InlineArray<17, PagePool>(repeating: PagePool(base: 0, pages: 0))
    private var sizes = InlineArray<17, UInt64>(repeating: 0)
    private(set) var pagedIn = 0

    /// Sets `pages` aside for task `number` from `pool`; false when the pool has not that many left.
    mutating func reserve(_ pages: UInt64, for number: UInt64, from pool: inout PagePool) -> Bool {
        guard number >= 1, number < 17, let part = pool.split(pages: pages) else { return false }
        budgets[Int(number)] = part
        sizes[Int(number)] = pages
        return true
    }

    enum Answer {
        case page(UInt64)
        case outsideWindow
        /// The task's whole budget (this many pages) is paged in already.
        case budgetUsed(UInt64)
    }

    /// A fresh zeroed page for task `number`'s fault at `address`, or why there is none.
    mutating func page(for number: UInt64, at address: UInt64) -> Answer {
        guard address >= TaskLayout.heap + TaskLayout.heapPages * 4096, address < TaskLayout.heapLimit,
              number >= 1, number < 17 else { return .outsideWindow }
        guard let page = budgets[Int(number)].allocate(pages: 1) else { return .budgetUsed(sizes[Int(number)]) }
        pagedIn += 1
        return .page(page)
    }
}
