import KernelPlatform
import SwiftletABI

/// Interrupt and exception dispatch. Until user mode exists every exception is a kernel bug and ends in a
/// panic report; issue 3 routes faults taken in ring 3 to the thread's exception handler instead.
enum InterruptVector {
    static let timer: UInt64 = 0x30
    static let spurious: UInt64 = 0xFF
    /// The legacy PICs are remapped here and masked; anything arriving is spurious.
    static let legacyPIC: ClosedRange<UInt64> = 0x20...0x2F
}

@_cdecl("swiftlet_interrupt")
func handleInterrupt(_ frame: UnsafeMutablePointer<InterruptFrame>) {
    let vector = frame.pointee.vector
    let fromUser = frame.pointee.cs & 3 == 3
    switch vector {
    case 13 where !fromUser && frame.pointee.rip == x86_rdmsr_safe_fault_address():
        frame.pointee.rip = x86_rdmsr_safe_recover_address()
    case 2:
        log("interrupt: NMI at RIP=\(hex: frame.pointee.rip) (ignored)")
    case 18:
        panic(exception: frame.pointee)          // machine check: the hardware is failing, whoever ran
    case 0..<32 where fromUser:
        UserFaults.handle(System.scheduler.current!, vector: vector)
    case 0..<32:
        panic(exception: frame.pointee)
    case InterruptVector.timer:
        System.timerInterrupt()
    case Interrupts.vectorBase..<(Interrupts.vectorBase + UInt64(Interrupts.maximumLines)):
        Interrupts.fired(vector: vector)
        System.checkOverdueTimeouts()
    case InterruptVector.spurious, InterruptVector.legacyPIC:
        break
    default:
        log("interrupt: unexpected vector \(vector)")
        LocalAPIC.endOfInterrupt()
    }
    // From user mode the exit path resumes whichever thread is current now; from kernel mode (idle)
    // the interrupted kernel code continues.
    if fromUser { System.prepareReturn() }
}

/// Faults raised by user threads: the kernel never dies of them. #NM is the lazy FPU switch; anything else
/// goes to the thread's exception handler as a message, or stops the thread with a report.
enum UserFaults {
    nonisolated(unsafe) private(set) static var stoppedThreads: UInt64 = 0

    static func handle(_ thread: ThreadPointer, vector: UInt64) {
        if vector == 7 {
            return FPU.deviceNotAvailable(thread)
        }
        thread.pointee.faultVector = vector
        thread.pointee.faultAddress = vector == 14 ? x86_read_cr2() : 0
        let pager = thread.pointee.pager
        if vector == 14 && pager.type == .endpoint {
            let endpoint = PhysicalMemory.object(fromCapabilityAddress: pager.object, as: Endpoint.self)
            IPC.sendFault(thread, to: endpoint, badge: pager.badge, toPager: true, scheduler: &System.scheduler)
            return
        }
        let handler = thread.pointee.exceptionHandler
        if handler.type == .endpoint {
            let endpoint = PhysicalMemory.object(fromCapabilityAddress: handler.object, as: Endpoint.self)
            IPC.sendFault(thread, to: endpoint, badge: handler.badge, scheduler: &System.scheduler)
            return
        }
        let c = thread.pointee.context
        log("fault: thread \(hex: UInt64(UInt(bitPattern: thread))) stopped: \(exceptionName(vector)) (vector \(vector)) error \(hex: c.errorCode) at RIP=\(hex: c.rip) RSP=\(hex: c.rsp) CR2=\(hex: thread.pointee.faultAddress); no exception handler")
        thread.pointee.state = .stopped
        stoppedThreads += 1
        System.scheduler.currentBlocked()
    }
}

