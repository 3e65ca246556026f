import SwiftletABI
import SwiftletUser
import UserPlatform

/// Rights that were not given cannot be used: COM1's ports belong to the serial driver, interrupts to
/// whoever holds the controller, other memory to nobody here. Each attempt is an error code or a fault
/// reported to this task's exception handler — never anything worse.
enum PortTest {
    static let handlerEndpoint: UInt64 = 20, worker: UInt64 = 21, scratch: UInt64 = 22
    nonisolated(unsafe) static var probe: UInt64 = 0
}

@_cdecl("task_main")
func portTestMain(tscKHz: UInt64, utcb: UInt64) {
    var failures: UInt64 = 0
    func check(_ condition: Bool, _ what: LogLine) {
        if !condition { failures += 1 }
        let verdict: StaticString = condition ? "PASS" : "FAIL"
        log("porttest: \(verdict) \(what)")
    }
    let me = RootTaskLayout.taskSlot
    check(SystemCall.ports(me, .query, first: 0x3F8).words.0 == 0, "COM1's data port is not this task's")
    check(SystemCall.ports(me, .give, first: 0x3F8, count: 8).error == .missingRight, "it cannot give itself ports it does not hold")
    check(SystemCall.ports(me, .give, first: 0xFFFF, count: 2).error == .invalidArgument, "port ranges end at 0xffff")
    check(SystemCall.create(RootTaskLayout.factorySlot, .interrupt, into: PortTest.scratch, (Report.sharedSlot, 4, 0)) == .wrongObjectType,
          "an interrupt needs the interrupt controller")
    check(SystemCall.interrupt(Report.sharedSlot, .acknowledge) == .wrongObjectType, "an endpoint is not an interrupt")
    check(SystemCall.takeMemory(at: 0xB8000, pages: 1, device: true) == .wrongObjectType
          && SystemCall.takeMemory(at: 0x100_0000, pages: 1, device: false) == .wrongObjectType,
          "physical memory is sigma0's: its slot here holds a factory")

    // Faults go to the exception handler: a port access without the right (#GP), then unmapped memory (#PF).
    _ = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: PortTest.handlerEndpoint)
    for (kind, vector) in [(UInt64(0), UInt64(13)), (1, 14)] {
        var spawner = ThreadSpawner()
        let slot = PortTest.worker + kind * 2
        PortTest.probe = kind
        guard spawner.spawnStopped(trespass, argument: kind, priority: 90, slot: slot) == .ok,
              SystemCall.thread(slot, .setExceptionHandler, (PortTest.handlerEndpoint, 0, 0, 0)).error == .ok,
              SystemCall.thread(slot, .start).error == .ok else {
            check(false, "start a thread that trespasses")
            continue
        }
        let fault = SystemCall.wait(PortTest.handlerEndpoint, timeout: .microseconds(2_000_000))
        check(fault.succeeded && fault.tag.label == KernelMessageLabel.exception && fault.words.0 == vector,
              "the trespass faults with vector \(vector) (got \(fault.words.0)) to the exception handler")
        _ = SystemCall.thread(slot, .stop)
    }
    log("porttest: \(failures) failures")
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}

func trespass(kind: UInt64, utcb: UInt64) {
    if kind == 0 {
        _ = user_inb(0x3F8)
    } else {
        _ = user_fault_read(0x5000_0000)
    }
}
