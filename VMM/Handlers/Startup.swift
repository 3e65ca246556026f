import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// The vCPU's first message: enter the kernel's 64-bit entry with the state `LinuxGuestSetup` chose.
    /// Its TSC now is the power-on and kvmclock's time zero.
    mutating func startup() -> Action {
        bootTSC = timestamp()
        powerOnTSC = bootTSC
        guest.set(entryState, FlatLongMode.startupMask)
        return .resume(FlatLongMode.startupMask)
    }
}
