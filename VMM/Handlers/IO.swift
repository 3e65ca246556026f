import SwiftletABI
import SwiftletUser
import VMMCore

extension LinuxMachine {
    /// IN/OUT to the board (COM1, the RTC, the ACPI registers; every other port reads all ones). String
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
        case .consoleLine:
            forwardConsoleLine()
        case .powerOff:
            flushConsole()
            // The TSC at the first entry: with the marker's TSC it gives the guest's own share of a boot.
            let now = timestamp()
            log("vmm: \(name): the guest powered off (ACPI S5) after \(statistics.total) exits, \((now &- bootTSC) / (tscKHz * 1000)) s (entered at tsc \(bootTSC), off at tsc \(now)); VM stopped")
            return .stop(failures: 0)
        case .reset:
            flushConsole()
            log("vmm: \(name): the guest asked for a reset (ACPI reset register) after \(statistics.total) exits: not supported yet; VM stopped")
            return .stop(failures: 1)
        }
        return .resume(Self.stepped)
    }
}
