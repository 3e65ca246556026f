import KernelPlatform
import SwiftletABI

/// A first use of the VMX backend (kernel command line `virt_selftest`), the counterpart of SVMSelfTest:
/// VMXON, one VMCS, EPT, an unrestricted real-mode guest of three instructions (CPUID, CPUID, HLT), its
/// exits decoded through the neutral layer and handled in the kernel.
enum VMXSelfTest {
    private enum MSR {
        static let featureControl: UInt32 = 0x3A, basic: UInt32 = 0x480
        static let pinBased: UInt32 = 0x481, processorBased: UInt32 = 0x482, exit: UInt32 = 0x483, entry: UInt32 = 0x484
        static let cr0Fixed0: UInt32 = 0x486, cr0Fixed1: UInt32 = 0x487, cr4Fixed0: UInt32 = 0x488, cr4Fixed1: UInt32 = 0x489
        static let secondary: UInt32 = 0x48B
        static let truePinBased: UInt32 = 0x48D, trueProcessorBased: UInt32 = 0x48E, trueExit: UInt32 = 0x48F, trueEntry: UInt32 = 0x490
        static let gsBase: UInt32 = 0xC000_0101, fsBase: UInt32 = 0xC000_0100
    }
    private static let guestCode: UInt64 = 0x1000

    /// A control value with the bits the CPU requires set and the ones it forbids cleared.
    private static func adjust(_ wanted: UInt64, _ msr: UInt32) -> UInt64 {
        let capability = x86_rdmsr(msr)
        return (wanted | (capability & 0xFFFF_FFFF)) & (capability >> 32)
    }

    private static func write(_ field: VMCSField, _ value: UInt64) -> Bool {
        x86_vmwrite(UInt64(field.rawValue), value) == 0
    }

    private static func read(_ field: VMCSField) -> UInt64 {
        x86_vmread(UInt64(field.rawValue))
    }

