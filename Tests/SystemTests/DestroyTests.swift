import Foundation
import SwiftletTools
import XCTest

/// Destroy of endpoints, threads, factories (with everything made from them) and tasks in every state, with the partners' error codes, no
/// capability left, quota and the kernel's free frames back where they were; and the soak (destroytest).
final class DestroyTests: SystemTestCase {
    func checkDestroyTest(_ result: RunResult) {
        assertLine(containing: "destroytest: PASS destroy through a copy without the destroy right -> missing right", in: result)
        assertLine(containing: "destroytest: PASS destroy a thread whose page fault its pager holds (fault at 0x300000000000) -> ok", in: result)
        assertLine(containing: "destroytest: PASS the pager's reply with the page -> no caller", in: result)
        assertLine(containing: "destroytest: PASS mid-map: quota", in: result)
        assertLine(containing: "destroytest: PASS both receivers woke with aborted and aborted", in: result)
        assertLine(containing: "destroytest: PASS sender and caller woke with aborted and aborted", in: result)
        assertLine(containing: "destroytest: PASS destroy a ready thread (state 1) -> ok", in: result)
        assertLine(containing: "destroytest: PASS destroy a thread blocked in receive with a timeout pending (state 4) -> ok", in: result)
        assertLine(containing: "destroytest: PASS the server's reply -> no caller", in: result)
        assertLine(containing: "destroytest: PASS the reply through the saved capability -> no caller", in: result)
        assertLine(containing: "destroytest: PASS a server destroyed by another thread while this one waits for its reply: the call -> aborted", in: result)
        assertLine(containing: "destroytest: PASS a server destroyed while it holds this thread's saved reply: the call -> aborted", in: result)
        assertLine(containing: "destroytest: PASS a thread destroyed itself", in: result)
        assertLine(containing: "destroytest: PASS acknowledge after: the interrupt was unbound -> invalid thread state", in: result)
        assertLine(containing: "destroytest: PASS every thread gone: quota", in: result)
        assertLine(containing: "destroytest: PASS destroy a factory with an endpoint made from it (9 of 10 frames left in it) -> ok", in: result)
        assertLine(containing: "destroytest: PASS the endpoint went with it -> empty slot", in: result)
        assertLine(containing: "destroytest: PASS destroy a factory that made a task and a factory, which made an endpoint and a thread blocked on it (state 4) -> ok", in: result)
        assertLine(containing: "destroytest: PASS all five capabilities are empty, and the blocked thread went without returning", in: result)
        assertLine(containing: "destroytest: PASS three levels gone: quota", in: result)
        assertLine(containing: "destroytest: PASS a thread destroyed the factory it came from: it never ran past its destroy", in: result)
        assertLine(containing: "destroytest: PASS round 2: destroy a task with 4 pages mapped (rights 0x3), 2 capabilities, a thread and 8 I/O ports", in: result)
        assertLine(containing: "destroytest: PASS the pages it was given are still this task's", in: result)
        assertLine(containing: "destroytest: PASS task gone again: quota", in: result)
        for type in ["endpoint", "factory", "thread", "task"] {
            assertLine(containing: "destroytest: PASS soak: 20000 create/destroy cycles of \(type): quota", "0 failed", in: result)
        }
        assertLine(containing: "destroytest: PASS soak: 20000 map/unmap cycles", in: result)
        assertLine(containing: "destroytest: PASS soak: the kernel's free frames", in: result)
        assertLine(containing: "destroytest: PASS destroy the VM with its other vCPU -> ok", in: result)
        assertLine(containing: "destroytest: PASS VM gone: quota", in: result)
        assertLine(containing: "destroytest: PASS destroy a vCPU in its startup exit, held by this thread (an exit message: yes) -> ok", in: result)
        assertLine(containing: "destroytest: PASS the reply to the destroyed vCPU's exit -> no caller", in: result)
        assertLine(containing: "destroytest: PASS destroy a vCPU that ran its guest and is queued with its next exit (state 7) -> ok", in: result)
        assertLine(containing: "destroytest: PASS destroy a vCPU preempted in guest mode, its guest spinning (state 1) -> ok", in: result)
        assertLine(containing: "destroytest: PASS VMs whose vCPUs ran gone: quota", in: result)
        assertLine(containing: "destroytest: PASS soak: 1000 VMs with a vCPU and a page made, run (2000 exits in all) and destroyed: quota", "0 failed", in: result)
        assertTasksPassed(["destroytest"], in: result, startedWith: ") with ports 0x2f8+8 and IRQ 3: ok")
    }

    func testDestroyOnQEMU() throws {
        checkDestroyTest(try bootTasks(["destroytest"]))
    }

    func testDestroyOnBochsVMXModel() throws {
        let result = try bootTasks(["destroytest"], on: .bochs)
        checkDestroyTest(result)
        // Every destroyed vCPU's VPID was flushed before the counter could hand it out again.
        if let line = assertLine(containing: "virt: ", " VPIDs of destroyed vCPUs flushed (INVVPID", in: result),
           let flushed = line.firstMatch(of: /virt: (\d+) VPIDs/).flatMap({ Int($0.1) }) {
            XCTAssertGreaterThanOrEqual(flushed, 1000, line)
            if flushed >= 1000 { print("destroy: bochs: \(line)") }
        }
    }
}
