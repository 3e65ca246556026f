import SwiftletABI
import SwiftletUser
import TestGuest

/// The user-level VMM. It creates a VM (a task whose address space is guest-physical), gives it RAM from
/// its own memory with ordinary mappings, creates a vCPU whose exits come to this thread as IPC calls,
/// and answers each exit in a handler of its own (Exits/). It runs three guests one after the other: the
/// test guest, whose checks it reports, a hostile guest that must not harm anything, and a guest that
/// spins without exits, which must not keep the VMM (at the same priority) from running, and one whose
/// #DB delivery loops forever.
enum VMM {
    /// Capability slots this task uses (1-6 come from the root task).
    static let firstSlot: UInt64 = 20
    /// Where guest RAM lives in this task: demand-paged heap, executable because the configuration says
    /// `guest-memory`.
    static let guestRAMBase = TaskLayout.heap + 0x40_0000
    static let guestRAMBytes: UInt64 = 0x10_0000
    /// The vCPUs' priority: the VMM's own (configured in system.dts).
    static let priority: UInt64 = 90
    nonisolated(unsafe) static var tscKHz: UInt64 = 0
    /// How long the spinning guest runs before the VMM stops it.
    static let spinWatchdog = Timeout.microseconds(50_000)
}

@_cdecl("task_main")
func vmmMain(tscKHz: UInt64, utcb utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    var failures: UInt64 = 0

    VMM.tscKHz = tscKHz
    var test = VirtualMachine(kind: .test, slots: VMM.firstSlot, ramBase: VMM.guestRAMBase, utcb: utcb)
    switch test.boot(image: test_guest_image(), size: test_guest_size()) {
    case .ok:
        let outcome = test.run()
        failures += outcome
    case let error:
        log("vmm: could not start the test guest: \(error.name)")
        failures += 1
    }

    var hostile = VirtualMachine(kind: .hostile, slots: VMM.firstSlot + 8, ramBase: VMM.guestRAMBase + VMM.guestRAMBytes, utcb: utcb)
    switch hostile.boot(image: hostile_guest_image(), size: hostile_guest_size()) {
    case .ok:
        failures += hostile.run()
        // What the next line shows: the VMM runs on and starts another guest after the hostile one.
        log("vmm: hostile guest over; the VMM goes on with the spinning guest")
    case let error:
        log("vmm: could not start the hostile guest: \(error.name)")
        failures += 1
    }

    // A guest that never exits: the VMM, at the vCPU's priority, must still get the CPU to stop it.
    var spinning = VirtualMachine(kind: .spinning, slots: VMM.firstSlot + 16, ramBase: VMM.guestRAMBase + 2 * VMM.guestRAMBytes, utcb: utcb)
    switch spinning.boot(image: spin_guest_image(), size: spin_guest_size()) {
    case .ok:
        failures += spinning.run()
    case let error:
        log("vmm: could not start the spinning guest: \(error.name)")
        failures += 1
    }
    // A guest whose #DB delivery loops forever (CVE-2015-8104): the kernel reflects each #DB, stays
    // preemptible, and the VMM stops the guest. It gets the stopped spinning guest's RAM (zeroed anew).
    var debugLoop = VirtualMachine(kind: .debugLoop, slots: VMM.firstSlot + 24, ramBase: VMM.guestRAMBase + 2 * VMM.guestRAMBytes, utcb: utcb)
    switch debugLoop.boot(image: debug_loop_guest_image(), size: debug_loop_guest_size()) {
    case .ok:
        failures += debugLoop.run()
    case let error:
        log("vmm: could not start the debug-loop guest: \(error.name)")
        failures += 1
    }
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}
