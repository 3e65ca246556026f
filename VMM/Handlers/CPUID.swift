import SwiftletABI
import UserPlatform
import VMMCore

extension GuestMachine {
    /// CPUID: the policy's allowlist over the host's answer (the hypervisor leaves name KVM, so Linux uses
    /// kvm-clock).
    mutating func cpuid() -> Action {
        let leaf = UInt32(truncatingIfNeeded: guest.rax), subleaf = UInt32(truncatingIfNeeded: guest.rcx)
        let host = user_cpuid(leaf, subleaf)
        let answer = board.cpuid.answer(leaf: leaf, subleaf: subleaf, host: CPUIDPolicy.Registers(host.eax, host.ebx, host.ecx, host.edx))
        guest.rax = UInt64(answer.eax)
        guest.rbx = UInt64(answer.ebx)
        guest.rcx = UInt64(answer.ecx)
        guest.rdx = UInt64(answer.edx)
        advance()
        return .resume(Self.stepped.union(.generalA))
    }
}
