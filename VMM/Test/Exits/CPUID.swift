import SwiftletABI
import VMMCore
import SwiftletUser
import UserPlatform

extension VirtualMachine {
    static let signatureLeaf: UInt32 = 0x4000_0000
    static let benchLeaf: UInt32 = 0x4000_0002

    /// The host's leaves with VMX/SVM and MONITOR/MWAIT hidden and the hypervisor bit set, plus the hypervisor leaves:
    /// 0x40000000 names the VMM ("Swiftlet VMM"), 0x40000002 is the benchmark leaf (RSI = the guest's
    /// TSC before CPUID; RDI returns the TSC just before the reply).
    mutating func cpuid(arrival: UInt64) -> Action {
        let leaf = UInt32(truncatingIfNeeded: guest.rax), subleaf = UInt32(truncatingIfNeeded: guest.rcx)
        var result = (eax: UInt32(0), ebx: UInt32(0), ecx: UInt32(0), edx: UInt32(0))
        switch leaf {
        case Self.signatureLeaf:
            result = (Self.benchLeaf, 0x6669_7753, 0x7465_6C74, 0x4D4D_5620)
        case Self.benchLeaf:
            devices.bench.exitToHandler(cpuid: true, guestStart: guest.rsi, arrival: arrival)
        case 0x4000_0001:
            break
        default:
            let host = user_cpuid(leaf, subleaf)
            result = (host.eax, host.ebx, host.ecx, host.edx)
            // No VMX, no MONITOR/MWAIT (they exit and raise #UD); a hypervisor.
            if leaf == 1 { result.ecx = (result.ecx & ~UInt32(1 << 5 | 1 << 3)) | (1 << 31) }
            if leaf == 0x8000_0001 { result.ecx &= ~UInt32(1 << 2) }                 // no SVM
        }
        guest.rax = UInt64(result.eax)
        guest.rbx = UInt64(result.ebx)
        guest.rcx = UInt64(result.ecx)
        guest.rdx = UInt64(result.edx)
        advance()
        guest.rdi = timestamp()
        return .resume(ExitMasks.cpuidReply)
    }
}
