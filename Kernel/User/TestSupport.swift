import SwiftletABI
import _Volatile

/// xorshift64* (Vigna, 2016): a small seeded pseudo-random generator for test tasks and fuzzers. The same
/// seed gives the same sequence on every run, so a failure can be replayed.
public struct XorShift64Star {
    public private(set) var state: UInt64

    /// `seed` must not be zero (the generator would stay at zero); zero is replaced by a fixed constant.
    public init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// A value in 0..<bound (bound > 0), by the multiply-high method (its bias is negligible for small bounds).
    public mutating func next(below bound: UInt64) -> UInt64 {
        bound.multipliedFullWidth(by: next()).high
    }

    /// True with probability `numerator` / `denominator`.
    public mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        next(below: denominator) < numerator
    }
}

/// PASS/FAIL bookkeeping for test tasks: one console line per check (`<name>: PASS ...` or
/// `<name>: FAIL ...`), a count of failures, and the report to the root task.
public struct TestChecks {
    public let name: StaticString
    public private(set) var passed: UInt64 = 0
    public private(set) var failed: UInt64 = 0

    public init(_ name: StaticString) {
        self.name = name
    }

    /// Records and prints one check; returns `condition`.
    @discardableResult
    public mutating func check(_ condition: Bool, _ what: LogLine) -> Bool {
        if condition {
            passed += 1
            log("\(name): PASS \(what)")
        } else {
            failed += 1
            log("\(name): FAIL \(what)")
        }
        return condition
    }

    /// A system call's result against the error code it must give.
    @discardableResult
    public mutating func expect(_ result: SyscallError, _ expected: SyscallError, _ what: LogLine) -> Bool {
        expect(raw: result.rawValue, expected, what)
    }

    /// A raw RAX value against the error code it must give (an unknown value always fails).
    @discardableResult
    public mutating func expect(raw result: UInt64, _ expected: SyscallError, _ what: LogLine) -> Bool {
        if result == expected.rawValue {
            passed += 1
            log("\(name): PASS \(what) -> \(expected.name)")
            return true
        }
        failed += 1
        if let known = SyscallError(rawValue: result) {
            log("\(name): FAIL \(what) -> \(known.name) (\(result)), expected \(expected.name) (\(expected.rawValue))")
        } else {
            log("\(name): FAIL \(what) -> unknown code \(result), expected \(expected.name) (\(expected.rawValue))")
        }
        return false
    }

    /// Counts a failure that was already printed.
    public mutating func fail() {
        failed += 1
    }

    /// Prints the totals and reports `done` with the failure count to the root task through `slot`.
    public func report(through slot: UInt64 = Report.reportSlot) {
        log("\(name): \(passed + failed) checks, \(passed) passed, \(failed) failed")
        _ = SystemCall.send(slot, MessageTag(label: Report.done, words: 1), (failed, 0, 0, 0))
    }
}

/// A word of memory that threads of one task share, read and written with volatile accesses: a busy loop
/// really stores to it and a reader really loads it (the compiler may not keep it in a register).
public struct SharedWord: Sendable {
    public let address: UInt64

    public init(address: UInt64) {
        self.address = address
    }

    private var register: VolatileMappedRegister<UInt64> { VolatileMappedRegister<UInt64>(unsafeBitPattern: UInt(address)) }

    public func load() -> UInt64 { register.load() }
    public func store(_ value: UInt64) { register.store(value) }
    public func increment() { register.store(register.load() &+ 1) }
}

/// TSC ticks and microseconds, from the TSC frequency the root task passes every task (its argument).
public struct TSCClock {
    public let kHz: UInt64

    public init(kHz: UInt64) {
        self.kHz = kHz == 0 ? 1 : kHz
    }

    public func microseconds(_ ticks: UInt64) -> UInt64 {
        ticks &* 1000 / kHz
    }

    public func ticks(microseconds: UInt64) -> UInt64 {
        microseconds * kHz / 1000
    }

    /// Microseconds since `start` (a `timestamp()`).
    public func elapsed(since start: UInt64) -> UInt64 {
        microseconds(timestamp() &- start)
    }

    /// Busy-waits `microseconds` (without system calls).
    public func spin(microseconds: UInt64) {
        let start = timestamp(), span = ticks(microseconds: microseconds)
        while timestamp() &- start < span {}
    }
}
