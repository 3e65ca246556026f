import SwiftletABI
import SwiftletUser

/// What only the VM's owner may do, checked against the kernel once the test VM exists: a copy of the VM
/// and vCPU capabilities without the control right maps nothing and configures nothing, no ordinary
/// thread can live in a VM, a vCPU's state is not set like a thread's, and only pages the VMM holds can
/// become guest memory.
enum OwnerChecks {
    static func run(machine: UInt64, vcpu: UInt64, spare: UInt64) -> UInt64 {
        var failures: UInt64 = 0
        func check(_ condition: Bool, _ what: StaticString) {
            if !condition { failures += 1 }
            log("vmm: \(condition ? "PASS" as StaticString : "FAIL") \(what)")
        }
        let sendOnly = UInt64(Rights.send.rawValue)
        let page = VMM.guestRAMBase
        _ = SystemCall.capability(machine, .copy, (spare, sendOnly, 0, 0))
        check(SystemCall.task(spare, .mapPages, (page, 0x20_0000, 1, 1)) == .missingRight,
              "a VM capability without the control right cannot map into the VM")
        check(SystemCall.create(RootTaskLayout.factorySlot, .virtualCPU, into: spare + 1, (spare, 1, 0)) == .missingRight,
              "nor create a vCPU in it")
        _ = SystemCall.capability(spare, .delete)
        _ = SystemCall.capability(vcpu, .copy, (spare, sendOnly, 0, 0))
        check(SystemCall.thread(spare, .setExitMask, (0, 0, 0, 0)).error == .missingRight
              && SystemCall.thread(spare, .stop).error == .missingRight,
              "a vCPU capability without the control right cannot configure or stop the vCPU")
        _ = SystemCall.capability(spare, .delete)
        check(SystemCall.createThread(RootTaskLayout.factorySlot, into: spare, task: machine, priority: 1, utcb: 0x1000) == .wrongObjectType,
              "no ordinary thread can be created in a VM")
        check(SystemCall.thread(vcpu, .setEntry, (0x1000, 0x2000, 0, 0)).error == .invalidArgument,
              "a vCPU's state is set by its VMM's replies, not like a thread's")
        check(SystemCall.task(machine, .mapPages, (0x7000_0000_0000, 0x20_0000, 1, 1)) == .invalidAddress,
              "only pages the VMM holds can become guest memory")
        check(SystemCall.create(RootTaskLayout.factorySlot, .virtualCPU, into: spare, (RootTaskLayout.taskSlot, 1, 0)) == .wrongObjectType,
              "a vCPU needs a VM, not an ordinary task")
        return failures
    }
}
