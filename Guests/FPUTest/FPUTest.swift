import SwiftletABI
import SwiftletUser
import UserPlatform

/// FPU, SSE and AVX registers belong to threads: two threads of this task keep different values in XMM3
/// and YMM5 and hand the CPU back and forth with `yield`; each checks after every switch that its values
/// survived. It also measures what the lazy switch costs: a yield round trip between threads that use
/// vector registers, against one between threads that do not.
enum FPUTest {
    static let rounds: UInt64 = 500
    nonisolated(unsafe) static var partnerFailures: UInt64 = 0
    nonisolated(unsafe) static var partnerDone = false
}

@_cdecl("task_main")
func fpuTestMain(tscKHz: UInt64, utcb: UInt64) {
    let avx = user_cpu_has_avx() != 0
    var spawner = ThreadSpawner()
    let partnerSlot: UInt64 = 16
    let quietSlot: UInt64 = 17

    // Baseline: two threads that never touch vector registers.
    var error = spawner.spawn(yieldLoop, argument: FPUTest.rounds + 2, priority: 100, slot: quietSlot)
    let plain = yieldRoundTrip(FPUTest.rounds)

    error = spawner.spawn(vectorPartner, argument: avx ? 1 : 0, priority: 100, slot: partnerSlot)
    var failures: UInt64 = error == .ok ? 0 : 1
    user_xmm3_set(0x1111_2222_3333_4444, 0x5555_6666_7777_8888)
    if avx { user_ymm5_set(1, 2, 0xAAAA, 0xBBBB) }
    let start = timestamp()
    for _ in 0..<FPUTest.rounds {
        SystemCall.yield()
        var low: UInt64 = 0, high: UInt64 = 0
        user_xmm3_get(&low, &high)
        if low != 0x1111_2222_3333_4444 || high != 0x5555_6666_7777_8888 { failures += 1 }
        if avx && user_ymm5_high_sum() != 0xAAAA ^ (0xBBBB << 1) { failures += 1 }
        user_xmm3_set(0x1111_2222_3333_4444, 0x5555_6666_7777_8888)   // touch the FPU every round
    }
    let vector = (timestamp() - start) / FPUTest.rounds
    while !FPUTest.partnerDone { SystemCall.yield() }
    failures += FPUTest.partnerFailures

    let verdict: StaticString = failures == 0 ? "PASS" : "FAIL"
    log("fpu: \(verdict) \(FPUTest.rounds) switches each way, XMM3\(avx ? " and YMM5" as StaticString : ""), \(failures) corrupted values")
    log("bench: fpu.vector.yield.roundtrip.instructions \(vector)")
    log("bench: fpu.novector.yield.roundtrip.instructions \(plain)")
    log("fpu: a yield round trip costs \(plain) TSC ticks between threads without vector state, \(vector) with it (two FPU state switches)")
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}

/// Average ticks of a yield to the other thread and back.
func yieldRoundTrip(_ rounds: UInt64) -> UInt64 {
    SystemCall.yield()
    let start = timestamp()
    for _ in 0..<rounds { SystemCall.yield() }
    return (timestamp() - start) / rounds
}

func yieldLoop(rounds: UInt64, utcb: UInt64) {
    for _ in 0..<rounds { SystemCall.yield() }
}

func vectorPartner(avx: UInt64, utcb: UInt64) {
    user_xmm3_set(0x9999_0000_9999_0000, 0x0123_4567_89AB_CDEF)
    if avx != 0 { user_ymm5_set(7, 8, 0xCCCC, 0xDDDD) }
    var failures: UInt64 = 0
    for _ in 0..<FPUTest.rounds {
        SystemCall.yield()
        var low: UInt64 = 0, high: UInt64 = 0
        user_xmm3_get(&low, &high)
        if low != 0x9999_0000_9999_0000 || high != 0x0123_4567_89AB_CDEF { failures += 1 }
        if avx != 0 && user_ymm5_high_sum() != 0xCCCC ^ (0xDDDD << 1) { failures += 1 }
    }
    FPUTest.partnerFailures = failures
    FPUTest.partnerDone = true
}
