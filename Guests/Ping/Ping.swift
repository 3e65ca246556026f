import SwiftletABI
import SwiftletUser

/// The client half of the IPC benchmark. It checks that pong's answers are right, then times round
/// trips (call → pong's reply-wait → back) with the TSC, which counts instructions in deterministic runs
/// (Bochs sync=none, QEMU -icount): a VM exit or entry would count as one instruction, a SYSCALL too.
/// It prints `bench: <metric> <value>` lines that `swiftlet bench` collects.
@_cdecl("task_main")
func pingMain(tscKHz: UInt64, utcb utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    var failures: UInt64 = 0
    let iterations: UInt64 = 1000

    // Correctness first: pong adds one to MR0 and returns the rest, for short and long messages. The first
    // call goes to pong's low-priority thread, which runs only when everything else blocks: after it, that
    // thread waits on its endpoint and no ready thread is left to disturb the measurements.
    let first = SystemCall.call(Report.secondSharedSlot, MessageTag(label: PingPong.echo, words: 1), (1, 0, 0, 0))
    if !first.succeeded || first.words.0 != 2 {
        failures += 1
        log("ping: echo from the low-priority thread FAILED: \(first.error.name)")
    }
    for words in [0, 1, 4, 5, 16, 64] as [Int] {
        for index in 4..<max(words, 4) { utcb[register: index] = UInt64(index) * 3 }
        let answer = SystemCall.call(Report.sharedSlot, MessageTag(label: PingPong.echo, words: words), (41, 7, 8, 9))
        var good = answer.succeeded && answer.tag.words == words && answer.words.0 == 42 && answer.words.1 == 7
        for index in 4..<max(words, 4) where utcb[register: index] != UInt64(index) * 3 { good = false }
        if !good {
            failures += 1
            log("ping: echo of \(words) words FAILED: \(answer.error.name), tag words \(answer.tag.words), MR0 \(answer.words.0)")
        }
    }

    let empty = measure(iterations) { }
    let short = measure(iterations) {
        _ = SystemCall.call(Report.sharedSlot, MessageTag(label: PingPong.echo, words: 4), (1, 2, 3, 4))
    }
    let cross = measure(iterations) {
        _ = SystemCall.call(Report.secondSharedSlot, MessageTag(label: PingPong.echo, words: 4), (1, 2, 3, 4))
    }
    let long = measure(iterations) {
        _ = SystemCall.call(Report.sharedSlot, MessageTag(label: PingPong.echo, words: 16), (1, 2, 3, 4))
    }
    log("bench: ipc.roundtrip.instructions \(short - empty)")
    log("bench: ipc.roundtrip.crosspriority.instructions \(cross - empty)")
    log("bench: ipc.roundtrip.long16.instructions \(long - empty)")
    log("ping: \(iterations) round trips each; per round trip: 4 words \(short - empty), to a lower-priority thread \(cross - empty), 16 words \(long - empty) TSC ticks (loop overhead \(empty) subtracted)")

    // Through the serial driver's console service when there is one (the kernel console otherwise).
    let summary: LogLine = "IPC round trip \(short - empty) TSC ticks for 4 words, \(long - empty) for 16 (instructions when deterministic), \(failures) failures"
    if ConsoleClient.write(summary) != .ok { log("ping: \(summary)") }

    _ = SystemCall.send(Report.sharedSlot, MessageTag(label: PingPong.quit))
    _ = SystemCall.send(Report.secondSharedSlot, MessageTag(label: PingPong.quit))
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}

/// Average TSC ticks per iteration of `body`.
func measure(_ iterations: UInt64, _ body: () -> Void) -> UInt64 {
    body()
    let start = timestamp()
    for _ in 0..<iterations { body() }
    return (timestamp() - start) / iterations
}
