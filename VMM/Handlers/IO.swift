import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// IN/OUT to the board (COM1, the RTC, the ACPI registers, the reset ports; every other port reads all ones). String
    /// forms are not emulated (Linux uses none on these ports): #UD.
    mutating func io() -> Action {
        let access = IOAccess(qualification: guest.qualification)
        guard !access.isString else { return unhandled() }
        let sizeMask: UInt64 = access.size == 4 ? 0xFFFF_FFFF : access.size == 2 ? 0xFFFF : 0xFF
        advance()
        if access.isIn {
            let value = board.readPort(access.port, size: access.size, wallClock: wallClock) & sizeMask
            guest.rax = (access.size == 4 ? 0 : guest.rax & ~sizeMask) | value
            return .resume(Self.stepped.union(.generalA))
        }
        switch board.writePort(access.port, size: access.size, value: guest.rax & sizeMask) {
        case .none:
            break
        case .consoleOutput:
            forwardConsole()
        case .powerOff:
            flushConsole()
            // The TSC at the first entry: with the marker's TSC it gives the guest's own share of a boot.
            let now = timestamp()
            log("vmm: \(name): the guest powered off (ACPI S5) after \(bootExits) exits, \((now &- bootTSC) / (tscKHz * 1000)) s (entered at tsc \(bootTSC), off at tsc \(now)); VM stopped")
            return .stop(failures: 0)
        case .reset(let source):
            return reset(source)
        case .debugExit(let value):
            flushConsole()
            let status = UInt8(truncatingIfNeeded: UInt64(value) << 1 | 1)
            log("vmm: \(name): the guest wrote \(UInt64(value)) to the debug-exit port (\(hex: UInt64(LinuxBoard.debugExitPort))) after \(bootExits) exits: exit status \(UInt64(status)); VM stopped")
            return .exit(status: status)
        }
        return .resume(Self.stepped)
    }
}
