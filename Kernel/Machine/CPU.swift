import KernelPlatform
import SwiftletABI

/// Identification of the boot CPU and of the virtualization extensions it offers.
enum CPU {
    private enum MSR {
        static let featureControl: UInt32 = 0x3A
        static let vmxBasic: UInt32 = 0x480
        static let vmxProcessorControls: UInt32 = 0x482
        static let vmxSecondaryControls: UInt32 = 0x48B
        static let vmCR: UInt32 = 0xC001_0114
    }

    static var maximumExtendedLeaf: UInt32 { x86_cpuid(0x8000_0000, 0).eax }

    /// "cpu: GenuineIntel family 6 model 60 stepping 3, Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz"
    static func describe() -> LogLine {
        var line: LogLine = "cpu: "
        let vendor = x86_cpuid(0, 0)
        appendASCII(vendor.ebx, to: &line)
        appendASCII(vendor.edx, to: &line)
        appendASCII(vendor.ecx, to: &line)
        let signature = x86_cpuid(1, 0).eax
        var family = (signature >> 8) & 0xF
        var model = (signature >> 4) & 0xF
        if family == 0xF { family += (signature >> 20) & 0xFF }
        if family >= 6 { model |= ((signature >> 16) & 0xF) << 4 }
        line.append(" family ")
        line.appendDecimal(UInt64(family))
        line.append(" model ")
        line.appendDecimal(UInt64(model))
        line.append(" stepping ")
        line.appendDecimal(UInt64(signature & 0xF))
        if maximumExtendedLeaf >= 0x8000_0004 {
            line.append(", ")
            for leaf in UInt32(0x8000_0002)...0x8000_0004 {
                let r = x86_cpuid(leaf, 0)
                appendASCII(r.eax, to: &line)
                appendASCII(r.ebx, to: &line)
                appendASCII(r.ecx, to: &line)
                appendASCII(r.edx, to: &line)
            }
        }
        return line
    }

    private static func appendASCII(_ word: UInt32, to line: inout LogLine) {
        for shift in stride(from: UInt32(0), to: 32, by: 8) {
            let byte = UInt8(truncatingIfNeeded: word >> shift)
            if byte == 0 { continue }
            line.append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
        }
    }

    static func probeVirtualization() -> VirtualizationFeatures {
        if VirtualizationFeatures.cpuHasVMX(leaf1ECX: x86_cpuid(1, 0).ecx) {
            let processorControls = readMSR(MSR.vmxProcessorControls)
            let secondary = VirtualizationFeatures.secondaryControlsAvailable(processorControls: processorControls)
                ? readMSR(MSR.vmxSecondaryControls) : 0
            return VirtualizationFeatures.decode(vmx: .init(
                featureControl: readMSR(MSR.featureControl), basic: readMSR(MSR.vmxBasic),
                processorControls: processorControls, secondaryControls: secondary))
        }
        let extended = maximumExtendedLeaf
        if extended >= 0x8000_0001, VirtualizationFeatures.cpuHasSVM(leaf80000001ECX: x86_cpuid(0x8000_0001, 0).ecx) {
            let leaf = extended >= 0x8000_000A ? x86_cpuid(0x8000_000A, 0) : CPUIDResult(eax: 0, ebx: 0, ecx: 0, edx: 0)
            return VirtualizationFeatures.decode(svm: .init(leaf8000000A: (leaf.eax, leaf.ebx, leaf.edx),
                                                            vmCR: readMSR(MSR.vmCR)))
        }
        return .none
    }

    /// An MSR that may not exist on an emulated CPU reads as 0 instead of faulting.
    private static func readMSR(_ msr: UInt32) -> UInt64 {
        var value: UInt64 = 0
        return x86_rdmsr_safe(msr, &value) == 0 ? value : 0
    }

    static func report(_ features: VirtualizationFeatures) -> LogLine {
        switch features {
        case .none:
            return "virt: none (no VMX or SVM: virtual machines unavailable)"
        case .vmx(let v):
            let firmware: StaticString = v.disabledByFirmware ? " DISABLED by firmware (IA32_FEATURE_CONTROL)" : ""
            return "virt: VMX revision \(v.revision)\(firmware); EPT \(yesNo: v.ept), VPID \(yesNo: v.vpid), unrestricted guest \(yesNo: v.unrestrictedGuest), true controls \(yesNo: v.trueControls)"
        case .svm(let s):
            let firmware: StaticString = s.disabledByFirmware ? " DISABLED by firmware (VM_CR.SVMDIS)" : ""
            return "virt: SVM revision \(s.revision)\(firmware); NPT \(yesNo: s.nestedPaging), NRIPS \(yesNo: s.nextRIP), \(s.asidCount) ASIDs"
        }
    }
}
