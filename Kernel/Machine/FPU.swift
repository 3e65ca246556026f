import KernelPlatform
import SwiftletABI

/// FPU/SSE/AVX state belongs to threads and is switched lazily: switching threads only sets CR0.TS; the
/// first FPU instruction of a thread that does not own the FPU traps (#NM) and swaps the state then.
/// Threads that never touch the FPU (most IPC-bound servers) never pay for it. The kernel uses no FPU.
/// With XSAVE the state includes AVX (x87, SSE and AVX components, 832 bytes); without it, FXSAVE.
/// `fpu=eager` on the kernel command line switches the state at every thread switch instead, for comparison.
enum FPU {
    nonisolated(unsafe) private static var owner: ThreadPointer?
    nonisolated(unsafe) private static var trapArmed = false
    nonisolated(unsafe) private(set) static var switches: UInt64 = 0
    /// XCR0: the state components threads may use (0 = no XSAVE, FXSAVE is used).
    nonisolated(unsafe) private(set) static var xsaveMask: UInt64 = 0
    nonisolated(unsafe) private(set) static var eager = false
    /// The save area's room in the thread's frame.
    static let areaBytes = 4096 - Thread.fpuAreaOffset

    static func initialize(eager: Bool) {
        self.eager = eager
        x86_write_cr4(x86_read_cr4() | (1 << 9) | (1 << 10))          // OSFXSR, OSXMMEXCPT: SSE for threads
        let features = x86_cpuid(1, 0).ecx
        if features & (1 << 26) != 0 {                                // XSAVE
            x86_write_cr4(x86_read_cr4() | (1 << 18))                   // OSXSAVE
            let avx: UInt64 = features & (1 << 28) != 0 ? 0b100 : 0
            let mask: UInt64 = 0b11 | avx                                // x87, SSE, AVX if present
            x86_xsetbv(0, mask)
            if UInt64(x86_cpuid(0xD, 0).ebx) <= UInt64(areaBytes) { xsaveMask = mask } else { x86_xsetbv(0, 0b11) }
        }
        x86_write_cr0((x86_read_cr0() & ~(1 << 2)) | (1 << 1) | (1 << 3))  // no EM; MP; TS until a thread owns it
        trapArmed = true
        if eager {
            x86_clts()
            trapArmed = false
        }
    }

    /// "x87 SSE AVX (XSAVE)" or "x87 SSE (FXSAVE)", for the boot report.
    static var description: LogLine {
        let state: StaticString = xsaveMask & 0b100 != 0 ? "x87, SSE and AVX state per thread (XSAVE)"
            : xsaveMask != 0 ? "x87 and SSE state per thread (XSAVE)" : "x87 and SSE state per thread (FXSAVE)"
        let mode: StaticString = eager ? "switched eagerly (fpu=eager)" : "switched lazily"
        return "\(state), \(mode)"
    }

    private static func area(_ thread: ThreadPointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(thread) + Thread.fpuAreaOffset
    }

    /// A new thread's FPU state: the FNINIT defaults with all SSE exceptions masked. (With XSAVE a zero
    /// header means "every component in its initial state", which XRSTOR loads.)
    static func prepare(_ thread: ThreadPointer) {
        let state = area(thread)
        state.initializeMemory(as: UInt8.self, repeating: 0, count: areaBytes)
        state.storeBytes(of: UInt16(0x037F), toByteOffset: 0, as: UInt16.self)     // FCW
        state.storeBytes(of: UInt32(0x1F80), toByteOffset: 24, as: UInt32.self)    // MXCSR
    }

    /// Called whenever `thread` is about to run: arm the trap unless it owns the FPU already (or, eager,
    /// swap the state now).
    @inline(__always)
    static func switched(to thread: ThreadPointer) {
        if eager {
            if owner != thread { swap(to: thread) }
            return
        }
        let armed = owner != thread
        guard armed != trapArmed else { return }
        trapArmed = armed
        if armed { x86_write_cr0(x86_read_cr0() | (1 << 3)) } else { x86_clts() }
    }

    /// `thread`, a vCPU, is about to enter its guest: its state goes into the FPU now (the guest's own
    /// CR0.TS governs the guest, so there is no trap to wait for).
    static func claim(_ thread: ThreadPointer) {
        if trapArmed {
            x86_clts()
            trapArmed = false
        }
        if owner != thread { swap(to: thread) }
    }

    /// `thread` is being destroyed: its state is never saved again (the next owner loads over it).
    static func forget(_ thread: ThreadPointer) {
        if owner == thread { owner = nil }
    }

    /// #NM from `thread`: save the owner's state, load this thread's.
    static func deviceNotAvailable(_ thread: ThreadPointer) {
        x86_clts()
        trapArmed = false
        if owner == thread { return }
        swap(to: thread)
    }

    private static func swap(to thread: ThreadPointer) {
        if xsaveMask != 0 {
            if let previous = owner { x86_xsave(area(previous), xsaveMask) }
            x86_xrstor(area(thread), xsaveMask)
        } else {
            if let previous = owner { x86_fxsave(area(previous)) }
            x86_fxrstor(area(thread))
        }
        owner = thread
        switches += 1
    }
}
