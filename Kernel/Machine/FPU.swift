import KernelPlatform
import SwiftletABI

/// FPU/SSE state belongs to threads and is switched lazily: switching threads only sets CR0.TS; the
/// first FPU instruction of a thread that does not own the FPU traps (#NM) and swaps the state then.
/// Threads that never touch the FPU (most IPC-bound servers) never pay for it. The kernel uses no FPU.
enum FPU {
    nonisolated(unsafe) private static var owner: ThreadPointer?
    nonisolated(unsafe) private static var trapArmed = false
    nonisolated(unsafe) private(set) static var switches: UInt64 = 0

    static func initialize() {
        x86_write_cr4(x86_read_cr4() | (1 << 9) | (1 << 10))          // OSFXSR, OSXMMEXCPT: SSE for threads
        x86_write_cr0((x86_read_cr0() & ~(1 << 2)) | (1 << 1) | (1 << 3))  // no EM; MP; TS until a thread owns it
        trapArmed = true
    }

    private static func area(_ thread: ThreadPointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(thread) + Thread.fpuAreaOffset
    }

    /// A new thread's FPU state: the FNINIT defaults with all SSE exceptions masked.
    static func prepare(_ thread: ThreadPointer) {
        let state = area(thread)
        state.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        state.storeBytes(of: UInt16(0x037F), toByteOffset: 0, as: UInt16.self)     // FCW
        state.storeBytes(of: UInt32(0x1F80), toByteOffset: 24, as: UInt32.self)    // MXCSR
    }

    /// Called whenever `thread` is about to run: arm the trap unless it owns the FPU already.
    static func switched(to thread: ThreadPointer) {
        let armed = owner != thread
        guard armed != trapArmed else { return }
        trapArmed = armed
        if armed { x86_write_cr0(x86_read_cr0() | (1 << 3)) } else { x86_clts() }
    }

    /// #NM from `thread`: save the owner's state, load this thread's.
    static func deviceNotAvailable(_ thread: ThreadPointer) {
        x86_clts()
        trapArmed = false
        if owner == thread { return }
        if let previous = owner { x86_fxsave(area(previous)) }
        x86_fxrstor(area(thread))
        owner = thread
        switches += 1
    }
}
