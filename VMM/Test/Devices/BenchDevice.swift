import SwiftletABI
import SwiftletUser
import UserPlatform

/// The exit benchmarks. The guest times `rdtsc; cpuid; rdtsc` and `rdtsc; out; rdtsc` (TSC = instructions
/// in deterministic runs, where a VM exit or entry counts as one instruction) and passes its start time
/// in RSI; the handler notes when the exit reached it (exit → VMM handler) and returns its reply time in
/// RDI (VMM reply → back in the guest). The guest reports totals and the reply half through port 0x512;
/// each figure is the least of 16 rounds.
struct BenchDevice {
    /// The least exit → handler time seen (a round a timer interrupt fell into is longer).
    var lastCPUIDArrival = UInt64.max
    var lastIOArrival = UInt64.max

    mutating func exitToHandler(cpuid: Bool, guestStart: UInt64, arrival: UInt64) {
        let time = arrival &- guestStart
        if cpuid { lastCPUIDArrival = min(lastCPUIDArrival, time) } else { lastIOArrival = min(lastIOArrival, time) }
    }

    /// Metric numbers the guest uses: 0 CPUID round trip, 2 CPUID reply → guest, 3 and 5 the same for OUT.
    func record(metric: UInt64, value: UInt64) {
        let backend: StaticString = GuestBackend.name
        switch metric {
        case 0:
            log("bench: exit.cpuid.roundtrip.instructions.\(backend) \(value)")
            log("bench: exit.cpuid.tohandler.instructions.\(backend) \(lastCPUIDArrival)")
        case 2: log("bench: exit.cpuid.fromhandler.instructions.\(backend) \(value)")
        case 3:
            log("bench: exit.io.roundtrip.instructions.\(backend) \(value)")
            log("bench: exit.io.tohandler.instructions.\(backend) \(lastIOArrival)")
        case 5: log("bench: exit.io.fromhandler.instructions.\(backend) \(value)")
        default: break
        }
    }
}

/// Which backend the kernel uses, for metric names: the VMM does not need it otherwise. CPUID tells
/// (GenuineIntel: VMX; AuthenticAMD: SVM).
enum GuestBackend {
    static var name: StaticString {
        user_cpuid(0, 0).ebx == 0x756E_6547 ? "vmx" : "svm"      // "Genu"
    }
}
