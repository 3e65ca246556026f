/// What CPUID tells a Linux guest: an allowlist over the host's answers. A feature reaches the guest
/// only if the VMM virtualizes it or the CPU runs it in the guest without help; everything else reads as
/// absent. The hypervisor range presents KVM's signature and the kvmclock features, so Linux uses
/// kvm-clock and skips the calibrations it would do on bare metal.
public struct CPUIDPolicy {
    public struct Registers: Equatable, Sendable {
        public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
        public init(_ eax: UInt32, _ ebx: UInt32, _ ecx: UInt32, _ edx: UInt32) {
            (self.eax, self.ebx, self.ecx, self.edx) = (eax, ebx, ecx, edx)
        }
        public static let zero = Registers(0, 0, 0, 0)
    }

    public let apicID: UInt8
    public init(apicID: UInt8 = 0) {
        self.apicID = apicID
    }

    /// Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, FMA, CX16, SSE4.1, SSE4.2, MOVBE, POPCNT, AES, F16C, RDRAND
    /// where the host has them; x2APIC and TSC-deadline always (the VMM emulates them, whatever the host
    /// has: QEMU's TCG offers neither), and the hypervisor bit. Absent: MONITOR, VMX, SMX, speed and
    /// thermal control, PCID, XSAVE/OSXSAVE and AVX (the VMM does not switch XCR0).
    static let leaf1ECX: UInt32 = bits(0, 1, 9, 12, 13, 19, 20, 22, 23, 25, 29, 30)
    static let leaf1EmulatedECX: UInt32 = bits(21, 24, 31)
    /// Leaf 1 EDX: FPU, VME, DE, PSE, TSC, MSR, PAE, CX8, APIC, SEP, MTRR, PGE, CMOV, PAT, PSE36, CLFSH,
    /// MMX, FXSR, SSE, SSE2. Absent: MCE/MCA (no machine-check MSRs), DS, ACPI, SS, HTT, TM, PBE.
    static let leaf1EDX: UInt32 = bits(0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 15, 16, 17, 19, 23, 24, 25, 26)
    /// Leaf 7 EBX: BMI1, SMEP, BMI2, ERMS, ADX, SMAP, CLFLUSHOPT, SHA. Absent: FSGSBASE, AVX2, INVPCID
    /// (not enabled in the VMCS), RTM, MPX, AVX-512, PT.
    static let leaf7EBX: UInt32 = bits(3, 7, 8, 9, 19, 20, 23, 29)
    /// Extended leaf 0x80000001: ECX LAHF/SAHF, LZCNT, PREFETCHW (not SVM); EDX SYSCALL, NX, 1 GiB pages, LM.
    static let extendedECX: UInt32 = bits(0, 5, 8)
    static let extendedEDX: UInt32 = bits(11, 20, 26, 29)

    public static let kvmSignature = Registers(0x4000_0001, 0x4B4D_564B, 0x564B_4D56, 0x0000_004D)   // "KVMKVMKVM\0\0\0"
    /// KVM_FEATURE_CLOCKSOURCE, NOP_IO_DELAY, CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT.
    public static let kvmFeatures = Registers(bits(0, 1, 3, 24), 0, 0, 0)

    /// The guest's answer for `leaf`/`subleaf`, given what the host CPU answers.
    public func answer(leaf: UInt32, subleaf: UInt32, host: Registers) -> Registers {
        switch leaf {
        case 0: return Registers(min(host.eax, 0xD), host.ebx, host.ecx, host.edx)
        case 1:
            // EBX: this vCPU's APIC ID, one logical processor, the host's CLFLUSH line size.
            let ebx = UInt32(apicID) << 24 | 1 << 16 | host.ebx & 0xFF00
            return Registers(host.eax, ebx, host.ecx & Self.leaf1ECX | Self.leaf1EmulatedECX, host.edx & Self.leaf1EDX)
        case 7 where subleaf == 0: return Registers(0, host.ebx & Self.leaf7EBX, 0, 0)
        case 0x4000_0000: return Self.kvmSignature
        case 0x4000_0001: return Self.kvmFeatures
        case 0x8000_0000: return Registers(min(max(host.eax, 0x8000_0000), 0x8000_0008), host.ebx, host.ecx, host.edx)
        case 0x8000_0001: return Registers(host.eax, 0, host.ecx & Self.extendedECX, host.edx & Self.extendedEDX)
        case 0x8000_0002...0x8000_0004: return host                         // the brand string
        case 0x8000_0008: return Registers(host.eax & 0xFFFF, 0, 0, 0)       // address sizes only
        default:
            // Caches (2, 4), power (6), topology (0xB), XSAVE (0xD), the invariant TSC (0x80000007, which
            // would make Linux prefer the raw TSC over kvm-clock) and every other hypervisor leaf (the
            // Xen and Jailhouse probes scan them): absent.
            return .zero
        }
    }

    static func bits(_ positions: Int...) -> UInt32 {
        var mask: UInt32 = 0
        for position in positions { mask |= 1 << UInt32(position) }
        return mask
    }
}
