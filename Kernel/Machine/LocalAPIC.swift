import KernelPlatform
import SwiftletABI

/// The local APIC in xAPIC mode: the per-CPU interrupt controller and the kernel's timer. The timer is
/// armed for the earliest of the next scheduler tick and the next IPC timeout (`arm`), in TSC-deadline mode
/// if the CPU has it, else one-shot (its input clock measured against the PIT, `calibrate`): a 100 µs
/// timeout wakes after about 100 µs, not at the next 1 ms tick.
enum LocalAPIC {
    private enum Register {
        static let id = 0x20
        static let version = 0x30
        static let taskPriority = 0x80
        static let endOfInterrupt = 0xB0
        static let spuriousVector = 0xF0
        static let timerVector = 0x320
        static let lint0 = 0x350
        static let lint1 = 0x360
        static let errorVector = 0x370
        static let timerInitialCount = 0x380
        static let timerCurrentCount = 0x390
        static let timerDivide = 0x3E0
    }
    private static let baseMSR: UInt32 = 0x1B, tscDeadlineMSR: UInt32 = 0x6E0
    private static let tscDeadlineMode: UInt32 = 2 << 17
    private static let masked: UInt32 = 1 << 16
    /// Divide configuration 0b011: the timer counts at bus clock / 16.
    private static let divideBy16: UInt32 = 0x3
    private static let divisor: UInt64 = 16

    nonisolated(unsafe) private static var registers = DeviceRegisters(base: 0)
    nonisolated(unsafe) private(set) static var ticks: UInt64 = 0
    nonisolated(unsafe) private(set) static var timerHz: UInt64 = 0

    struct Calibration {
        var busHz: UInt64
        var tscHz: UInt64
    }

    /// Enables the APIC (software enable in the spurious-vector register) with everything masked.
    static func initialize() -> Bool {
        guard x86_cpuid(1, 0).edx & (1 << 9) != 0 else { return false }
        let base = x86_rdmsr(baseMSR)
        x86_wrmsr(baseMSR, base | (1 << 11))
        guard let virtual = KernelMemory.mapDevice(base & 0x000F_FFFF_FFFF_F000, size: 4096) else { return false }
        registers = DeviceRegisters(base: virtual)
        registers.write(Register.taskPriority, 0)
        registers.write(Register.timerVector, masked)
        registers.write(Register.lint0, masked)
        registers.write(Register.lint1, masked)
        registers.write(Register.errorVector, masked)
        registers.write(Register.spuriousVector, 0x100 | UInt32(InterruptVector.spurious))
        return true
    }

    static var id: UInt32 { registers.read(Register.id) >> 24 }
    static var version: UInt32 { registers.read(Register.version) & 0xFF }

    /// Counts APIC timer and TSC ticks across a PIT-timed interval of 10 ms.
    static func calibrate() -> Calibration {
        registers.write(Register.timerDivide, divideBy16)
        registers.write(Register.timerVector, masked)
        let interval = ProgrammableIntervalTimer.startOneShot(milliseconds: 10)
        registers.write(Register.timerInitialCount, UInt32.max)
        let tscStart = x86_rdtsc()
        ProgrammableIntervalTimer.waitForOneShot()
        let remaining = registers.read(Register.timerCurrentCount)
        let tscEnd = x86_rdtsc()
        registers.write(Register.timerInitialCount, 0)
        let apicTicks = UInt64(UInt32.max - remaining)
        return Calibration(busHz: apicTicks * divisor * 1000 / interval.milliseconds,
                           tscHz: (tscEnd - tscStart) * 1000 / interval.milliseconds)
    }

    enum TimerMode { case tscDeadline, oneShot }
    nonisolated(unsafe) private(set) static var mode = TimerMode.oneShot
    nonisolated(unsafe) private static var tscPerTick: UInt64 = 1
    nonisolated(unsafe) private static var tscHz: UInt64 = 1
    /// Timer counts per TSC tick, 32.32 fixed point.
    nonisolated(unsafe) private static var countsPerTSC: UInt64 = 1
    /// The TSC reading of the next scheduler tick, and the deadline the timer is armed for (max: none).
    nonisolated(unsafe) private static var nextTick: UInt64 = 0
    nonisolated(unsafe) private(set) static var armedFor = UInt64.max

