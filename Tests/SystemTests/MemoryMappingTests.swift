import SwiftletTools
import XCTest

/// Memory by mapping (the memtest task): the mapping database through mapPages and IPC map items,
/// recursive revocation A→B→C, a pager answering page faults, on both emulators.
final class MemoryMappingTests: SystemTestCase {
    let configuration = ImageConfiguration(tasks: ["roottask", "memtest"])

    func check(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        for fragment in ["map a page read-write into B", "unmap the write right: B keeps read, A keeps all",
                         "unmap: B and C lose the page, A keeps it", "A maps to B, B maps to C, C reads 0x5EED",
                         "A revokes: B and C lose the page", "C's read of the revoked page faults to its pager",
                         "the pager maps another page; C reads 0xBEEF", "served 64 page faults",
                         "map 2 MiB (512 pages) into B", "unmap them in one call",
                         "a page past the heap is paged in by the root task",
                         // Issue 9: hostile map items, revoked UTCBs, quota leaks.
                         "a pager reply with a map item ending at 2^64 maps nothing: C faults again",
                         "a map item ending at 2^64 from a second thread of the task is refused (transferFailed 1, rights mapped 0)",
                         "a map item onto the page its source came from is refused (transferFailed 1); both stay mapped (rights 3, 3)",
                         "a map item without rights is refused and maps nothing (transferFailed 1, rights 0; the window then takes a page: ok)",
                         "the pager revokes a child's UTCB from above: the thread is stopped",
                         "the pager takes the write right of a child's UTCB from above: the thread is stopped",
                         "the owner unmaps a thread's UTCB: the thread is stopped (state 6), the page can be mapped again (ok)",
                         "100000 map/unmap cycles keep the quota",
                         "failed creates of a task, threads (unmapped UTCB, a UTCB in use) and factories keep the quota (frames left 2 before, 2 after; then 2 endpoints bought)"] {
            assertLine(containing: "memtest: PASS", fragment, in: result, file: file, line: line)
        }
        // Every emulator the tests use offers VMX or SVM, so the vCPU case must have run.
        assertLine(containing: "memtest: PASS", "a failed vCPU create keeps the quota (frames left 2 before, 2 after, quota exceeded; then 2 endpoints bought)", in: result, file: file, line: line)
        XCTAssertFalse(result.console.contains("memtest: FAIL"), "a memtest check failed", file: file, line: line)
        XCTAssertFalse(result.console.contains("KERNEL PANIC"), "the kernel panicked", file: file, line: line)
        assertLine(containing: "memtest: 0 failures", in: result, file: file, line: line)
        assertLine(containing: "bench: pagefault.roundtrip.instructions", in: result, file: file, line: line)
        assertLine(containing: "roottask: task", "done, passed", in: result, file: file, line: line)
        assertLine(containing: "roottask: all done (1 pages paged in on demand)", in: result, file: file, line: line)
    }

    func testMappingRevocationAndPagerOnQEMU() throws {
        check(try boot(configuration))
    }

    func testMappingRevocationAndPagerOnBochsVMXModel() throws {
        check(try boot(configuration, on: .bochs, deterministic: true))
    }

    func testMappingRevocationAndPagerOnBochsRyzen() throws {
        check(try boot(configuration, on: .bochs, cpu: "ryzen", deterministic: true))
    }
}
