import SwiftletABI
import VMMCore
import SwiftletUser
import TestGuest

/// DR0-3 (and DR6) are each vCPU's own: the test guest sets them and exits at port 0x518; the VMM stops
/// it and runs the debug-register guest in another VM, which must find its reset values and sets its
/// own; then it starts the test guest again, which checks that it still has its values.
extension VirtualMachine {
    /// The first exit at the port: stop this vCPU (a reply to it would be lost to the other VM's exits),
    /// run the other VM to its end, start this one again at the same OUT. Its second exit there goes on.
    mutating func runDebugRegisterGuest() -> Action {
        if debugRegisterGuestRan { return .resume([.ripAndLength]) }
        debugRegisterGuestRan = true
        let stopped = SystemCall.thread(vcpu, .stop).error
        // The spinning guest's RAM, which it zeroes anew when it starts later.
        var other = VirtualMachine(kind: .debugRegisters, slots: VMM.firstSlot + 32,
                                   ramBase: VMM.guestRAMBase + 2 * VMM.guestRAMBytes, utcb: UTCB(address: UInt64(UInt(bitPattern: guest.words))))
        let booted = other.boot(image: dr_guest_image(), size: dr_guest_size())
        if booted == .ok { devices.debugRegisterFailures += other.run() }
        let started = SystemCall.thread(vcpu, .start).error
        guard stopped == .ok, booted == .ok, started == .ok else {
            log("vmm: FAIL the debug-register guest: test guest stopped \(stopped.name), other VM booted \(booted.name), test guest started again \(started.name)")
            return .stop(failures: 1)
        }
        return .restarted
    }

    /// The debug-register guest's report at the done port: EAX = its DR6, RBX, RCX, RSI, RDI = DR0-3.
    func debugRegisterReport() -> Action {
        let dr6 = guest.rax & 0xFFFF_FFFF
        let dr0 = guest.rbx, dr1 = guest.rcx, dr2 = guest.rsi, dr3 = guest.rdi
        let ok = dr0 | dr1 | dr2 | dr3 == 0 && dr6 == 0xFFFF_0FF0
        log("vmm: \(ok ? "" as StaticString : "FAIL ")debug-register guest, run while the test guest had DR0-3 = 0x11000-0x14000 and DR6 = 0xffff0ff1, found DR0 \(hex: dr0) DR1 \(hex: dr1) DR2 \(hex: dr2) DR3 \(hex: dr3) DR6 \(hex: dr6) (its own reset values: 0 and 0xffff0ff0)")
        return .stop(failures: ok ? 0 : 1)
    }
}
