import SwiftletABI
import SwiftletUser

/// How many exits of each reason a VM took, printed when it stops (the boot's cost in exits).
struct ExitStatistics {
    private var counts = InlineArray<32, UInt64>(repeating: 0)
    private(set) var total: UInt64 = 0

    static func index(_ reason: ExitReason) -> Int {
        Int(reason.rawValue) < 31 ? Int(reason.rawValue) : 31
    }

    mutating func count(_ reason: ExitReason) {
        counts[Self.index(reason)] &+= 1
        total &+= 1
    }

    static func name(_ index: Int) -> StaticString {
        switch index {
        case 1: return "exception"
        case 3: return "triple-fault"
        case 4: return "interrupt-window"
        case 6: return "cpuid"
        case 7: return "hlt"
        case 10: return "hypercall"
        case 11: return "cr"
        case 12: return "io"
        case 13: return "rdmsr"
        case 14: return "wrmsr"
        case 15: return "invalid-state"
        case 16: return "pause"
        case 17: return "npf"
        case 18: return "xsetbv"
        case 21: return "startup"
        case 23: return "cache-control"
        case 24: return "monitor-mwait"
        case 26: return "recall"
        default: return "other"
        }
    }

    /// `vmm: NAME: N exits by reason: io 123, rdmsr 45, ...` (continued on a further line if long); after
    /// resets `N exits in B boots by reason:`, the whole run.
    func report(_ name: LogLine, boots: UInt64) {
        var line: LogLine = boots > 1 ? "vmm: \(name): \(total) exits in \(boots) boots by reason:" : "vmm: \(name): \(total) exits by reason:"
        for index in 0..<32 where counts[index] > 0 {
            if line.count > 180 {
                log(line)
                line = "vmm: \(name): exits by reason (continued):"
            }
            line = "\(line) \(Self.name(index)) \(counts[index])"
        }
        log(line)
    }
}
