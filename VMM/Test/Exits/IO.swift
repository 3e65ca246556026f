import SwiftletABI
import VMMCore
import SwiftletUser

extension VirtualMachine {
    /// IN/OUT, decoded from the exit qualification: the port goes to its device; a port nobody backs
    /// reads as all ones and ignores writes. String and REP forms are not emulated: #UD.
    mutating func io(arrival: UInt64) -> Action {
        let access = IOAccess(qualification: guest.qualification)
        guard !access.isString else {
            inject(exception: 6)
            return .resume([.event])
        }
        let sizeMask: UInt64 = access.size == 4 ? 0xFFFF_FFFF : access.size == 2 ? 0xFFFF : 0xFF
        advance()
        if kind == .debugRegisters && !access.isIn && access.port == Devices.donePort { return debugRegisterReport() }
        if access.isIn {
            let value = devices.read(port: access.port, size: access.size, kind: kind) & sizeMask
            guest.rax = (access.size == 4 ? 0 : guest.rax & ~sizeMask) | value
            return .resume([.generalA, .ripAndLength])
        }
        switch devices.write(port: access.port, value: guest.rax & sizeMask, size: access.size, kind: kind,
                             registers: (guest.rbx, guest.rcx, guest.rsi), arrival: arrival) {
        case .done:
            guest.rdi = timestamp()            // the benchmark's reply time
            return .resume([.generalB, .ripAndLength])
        case .requestInterruptWindow:
            return .resume([.ripAndLength, .requestInterruptWindow])
        case .badReplyTest:
            return badReplies(portRIP: guest.rip &- guest.instructionLength)
        case .unmapPage:
            // Revokes the VM's mapping of the page (derived from this task's), not this task's own.
            let page = Flexpage(base: memory.base + Devices.unmappedPage, order: 12, rights: .all)
            devices.pageUnmapped = SystemCall.unmap(page) == .ok
            return .resume([.ripAndLength])
        case .runDebugRegisterGuest:
            return runDebugRegisterGuest()
        case .finished(let guestFailures):
            var failures = guestFailures + devices.badReply.failures + ownerCheckFailures + devices.debugRegisterFailures
            if !(devices.pageUnmapped && devices.unmappedPageFaulted) {
                log("vmm: FAIL the unmapped guest page did not fault (unmapped: \(yesNo: devices.pageUnmapped))")
                failures += 1
            }
            log("vmm: \(name) finished after \(exitCount) exits: \(failures) checks failed")
            return .stop(failures: failures)
        }
    }
}
