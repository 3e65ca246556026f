import SwiftletABI
import SwiftletUser
import VMMCore

/// The VMM product: it runs the VM its configuration describes (the root task hands it a description
/// page, the kernel and initrd modules and the guest's RAM, `VirtualMachineDescription`) and reports
/// when the guest powered off. Without a description it has nothing to run and says so. The test
/// guests live in the test VMM (`VMM/Test`, task `vmmtest`), not here.
enum VMM {
    /// Capability slots this task uses (1-7 come from the root task).
    static let firstSlot: UInt64 = 20
    /// The vCPU's priority: the VMM's own (configured in system.dts).
    static let priority: UInt64 = 90
    nonisolated(unsafe) static var tscKHz: UInt64 = 0
}

@_cdecl("task_main")
func vmmMain(tscKHz: UInt64, utcb utcbAddress: UInt64) {
    VMM.tscKHz = tscKHz
    let (failures, guestStatus) = runDescribedMachine(utcb: UTCB(address: utcbAddress))
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 2),
                        (failures, guestStatus.map { Report.guestExit | UInt64($0) } ?? 0, 0, 0))
}

/// Reads and checks the description, builds the guest, runs it. Returns the number of failures and the
/// guest's debug-exit status, if it ended that way.
func runDescribedMachine(utcb: UTCB) -> (failures: UInt64, guestStatus: UInt8?) {
    let page = VirtualMachineDescription.page
    guard !SystemCall.readMapping(RootTaskLayout.taskSlot, at: page).rights.isEmpty else {
        log("vmm: no VM described for this task (no description page): nothing to run")
        return (0, nil)
    }
    let description: MachineDescription
    do {
        description = try MachineDescription(page: UnsafePointer(bitPattern: UInt(page))!)
    } catch {
        log("vmm: refused the VM description: \(error.description)")
        return (1, nil)
    }
    let name = description.name
    // The windows the description names must be mapped as it says (first and last page of each).
    var windows = [(description.ramAddress, description.ramBytes), (description.kernelAddress, description.kernelBytes),
                   (description.initrdAddress, description.initrdBytes)]
    for index in 0..<description.moduleCount { windows.append(description.modules[index]) }
    for (address, bytes) in windows where bytes > 0 {
        let last = address + ((bytes - 1) & ~UInt64(0xFFF))
        if SystemCall.readMapping(RootTaskLayout.taskSlot, at: address).rights.isEmpty
            || SystemCall.readMapping(RootTaskLayout.taskSlot, at: last).rights.isEmpty {
            log("vmm: \(name): refused: a window of the description (\(hex: address), \(bytes) bytes) is not mapped")
            return (1, nil)
        }
    }
    var machine = GuestMachine(description: description, slots: VMM.firstSlot, utcb: utcb, tscKHz: VMM.tscKHz)
    guard machine.build() else { return (1, nil) }
    return machine.run()
}
