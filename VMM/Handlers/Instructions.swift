import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// VMCALL/VMMCALL: no hypercall is offered (CPUID advertises none), so the answer is KVM's for an
    /// unknown one, -KVM_ENOSYS in RAX.
    mutating func hypercall() -> Action {
        guest.rax = UInt64(bitPattern: -1000)
        if guest.instructionLength == 0 { guest.rip &+= 3 } else { guest.rip &+= guest.instructionLength }
        guest.setInterruptibility(0, activity: 0)
        return .resume(Self.stepped.union(.generalA))
    }

    /// MOV to or from CR8 (VMX exits on them): CR8 is the local APIC's TPR bits 7:4. MOV to CR0 exits on
    /// VMX when it changes a bit the CPU forces on (NE): Linux's BIOS reboot path clears it on its way to
    /// real mode and the reset vector. The kernel keeps the forced bits on in the VMCS and the guest's value
    /// in the read shadow, so the write is taken as it is (reserved bits: #GP, as a CPU raises).
    mutating func controlRegister() -> Action {
        let access = ControlRegisterAccess(qualification: guest.qualification)
        if access.controlRegister == 0, access.isMove, access.isWrite, guest.mask.contains(.controlRegisters) {
            let value = guest.register(access.register)
            guard value >> 32 == 0 else { return generalProtection() }
            guest.cr0 = value
            advance()
            return .resume(Self.stepped.union(.controlRegisters))
        }
        guard access.controlRegister == 8, access.isMove else { return unhandled() }
        if access.isWrite {
            let value = guest.register(access.register)
            guard value >> 4 == 0 else {                 // bits 63:4 are reserved: #GP(0), as a CPU raises
                inject(exception: 13, errorCode: 0)
                return .resume(.event)
            }
            _ = board.apic.write(LocalAPIC.Offset.taskPriority, UInt32(value) << 4, now: timestamp())
        } else {
            guest.setRegister(access.register, UInt64(board.apic.taskPriority >> 4))
        }
        advance()
        return .resume(Self.stepped.union(.generalRegisters))
    }
}