    static func run() -> LogLine {
        guard case .vmx(let vmx) = CPU.probeVirtualization(), vmx.ept, vmx.unrestrictedGuest, !vmx.disabledByFirmware else {
            return "virt: VMX self-test skipped (no VMX with EPT and unrestricted guest)"
        }
        let control = x86_rdmsr(MSR.featureControl)
        if control & 1 == 0 { x86_wrmsr(MSR.featureControl, control | 1 | 4) }
        let basic = x86_rdmsr(MSR.basic)
        let revision = basic & 0x7FFF_FFFF
        let useTrue = basic & (1 << 55) != 0
        x86_write_cr0((x86_read_cr0() | x86_rdmsr(MSR.cr0Fixed0)) & x86_rdmsr(MSR.cr0Fixed1))
        x86_write_cr4((x86_read_cr4() | (1 << 13) | x86_rdmsr(MSR.cr4Fixed0)) & x86_rdmsr(MSR.cr4Fixed1))

        guard let onFrame = KernelMemory.allocateFrame(), let vmcsFrame = KernelMemory.allocateFrame(),
              let codeFrame = KernelMemory.allocateFrame(), let eptFrame = KernelMemory.allocateFrame() else {
            return "virt: VMX self-test: out of memory"
        }
        let region = onFrame.adopt(), vmcs = vmcsFrame.adopt(), code = codeFrame.adopt(), ept = eptFrame.adopt()
        PhysicalMemory.zeroFrame(region)
        PhysicalMemory.zeroFrame(vmcs)
        PhysicalMemory.zeroFrame(code)
        PhysicalMemory.zeroFrame(ept)
        PhysicalMemory.pointer(region).storeBytes(of: UInt32(revision), as: UInt32.self)
        PhysicalMemory.pointer(vmcs).storeBytes(of: UInt32(revision), as: UInt32.self)
        PhysicalMemory.pointer(code).storeBytes(of: UInt64(0xF4_A20F_A20F), as: UInt64.self)   // CPUID; CPUID; HLT

        // EPT: guest-physical 0x1000 → the code frame. An x86 entry with P, W, U set reads as EPT R, W, X.
        var tables = PageTableBuilder(root: ept, memory: DirectMappedPageTables())
        do throws(MappingError) {
            try tables.map(guestCode, to: code, size: .size4K, attributes: MappingAttributes(access: .readWriteExecute, user: true))
        } catch {
            return "virt: VMX self-test: EPT: \(error.description)"
        }

        guard x86_vmxon(region) == 0 else { return "virt: VMX self-test FAIL: VMXON failed" }
        defer { x86_vmxoff() }
        guard x86_vmclear(vmcs) == 0, x86_vmptrld(vmcs) == 0 else { return "virt: VMX self-test FAIL: VMCLEAR/VMPTRLD failed" }

        var gdtr = DescriptorTablePointer(limit: 0, base: 0), idtr = DescriptorTablePointer(limit: 0, base: 0)
        x86_sgdt(&gdtr)
        x86_sidt(&idtr)
        let tssBase = UInt64(UInt(bitPattern: DescriptorTables.kernelEntryStack)) - 4
        var ok = true
        ok = ok && write(.pinBasedControls, adjust(0, useTrue ? MSR.truePinBased : MSR.pinBased))
        ok = ok && write(.processorBasedControls, adjust((1 << 7) | (1 << 31), useTrue ? MSR.trueProcessorBased : MSR.processorBased))
        ok = ok && write(.secondaryControls, adjust((1 << 1) | (1 << 7), MSR.secondary))
        ok = ok && write(.exitControls, adjust(1 << 9, useTrue ? MSR.trueExit : MSR.exit))
        ok = ok && write(.entryControls, adjust(0, useTrue ? MSR.trueEntry : MSR.entry))
        ok = ok && write(.exceptionBitmap, 0) && write(.vmcsLinkPointer, UInt64.max)
        ok = ok && write(.eptPointer, ept | 6 | (3 << 3))                  // write-back, 4-level walk
        // Host: this CPU as it is now; the exit resumes in x86_vmx_enter.
        ok = ok && write(.hostCR0, x86_read_cr0()) && write(.hostCR3, x86_read_cr3()) && write(.hostCR4, x86_read_cr4())
        ok = ok && write(.hostCS, UInt64(Selector.kernelCode)) && write(.hostTR, UInt64(Selector.taskState))
        ok = ok && write(.hostSS, UInt64(Selector.kernelData)) && write(.hostDS, UInt64(Selector.kernelData))
            && write(.hostES, UInt64(Selector.kernelData))
        ok = ok && write(.hostFS, 0) && write(.hostGS, 0)
        ok = ok && write(.hostFSBase, x86_rdmsr(MSR.fsBase)) && write(.hostGSBase, x86_rdmsr(MSR.gsBase))
        ok = ok && write(.hostTRBase, tssBase) && write(.hostGDTRBase, gdtr.base) && write(.hostIDTRBase, idtr.base)
        // Guest: unrestricted real mode at 0x1000.
        ok = ok && write(.guestCR0, (x86_rdmsr(MSR.cr0Fixed0) & ~UInt64(0x8000_0001)) | 0x30)   // NE, ET; no PE, PG
        ok = ok && write(.guestCR3, 0) && write(.guestCR4, x86_rdmsr(MSR.cr4Fixed0))
        ok = ok && write(.guestRIP, guestCode) && write(.guestRSP, 0) && write(.guestRFLAGS, 2)
        ok = ok && write(.guestIA32EFER, 0)
        let segments: InlineArray<6, (VMCSField, VMCSField, VMCSField, VMCSField, UInt64)> = [
            (.guestCS, .guestCSBase, .guestCSLimit, .guestCSAccessRights, 0x9B),
            (.guestSS, .guestSSBase, .guestSSLimit, .guestSSAccessRights, 0x93),
            (.guestDS, .guestDSBase, .guestDSLimit, .guestDSAccessRights, 0x93),
            (.guestES, .guestESBase, .guestESLimit, .guestESAccessRights, 0x93),
            (.guestFS, .guestFSBase, .guestFSLimit, .guestFSAccessRights, 0x93),
            (.guestGS, .guestGSBase, .guestGSLimit, .guestGSAccessRights, 0x93),
        ]
        for index in segments.indices {
            let (selector, base, limit, rights, value) = segments[index]
            ok = ok && write(selector, 0) && write(base, 0) && write(limit, 0xFFFF) && write(rights, value)
        }
        ok = ok && write(.guestLDTR, 0) && write(.guestLDTRBase, 0) && write(.guestLDTRLimit, 0xFFFF)
            && write(.guestLDTRAccessRights, 0x82)
        ok = ok && write(.guestTR, 0) && write(.guestTRBase, 0) && write(.guestTRLimit, 0xFFFF) && write(.guestTRAccessRights, 0x8B)
        ok = ok && write(.guestGDTRBase, 0) && write(.guestGDTRLimit, 0xFFFF) && write(.guestIDTRBase, 0) && write(.guestIDTRLimit, 0xFFFF)
        ok = ok && write(.guestInterruptibility, 0) && write(.guestActivityState, 0)
        guard ok else { return "virt: VMX self-test FAIL: a VMCS field could not be written" }

        var reasons: LogLine = ""
        var cpuidExits = 0
        var roundTrip: UInt64 = 0
        for attempt in 0..<8 {
            let start = x86_rdtsc()
            if x86_vmx_enter(attempt == 0 ? 0 : 1) != 0 {
                return "virt: VMX self-test FAIL: VM entry failed, instruction error \(read(.instructionError))"
            }
            let basicReason = UInt32(truncatingIfNeeded: read(.exitReason))
            let reason = ExitReason.fromVMX(basicReason)
            if reasons.count > 0 { reasons.append(", ") }
            reasons.appendDecimal(UInt64(basicReason & 0xFFFF))
            guard reason == .cpuid else {
                log("bench: exit.cpuid.inkernel.instructions \(roundTrip)")
                let verdict: StaticString = reason == .hlt && cpuidExits == 2 ? "PASS" : "FAIL"
                return "virt: VMX self-test \(verdict): real-mode guest exited \(reasons) (\(cpuidExits) CPUID, then \(reason == .hlt ? "HLT" as StaticString : "something else") at RIP \(hex: read(.guestRIP))); in-kernel VM entry round trip \(roundTrip) TSC ticks"
            }
            cpuidExits += 1
            _ = write(.guestRIP, read(.guestRIP) + read(.exitInstructionLength))
            roundTrip = x86_rdtsc() - start
        }
        return "virt: VMX self-test FAIL: no HLT after \(reasons)"
    }
}
