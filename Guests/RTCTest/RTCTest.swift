import SwiftletABI
import SwiftletUser
import UserPlatform

/// Interrupt delivery end to end, on any emulator: a driver for the CMOS real-time clock, holding only
/// ports 0x70-0x71 and ISA IRQ 8 (from the configuration), turns on the RTC's periodic interrupt and counts
/// the messages the kernel sends for it, acknowledging each.
enum RTC {
    static let index: UInt16 = 0x70, data: UInt16 = 0x71
    static let endpoint: UInt64 = 20
    static let wanted: UInt64 = 16

    static func read(_ register: UInt8) -> UInt8 {
        user_outb(index, register | 0x80)        // keep NMIs masked, as firmware leaves them
        return user_inb(data)
    }

    static func write(_ register: UInt8, _ value: UInt8) {
        user_outb(index, register | 0x80)
        user_outb(data, value)
    }
}

@_cdecl("task_main")
func rtcTestMain(tscKHz: UInt64, utcb: UInt64) {
    var failures: UInt64 = 0
    _ = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: RTC.endpoint)
    let bound = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .bind, (RTC.endpoint, 0x8, 0, 0))
    // Rate 6: 1024 interrupts a second; periodic interrupts on (register B bit 6).
    RTC.write(0x0A, (RTC.read(0x0A) & 0xF0) | 0x06)
    RTC.write(0x0B, RTC.read(0x0B) | 0x40)
    _ = RTC.read(0x0C)                            // clear a pending flag so the line can rise
    var received: UInt64 = 0
    var wrongLine = false
    let start = timestamp()
    while received < RTC.wanted {
        let message = SystemCall.wait(RTC.endpoint, timeout: .microseconds(2_000_000))
        guard message.succeeded, message.tag.label == KernelMessageLabel.interrupt else { break }
        if message.badge != 0x8 { wrongLine = true }
        received += 1
        _ = RTC.read(0x0C)                        // the RTC's own acknowledgement
        _ = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .acknowledge)
    }
    let elapsed = (timestamp() - start) * 1000 / max(tscKHz, 1)
    RTC.write(0x0B, RTC.read(0x0B) & ~0x40)
    if bound != .ok || received != RTC.wanted || wrongLine { failures += 1 }
    let verdict: StaticString = failures == 0 ? "PASS" : "FAIL"
    log("rtctest: \(verdict) \(received) RTC interrupts of \(RTC.wanted) arrived as messages (bind: \(bound.name)), acknowledged each; \(elapsed) us")
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (failures, 0, 0, 0))
}
