import SwiftletABI

/// What hardware virtualization the CPU offers, decoded from CPUID and the capability MSRs.
/// Pure decoding: the kernel reads the registers (Machine/CPU.swift) and hands the raw values here.
public enum VirtualizationFeatures: Equatable {
    case none
    case vmx(VMXFeatures)
    case svm(SVMFeatures)

    public struct VMXFeatures: Equatable {
        /// IA32_FEATURE_CONTROL locked with VMX-outside-SMX off: the firmware forbids VMXON.
        public var disabledByFirmware: Bool
        public var ept: Bool
        public var vpid: Bool
        public var unrestrictedGuest: Bool
        /// IA32_VMX_BASIC bit 55: the TRUE_*_CTLS MSRs describe the controls.
        public var trueControls: Bool
        public var revision: UInt32
    }

    public struct SVMFeatures: Equatable {
        /// VM_CR.SVMDIS: the firmware forbids EFER.SVME.
        public var disabledByFirmware: Bool
        public var nestedPaging: Bool
        /// The CPU saves the next RIP on intercepts (QEMU TCG does not).
        public var nextRIP: Bool
        public var asidCount: UInt32
        public var revision: UInt32
    }

    /// Raw register values a VMX probe reads. The MSRs are only readable when CPUID says VMX.
    public struct VMXRegisters {
        public var featureControl: UInt64        // IA32_FEATURE_CONTROL (0x3A)
        public var basic: UInt64                 // IA32_VMX_BASIC (0x480)
        public var processorControls: UInt64     // IA32_VMX_PROCBASED_CTLS (0x482)
        public var secondaryControls: UInt64     // IA32_VMX_PROCBASED_CTLS2 (0x48B), 0 if unavailable

        public init(featureControl: UInt64, basic: UInt64, processorControls: UInt64, secondaryControls: UInt64) {
            self.featureControl = featureControl
            self.basic = basic
            self.processorControls = processorControls
            self.secondaryControls = secondaryControls
        }
    }

    public struct SVMRegisters {
        public var leaf8000000A: (eax: UInt32, ebx: UInt32, edx: UInt32)
        public var vmCR: UInt64                  // VM_CR (0xC0010114)

        public init(leaf8000000A: (eax: UInt32, ebx: UInt32, edx: UInt32), vmCR: UInt64) {
            self.leaf8000000A = leaf8000000A
            self.vmCR = vmCR
        }
    }

    /// Secondary processor-based controls are present when bit 31 of the primary ones may be 1.
    public static func secondaryControlsAvailable(processorControls: UInt64) -> Bool {
        processorControls & (1 << 63) != 0
    }

    public static func decode(vmx r: VMXRegisters) -> VirtualizationFeatures {
        // Allowed-1 settings are the high 32 bits of each control MSR.
        let secondaryAllowed = secondaryControlsAvailable(processorControls: r.processorControls) ? r.secondaryControls >> 32 : 0
        let locked = r.featureControl & 1 != 0
        let vmxOutsideSMX = r.featureControl & (1 << 2) != 0
        return .vmx(VMXFeatures(
            disabledByFirmware: locked && !vmxOutsideSMX,
            ept: secondaryAllowed & (1 << 1) != 0,
            vpid: secondaryAllowed & (1 << 5) != 0,
            unrestrictedGuest: secondaryAllowed & (1 << 7) != 0,
            trueControls: r.basic & (1 << 55) != 0,
            revision: UInt32(truncatingIfNeeded: r.basic & 0x7FFF_FFFF)))
    }

    public static func decode(svm r: SVMRegisters) -> VirtualizationFeatures {
        .svm(SVMFeatures(
            disabledByFirmware: r.vmCR & (1 << 4) != 0,
            nestedPaging: r.leaf8000000A.edx & 1 != 0,
            nextRIP: r.leaf8000000A.edx & (1 << 3) != 0,
            asidCount: r.leaf8000000A.ebx,
            revision: r.leaf8000000A.eax & 0xFF))
    }

    /// CPUID.1:ECX bit 5.
    public static func cpuHasVMX(leaf1ECX: UInt32) -> Bool { leaf1ECX & (1 << 5) != 0 }
    /// CPUID.80000001h:ECX bit 2.
    public static func cpuHasSVM(leaf80000001ECX: UInt32) -> Bool { leaf80000001ECX & (1 << 2) != 0 }
}
