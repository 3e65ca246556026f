import SwiftletABI

/// A user thread's registers as the entry code (interrupts.S, syscall.S) saves them: general registers,
/// then the vector/error slots, then the five words the CPU pushes on an interrupt. The order is the
/// assembly's, so it must not change without changing both (checked at boot: Machine/Boot checks).
public struct UserContext {
    public var r15: UInt64 = 0, r14: UInt64 = 0, r13: UInt64 = 0, r12: UInt64 = 0
    public var r11: UInt64 = 0, r10: UInt64 = 0, r9: UInt64 = 0, r8: UInt64 = 0
    public var rbp: UInt64 = 0, rdi: UInt64 = 0, rsi: UInt64 = 0, rdx: UInt64 = 0
    public var rcx: UInt64 = 0, rbx: UInt64 = 0, rax: UInt64 = 0
    /// `UserContext.syscallEntry` when the thread entered by SYSCALL (resume with SYSRET), else the vector.
    public var vector: UInt64 = 0
    public var errorCode: UInt64 = 0
    public var rip: UInt64 = 0, cs: UInt64 = 0, rflags: UInt64 = 0, rsp: UInt64 = 0, ss: UInt64 = 0

    public init() {}

    /// Marks a context saved by the SYSCALL path.
    public static let syscallEntry: UInt64 = 0x100
    public static let words = 22

    /// Interrupts on, IOPL 0, the reserved bit 1 set.
    public static let userFlags: UInt64 = 0x202

    /// Message registers MR0-MR3 as the syscall convention places them.
    public var registerMessage: (UInt64, UInt64, UInt64, UInt64) {
        get { (rdx, r10, r8, r9) }
        set { (rdx, r10, r8, r9) = newValue }
    }

    public func messageRegister(_ index: Int) -> UInt64 {
        switch index {
        case 0: return rdx
        case 1: return r10
        case 2: return r8
        default: return r9
        }
    }

    public mutating func setMessageRegister(_ index: Int, _ value: UInt64) {
        switch index {
        case 0: rdx = value
        case 1: r10 = value
        case 2: r8 = value
        default: r9 = value
        }
    }
}