private func exceptionName(_ vector: UInt64) -> StaticString {
    switch vector {
    case 0: return "#DE divide error"
    case 1: return "#DB debug"
    case 2: return "NMI"
    case 3: return "#BP breakpoint"
    case 4: return "#OF overflow"
    case 5: return "#BR bound range"
    case 6: return "#UD invalid opcode"
    case 7: return "#NM device not available"
    case 8: return "#DF double fault"
    case 10: return "#TS invalid TSS"
    case 11: return "#NP segment not present"
    case 12: return "#SS stack fault"
    case 13: return "#GP general protection"
    case 14: return "#PF page fault"
    case 16: return "#MF x87 error"
    case 17: return "#AC alignment check"
    case 18: return "#MC machine check"
    case 19: return "#XM SIMD error"
    case 20: return "#VE virtualization"
    case 21: return "#CP control protection"
    default: return "reserved exception"
    }
}

/// Prints everything needed to find the bug, then stops this CPU for good.
func panic(exception f: InterruptFrame) -> Never {
    let mode: StaticString = f.cs & 3 == 3 ? "user" : "kernel"
    VerdictLine.log("KERNEL PANIC: \(exceptionName(f.vector)) (vector \(f.vector)) in \(mode) mode")
    if f.vector == 6 && isSwiftTrap(at: f.rip) {
        log("  a Swift runtime check failed (overflow, bounds or precondition): ud2 in kernel code")
    }
    if f.vector == 14 {
        let present: StaticString = f.errorCode & 1 != 0 ? "protection violation" : "not present"
        let access: StaticString = f.errorCode & 16 != 0 ? "instruction fetch" : f.errorCode & 2 != 0 ? "write" : "read"
        let privilege: StaticString = f.errorCode & 4 != 0 ? "user" : "supervisor"
        log("  error code \(hex: f.errorCode): \(present), \(access), \(privilege)")
    } else {
        log("  error code \(hex: f.errorCode)")
    }
    // A #PF in the guard page, or the #DF it escalates to when the handler cannot push on that stack.
    let guardPage = kernel_image_layout().stackGuard
    if (f.vector == 14 || f.vector == 8) && x86_read_cr2() >= guardPage && x86_read_cr2() < guardPage + 4096 {
        log("  the fault address is in the guard page below the kernel stack: kernel stack overflow")
    }
    log("  RIP=\(hex: f.rip, digits: 16) CS=\(hex: f.cs) RFLAGS=\(hex: f.rflags, digits: 8)")
    log("  RSP=\(hex: f.rsp, digits: 16) SS=\(hex: f.ss) CR2=\(hex: x86_read_cr2(), digits: 16) CR3=\(hex: x86_read_cr3(), digits: 8)")
    log("  RAX=\(hex: f.rax, digits: 16) RBX=\(hex: f.rbx, digits: 16) RCX=\(hex: f.rcx, digits: 16)")
    log("  RDX=\(hex: f.rdx, digits: 16) RSI=\(hex: f.rsi, digits: 16) RDI=\(hex: f.rdi, digits: 16)")
    log("  RBP=\(hex: f.rbp, digits: 16) R8=\(hex: f.r8, digits: 16)  R9=\(hex: f.r9, digits: 16)")
    log("  R10=\(hex: f.r10, digits: 16) R11=\(hex: f.r11, digits: 16) R12=\(hex: f.r12, digits: 16)")
    log("  R13=\(hex: f.r13, digits: 16) R14=\(hex: f.r14, digits: 16) R15=\(hex: f.r15, digits: 16)")
    halt()
}

/// A fatal condition the kernel detected itself (bad boot information, no memory, …).
func panic(_ message: LogLine) -> Never {
    VerdictLine.log("KERNEL PANIC: \(message)")
    halt()
}

func halt() -> Never {
    VerdictLine.log("kernel: halted")
    SerialPort.flush()
    while true {
        x86_cli()
        x86_hlt()
    }
}

/// Swift lowers failed runtime checks to `ud2` (0F 0B).
private func isSwiftTrap(at rip: UInt64) -> Bool {
    let image = kernel_image_layout()
    guard rip >= image.textStart && rip + 2 <= image.textEnd else { return false }
    let bytes = UnsafeRawPointer(bitPattern: UInt(rip))!
    return bytes.load(as: UInt8.self) == 0x0F && bytes.load(fromByteOffset: 1, as: UInt8.self) == 0x0B
}
