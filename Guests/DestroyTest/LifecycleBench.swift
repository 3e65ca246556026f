import SwiftletABI
import SwiftletUser
import UserPlatform

/// Cycles per figure: enough that the two TSC reads and the loop vanish in the average.
let benchCycles: UInt64 = 1_000

/// The cost of one create and destroy of each object type, in TSC ticks (instructions in deterministic
/// runs: Bochs sync=none, QEMU -icount), printed as the `bench:` lines `swiftlet bench` collects:
/// `object.create_destroy.<type>.instructions` for a bare object, and `vm.create_destroy.instructions`
/// for a whole VM (a VM, a vCPU and a page of guest RAM). A figure is printed only when every cycle of
/// it succeeded and the quota and free frames came back.
func lifecycleBench(_ checks: inout TestChecks) {
    let base = user_thread_pages()
    let vmSupported = SystemCall.create(Slot.factory, .virtualMachine, into: Slot.soak) == .ok && destroy(Slot.soak) == .ok
    for kind in 0..<5 where kind < 4 || vmSupported {
        let name: StaticString = kind == 0 ? "endpoint" : kind == 1 ? "factory" : kind == 2 ? "thread" : kind == 3 ? "task" : "vm"
        let (ticks, ok) = timeCycles {
            let made: SyscallError
            switch kind {
            case 1: made = SystemCall.create(Slot.factory, .factory, into: Slot.soak, (1, 0, 0))
            case 2: made = SystemCall.createThread(Slot.factory, into: Slot.soak, task: RootTaskLayout.taskSlot, priority: 10, utcb: base)
            case 3: made = SystemCall.create(Slot.factory, .task, into: Slot.soak)
            case 4: made = SystemCall.create(Slot.factory, .virtualMachine, into: Slot.soak)
            default: made = SystemCall.create(Slot.factory, .endpoint, into: Slot.soak)
            }
            return made == .ok && destroy(Slot.soak) == .ok
        }
        if ok { log("bench: object.create_destroy.\(name).instructions \(ticks)") }
        checks.check(ok, "bench: \(benchCycles) create/destroy cycles of a bare \(name): \(ticks) TSC ticks each, quota and free frames unchanged")
    }
    guard vmSupported else { return }
    let page = base + 13 * 4096
    let (ticks, ok) = timeCycles {
        SystemCall.create(Slot.factory, .virtualMachine, into: Slot.vm) == .ok
            && SystemCall.task(Slot.vm, .mapPages, (page, 0x1000, 1, 1)) == .ok
            && SystemCall.create(Slot.factory, .virtualCPU, into: Slot.vcpu, (Slot.vm, 50, 0)) == .ok
            && destroy(Slot.vm) == .ok
    }
    if ok { log("bench: vm.create_destroy.instructions \(ticks)") }
    checks.check(ok, "bench: \(benchCycles) VMs with a vCPU and a page made and destroyed: \(ticks) TSC ticks each, quota and free frames unchanged")
}

/// Average TSC ticks of one `cycle` over `benchCycles` (after one to warm up), and whether every cycle
/// succeeded with the figures back where they were.
func timeCycles(_ cycle: () -> Bool) -> (UInt64, Bool) {
    var ok = cycle()
    let before = Figures.now
    let start = timestamp()
    var cycles: UInt64 = 0
    while cycles < benchCycles {
        if !cycle() { ok = false }
        cycles += 1
    }
    let ticks = (timestamp() &- start) / benchCycles
    return (ticks, ok && Figures.now == before)
}
