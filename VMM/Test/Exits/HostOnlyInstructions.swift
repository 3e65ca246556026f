import SwiftletABI
import VMMCore
import SwiftletUser

extension VirtualMachine {
    /// INVD, WBINVD: the kernel intercepts them so a guest never discards or writes back the host's caches
    /// (an INVD would lose the host's dirty lines). Guest RAM is ordinary write-back memory and no device
    /// does DMA, so there is nothing to do: step over the instruction. The count is what the test guest
    /// reads back through port 0x517.
    mutating func cacheControl(raw: UInt32) -> Action {
        devices.cacheControlExits &+= 1
        if kind == .test {
            log("vmm: \(name): cache-control exit \(devices.cacheControlExits) (reason \(reason.rawValue), raw \(hex: raw)): stepped over, host caches untouched")
        }
        advance()
        return .resume([.ripAndLength])
    }

    /// MONITOR, MWAIT: intercepted so a guest cannot park the physical CPU. CPUID hides them (leaf 1 ECX
    /// bit 3), so the answer is what a CPU without them gives: #UD.
    mutating func monitorOrWait(raw: UInt32) -> Action {
        devices.monitorExits &+= 1
        if kind == .test {
            log("vmm: \(name): MONITOR/MWAIT exit \(devices.monitorExits) (reason \(reason.rawValue), raw \(hex: raw)): #UD, as CPUID says")
        }
        inject(exception: 6)
        return .resume([.event])
    }

    /// A control-register access that exits: on VMX only MOV to and from CR8 (CR8 exiting keeps a guest
    /// off the local APIC's real TPR). The VMM keeps the guest's TPR. The qualification is in the VMX
    /// layout (CR number bits 0-3, access type bits 4-5, register bits 8-11); anything else: #UD.
    mutating func controlRegister() -> Action {
        let access = ControlRegisterAccess(qualification: guest.qualification)
        guard access.controlRegister == 8, access.isMove else { return unhandled(raw: guest.raw) }
        if access.isWrite {
            let value = guest.register(access.register)
            // Bits 63:4 of CR8 are reserved: #GP(0), as a CPU raises.
            guard value >> 4 == 0 else {
                inject(exception: 13, errorCode: 0)
                return .resume([.event])
            }
            devices.taskPriority = value
        } else {
            guest.setRegister(access.register, devices.taskPriority)
        }
        advance()
        return .resume([.generalRegisters, .ripAndLength])
    }
}