    /// Starts the timer: ticks at `hz`, and timeouts between them (`arm`).
    static func startTimer(hz: UInt64, calibration: Calibration) {
        timerHz = max(hz, 1)
        tscHz = max(calibration.tscHz, 1)
        tscPerTick = max(tscHz / timerHz, 1)
        // The bus clock is below 2^32 Hz on any CPU this runs on; wider is cut, never a trap.
        countsPerTSC = (min(calibration.busHz / divisor, UInt64(UInt32.max)) << 32) / tscHz
        registers.write(Register.timerDivide, divideBy16)
        // CPUID.1:ECX bit 24: the TSC-deadline timer (the LVT mode first, then the deadline MSR).
        mode = x86_cpuid(1, 0).ecx & (1 << 24) != 0 ? .tscDeadline : .oneShot
        registers.write(Register.timerVector, (mode == .tscDeadline ? tscDeadlineMode : 0) | UInt32(InterruptVector.timer))
        nextTick = x86_rdtsc() &+ tscPerTick
        program(nextTick)
    }

    /// At the timer interrupt (TSC reading `now`): true if a scheduler tick is due; the timer is disarmed
    /// until the next `arm`. A late tick is not made up for in a burst.
    static func timerInterrupt(now: UInt64) -> Bool {
        endOfInterrupt()
        armedFor = UInt64.max
        guard now >= nextTick else { return false }
        ticks += 1
        nextTick &+= tscPerTick
        if nextTick <= now { nextTick = now &+ tscPerTick }
        return true
    }

    /// Arms the timer for the earlier of `deadline` (TSC; the next timeout) and the next tick, unless it
    /// is armed for that or earlier already: a cheap test on every return to user mode.
    @inline(__always)
    static func arm(_ deadline: UInt64) {
        let target = min(deadline, nextTick)
        if target < armedFor { program(target) }
    }

    private static func program(_ deadline: UInt64) {
        armedFor = deadline
        switch mode {
        case .tscDeadline:
            x86_wrmsr(tscDeadlineMSR, deadline)            // a deadline already passed fires at once
        case .oneShot:
            // TSC ticks to timer counts, at most one second ahead (the next tick is always nearer).
            let now = x86_rdtsc()
            // Counts per TSC tick in 32.32 fixed point (no 128-bit division in the kernel).
            let ahead = deadline > now ? min(deadline - now, tscHz) : 0
            let product = ahead.multipliedFullWidth(by: countsPerTSC)
            let count = product.high << 32 | product.low >> 32
            registers.write(Register.timerInitialCount, UInt32(max(1, min(count &+ 1, UInt64(UInt32.max)))))
        }
    }

    static func endOfInterrupt() {
        registers.write(Register.endOfInterrupt, 0)
    }

    /// The timer's registers, for the overdue-timeout report (System.checkOverdueTimeouts): the LVT entry,
    /// the one-shot's initial and current counts, and the in-service and requested bits of vectors 32-63
    /// (the timer's is bit 16).
    static var timerState: (lvt: UInt32, initial: UInt32, current: UInt32, inService: UInt32, requested: UInt32) {
        (registers.read(Register.timerVector), registers.read(Register.timerInitialCount),
         registers.read(Register.timerCurrentCount), registers.read(0x110), registers.read(0x210))
    }

    static var nextTickDeadline: UInt64 { nextTick }
}

/// The 8254 PIT, used only as a known clock (1.193182 MHz) to calibrate the APIC timer and the TSC.
/// Channel 2 is gated by port 0x61 and its output is readable there, so no interrupt is needed.
enum ProgrammableIntervalTimer {
    static let frequency: UInt64 = 1_193_182

    struct OneShot {
        var milliseconds: UInt64
    }

    @discardableResult
    static func startOneShot(milliseconds: UInt64) -> OneShot {
        let count = UInt16(frequency * milliseconds / 1000)
        let control = x86_inb(0x61) & ~0x03              // gate low, speaker off
        x86_outb(0x61, control)
        x86_outb(0x43, 0xB0)                              // channel 2, low then high byte, mode 0
        x86_outb(0x42, UInt8(truncatingIfNeeded: count))
        x86_outb(0x42, UInt8(truncatingIfNeeded: count >> 8))
        x86_outb(0x61, control | 0x01)                    // gate high: counting starts
        return OneShot(milliseconds: milliseconds)
    }

    static func waitForOneShot() {
        while x86_inb(0x61) & 0x20 == 0 { x86_pause() }   // OUT2 rises at terminal count
    }
}

/// The two 8259 PICs: moved off the exception vectors and masked. Interrupts come through the APICs.
enum LegacyPIC {
    static func disable() {
        x86_outb(0x20, 0x11); x86_outb(0xA0, 0x11)        // ICW1: initialise, expect ICW4
        x86_outb(0x21, 0x20); x86_outb(0xA1, 0x28)        // ICW2: vector bases 0x20 and 0x28
        x86_outb(0x21, 0x04); x86_outb(0xA1, 0x02)        // ICW3: cascade on IRQ 2
        x86_outb(0x21, 0x01); x86_outb(0xA1, 0x01)        // ICW4: 8086 mode
        x86_outb(0x21, 0xFF); x86_outb(0xA1, 0xFF)        // mask everything
    }
}
