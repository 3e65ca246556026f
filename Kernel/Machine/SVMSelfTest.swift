import KernelPlatform
import SwiftletABI

/// A first use of the SVM backend (kernel command line `virt_selftest`): a real-mode guest of three
/// instructions (CPUID, CPUID, HLT) in one page of nested-paged memory, run with VMRUN until HLT, its
/// exits translated by the neutral layer. The kernel handles these exits itself here; issue 5 sends them
/// to a user-level VMM as IPC.
enum SVMSelfTest {
    private static let hostSaveMSR: UInt32 = 0xC001_0117
    private static let efer: UInt32 = 0xC000_0080
    private static let guestCode: UInt64 = 0x1000

    static func run() -> LogLine {
        guard case .svm(let svm) = CPU.probeVirtualization(), svm.nestedPaging, !svm.disabledByFirmware else {
            return "virt: self-test skipped (no usable SVM with nested paging)"
        }
        guard let hostSave = KernelMemory.allocateFrame(), let vmcbFrame = KernelMemory.allocateFrame(),
              let codeFrame = KernelMemory.allocateFrame(), let nestedRoot = KernelMemory.allocateFrame() else {
            return "virt: self-test: out of memory"
        }
        let vmcb = vmcbFrame.adopt(), code = codeFrame.adopt(), nested = nestedRoot.adopt()
        PhysicalMemory.zeroFrame(vmcb)
        PhysicalMemory.zeroFrame(code)
        PhysicalMemory.zeroFrame(nested)
        x86_wrmsr(efer, x86_rdmsr(efer) | (1 << 12))                       // EFER.SVME
        x86_wrmsr(hostSaveMSR, hostSave.adopt())

        // Guest code: CPUID; CPUID; HLT (0F A2 0F A2 F4), little-endian in one word.
        PhysicalMemory.pointer(code).storeBytes(of: UInt64(0xF4_A20F_A20F), as: UInt64.self)

        // Nested page tables: guest-physical 0x1000 → the code frame. NPT entries are user entries.
        var tables = PageTableBuilder(root: nested, memory: DirectMappedPageTables())
        do throws(MappingError) {
            try tables.map(guestCode, to: code, size: .size4K, attributes: MappingAttributes(access: .readWriteExecute, user: true))
        } catch {
            return "virt: self-test: nested page tables: \(error.description)"
        }

        let v = PhysicalMemory.pointer(vmcb)
        func put32(_ offset: Int, _ value: UInt32) { v.storeBytes(of: value, toByteOffset: offset, as: UInt32.self) }
        func put64(_ offset: Int, _ value: UInt64) { v.storeBytes(of: value, toByteOffset: offset, as: UInt64.self) }
        func segment(_ offset: Int, attributes: UInt16) {
            v.storeBytes(of: UInt16(0), toByteOffset: offset, as: UInt16.self)
            v.storeBytes(of: attributes, toByteOffset: offset + 2, as: UInt16.self)
            v.storeBytes(of: UInt32(0xFFFF), toByteOffset: offset + 4, as: UInt32.self)
            v.storeBytes(of: UInt64(0), toByteOffset: offset + 8, as: UInt64.self)
        }
        put32(VMCBLayout.interceptMisc1, VMCBLayout.interceptCPUID | VMCBLayout.interceptHLT | VMCBLayout.interceptShutdown)
        put32(VMCBLayout.interceptMisc2, VMCBLayout.interceptVMRUN)
        put32(VMCBLayout.guestASID, 1)
        put64(VMCBLayout.nestedPagingEnable, 1)
        put64(VMCBLayout.nestedCR3, nested)
        segment(VMCBLayout.cs, attributes: 0x9B)
        segment(VMCBLayout.ds, attributes: 0x93)
        segment(VMCBLayout.es, attributes: 0x93)
        segment(VMCBLayout.ss, attributes: 0x93)
        segment(VMCBLayout.fs, attributes: 0x93)
        segment(VMCBLayout.gs, attributes: 0x93)
        segment(VMCBLayout.gdtr, attributes: 0)
        segment(VMCBLayout.idtr, attributes: 0)
        segment(VMCBLayout.ldtr, attributes: 0x82)
        segment(VMCBLayout.tr, attributes: 0x8B)
        put64(VMCBLayout.efer, 1 << 12)                                    // the guest's EFER.SVME must be set
        put64(VMCBLayout.cr0, 0x10)                                        // real mode, ET
        put64(VMCBLayout.rflags, 0x2)
        put64(VMCBLayout.rip, guestCode)
        put64(VMCBLayout.rsp, 0)

        var reasons: LogLine = ""
        var cpuidExits: UInt64 = 0
        var roundTrip: UInt64 = 0
        for _ in 0..<8 {
            let start = x86_rdtsc()
            x86_svm_run(vmcb)
            let code = v.load(fromByteOffset: VMCBLayout.exitCode, as: UInt64.self)
            let info1 = v.load(fromByteOffset: VMCBLayout.exitInfo1, as: UInt64.self)
            let reason = ExitReason.fromSVM(code, exitInfo1: info1)
            if reasons.count > 0 { reasons.append(", ") }
            reasons.appendHex(code)
            guard reason == .cpuid else {
                log("bench: exit.cpuid.inkernel.instructions \(roundTrip)")
                let rip = v.load(fromByteOffset: VMCBLayout.rip, as: UInt64.self)
                let verdict: StaticString = reason == .hlt && cpuidExits == 2 ? "PASS" : "FAIL"
                return "virt: SVM self-test \(verdict): real-mode guest exited \(reasons) (\(cpuidExits) CPUID, then \(reason == .hlt ? "HLT" as StaticString : "something else") at RIP \(hex: rip)); in-kernel VMRUN round trip \(roundTrip) TSC ticks"
            }
            cpuidExits += 1
            // No NRIPS on QEMU: step over the two-byte CPUID by hand.
            put64(VMCBLayout.rip, v.load(fromByteOffset: VMCBLayout.rip, as: UInt64.self) + 2)
            roundTrip = x86_rdtsc() - start
        }
        return "virt: SVM self-test FAIL: no HLT after \(reasons)"
    }
}
