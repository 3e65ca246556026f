import KernelPlatform
import SwiftletABI

/// The CPU-local setup for running user threads: GS base for the entry code, SYSCALL MSRs, and the
/// TSS stack pointer that makes interrupts from user mode save straight into the current thread.
enum PerCPU {
    private enum MSR {
        static let efer: UInt32 = 0xC000_0080
        static let star: UInt32 = 0xC000_0081
        static let lstar: UInt32 = 0xC000_0082
        static let sfmask: UInt32 = 0xC000_0084
        static let gsBase: UInt32 = 0xC000_0101
        static let kernelGSBase: UInt32 = 0xC000_0102
    }

    static func initialize() {
        let block = percpu_block()!
        block.pointee.kernelStackTop = kernel_image_layout().stackTop
        x86_wrmsr(MSR.gsBase, UInt64(UInt(bitPattern: block)))
        x86_wrmsr(MSR.efer, x86_rdmsr(MSR.efer) | 1)                         // SCE
        loadSyscallMSRs()
    }

    /// The kernel's SYSCALL MSRs (again after a VMX guest had its own; CSTAR and KERNEL_GS_BASE, both 0,
    /// only if `all`).
    static func loadSyscallMSRs(all: Bool = true) {
        if all {
            x86_wrmsr(MSR.kernelGSBase, 0)
            x86_wrmsr(0xC000_0083, 0)                                        // CSTAR: no compatibility-mode SYSCALL
        }
        // SYSCALL loads CS 0x08/SS 0x10; SYSRET loads CS 0x28|3 / SS 0x20|3 (base 0x18, see Selector).
        x86_wrmsr(MSR.star, UInt64(Selector.kernelCode) << 32 | UInt64(Selector.userCode32) << 48)
        x86_wrmsr(MSR.lstar, syscall_entry_address())
        // Cleared on entry: TF, IF, DF, IOPL, NT, AC — the kernel runs with interrupts off.
        x86_wrmsr(MSR.sfmask, 0x4_7700)
    }

    /// Makes `context` the one the entry code saves into and resumes from (on every switch: kept lean).
    @inline(__always)
    static func setCurrent(_ context: UnsafeMutableRawPointer) {
        let address = UInt64(UInt(bitPattern: context))
        percpu_block()!.pointee.currentContext = address
        DescriptorTables.kernelEntryStack.storeBytes(of: address + UInt64(MemoryLayout<UserContext>.size), as: UInt64.self)
    }

    /// Checks that the Swift layout of UserContext is the one context.h and the assembly assume.
    static func layoutMatchesAssembly() -> Bool {
        var probe = UserContext()
        probe.r15 = 1
        probe.vector = 2
        probe.rip = 3
        probe.cs = 4
        probe.rsp = 5
        probe.ss = 6
        let fieldsInPlace = withUnsafeBytes(of: probe) { bytes in
            bytes.load(fromByteOffset: 0, as: UInt64.self) == 1 && bytes.load(fromByteOffset: 15 * 8, as: UInt64.self) == 2
                && bytes.load(fromByteOffset: 17 * 8, as: UInt64.self) == 3 && bytes.load(fromByteOffset: 18 * 8, as: UInt64.self) == 4
                && bytes.load(fromByteOffset: 20 * 8, as: UInt64.self) == 5 && bytes.load(fromByteOffset: 21 * 8, as: UInt64.self) == 6
        }
        var thread = Thread()
        thread.context.r15 = 7
        let contextFirst = withUnsafeBytes(of: thread) { $0.load(fromByteOffset: 0, as: UInt64.self) == 7 }
        return fieldsInPlace && contextFirst && MemoryLayout<UserContext>.size == 22 * 8
            && MemoryLayout<Thread>.size <= Thread.fpuAreaOffset
    }
}
