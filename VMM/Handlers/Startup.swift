import SwiftletABI
import SwiftletUser
import VMMCore

extension LinuxMachine {
    /// The vCPU's first message: enter the kernel's 64-bit entry with the state `LinuxGuestSetup` chose.
    /// Its TSC now is kvmclock's time zero.
    mutating func startup() -> Action {
        bootTSC = timestamp()
        guest.set(entryState, FlatLongMode.startupMask)
        return .resume(FlatLongMode.startupMask)
    }
}
