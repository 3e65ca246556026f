import SwiftletABI
import VMMCore
import SwiftletUser

/// Port 0x514: the VMM answers with state no CPU can enter, one corruption at a time: a non-canonical RIP,
/// a CS that is not present, a reserved CR0 bit, a reserved CR4 bit, CR0.PG without PE, an event of a
/// reserved type (all refused by the kernel's own check before any entry), and long mode with CR4.PAE
/// clear (which the kernel lets through: only VM entry — VMX's guest-state checks, VMRUN's consistency
/// checks — refuses it). Each must come back as an `invalidGuestState` exit with the raw code of the
/// check that refused it; the VMM then restores the good state with RIP back at the OUT, and the guest
/// must run again: its OUT to 0x514 exits once more at the same RIP, which proves the restored state
/// entered. Then the next corruption; after the last the guest goes on.
struct BadReplyTest {
    enum Phase { case corrupted, restored }
    var active = false
    var phase = Phase.corrupted
    var step = 0
    var failures: UInt64 = 0
    /// The raw code of the refusal the current step got.
    var lastRaw: UInt32 = 0
    /// The OUT to port 0x514, where each restored state resumes.
    var portRIP: UInt64 = 0

    struct Case {
        let description: StaticString
        /// The raw code of the refusal: the kernel's (0xFFFF0000 | reason) or, for 0, VM entry's own
        /// (VMX: exit reason 33 with the entry-failure bit; SVM: VMEXIT_INVALID, low 32 bits all ones).
        let kernelRefusal: UInt32
    }
    static let cases: [Case] = [
        Case(description: "non-canonical RIP", kernelRefusal: 0xFFFF_0001),
        Case(description: "CS not present", kernelRefusal: 0xFFFF_0002),
        Case(description: "reserved CR0 bit 32", kernelRefusal: 0xFFFF_0003),
        Case(description: "reserved CR4 bit 63", kernelRefusal: 0xFFFF_0003),
        Case(description: "paging without protected mode", kernelRefusal: 0xFFFF_0005),
        Case(description: "event of reserved type 7", kernelRefusal: 0xFFFF_0004),
        Case(description: "long mode with CR4.PAE clear", kernelRefusal: 0),
    ]
    static var steps: Int { cases.count }

    /// Whether `raw` is the refusal `step` must get.
    static func expected(_ raw: UInt32, step: Int) -> Bool {
        let kernel = cases[step].kernelRefusal
        return kernel != 0 ? raw == kernel : raw == 0x8000_0021 || raw == 0xFFFF_FFFF
    }
}

extension VirtualMachine {
    /// The OUT to 0x514 (`portRIP`: its address). The first starts the test; later ones are the guest
    /// running again on a restored state.
    mutating func badReplies(portRIP: UInt64) -> Action {
        if !devices.badReply.active {
            devices.badReply = BadReplyTest()
            devices.badReply.active = true
            devices.badReply.portRIP = portRIP
            return corrupt(step: 0)
        }
        return badReplyExit(raw: guest.raw)
    }

    /// Every exit while the test runs comes here.
    mutating func badReplyExit(raw: UInt32) -> Action {
        let step = devices.badReply.step
        let what = BadReplyTest.cases[step].description
        switch devices.badReply.phase {
        case .corrupted:
            guard reason == .invalidGuestState, BadReplyTest.expected(raw, step: step) else {
                log("vmm: FAIL bad reply \(step + 1)/\(BadReplyTest.steps) (\(what)): exit \(reason.rawValue), raw \(hex: raw) followed instead of the expected refusal")
                return badReplyFailed()
            }
            // The refusal's message shows the vCPU as the refused reply found it: the guest's RIP (at the
            // OUT) and CR3, never the host's (a failed VMRUN may leave host state in the VMCB).
            guard guest.rip == devices.badReply.portRIP, guest.cr3 == initial.cr3 else {
                log("vmm: FAIL bad reply \(step + 1)/\(BadReplyTest.steps) (\(what)): the refusal's message shows RIP \(hex: guest.rip), CR3 \(hex: guest.cr3), RAX \(hex: guest.rax), not the guest's")
                return badReplyFailed()
            }
            devices.badReply.phase = .restored
            return restore()
        case .restored:
            guard reason == .io, guest.rip == devices.badReply.portRIP,
                  IOAccess(qualification: guest.qualification).port == Devices.badReplyPort else {
                log("vmm: FAIL bad reply \(step + 1)/\(BadReplyTest.steps) (\(what)): after restoring, exit \(reason.rawValue) (raw \(hex: raw)) at RIP \(hex: guest.rip), not the guest's OUT at \(hex: devices.badReply.portRIP)")
                return badReplyFailed()
            }
            let by: StaticString = BadReplyTest.cases[step].kernelRefusal != 0 ? "the kernel's check" : "VM entry itself"
            log("vmm: bad reply \(step + 1)/\(BadReplyTest.steps) (\(what)): VM entry refused by \(by), raw \(hex: devices.badReply.lastRaw), the guest's RIP and CR3 in its message; state restored, the guest ran again to its OUT at \(hex: guest.rip)")
            devices.badReply.step += 1
            devices.badReply.phase = .corrupted
            if devices.badReply.step < BadReplyTest.steps { return corrupt(step: devices.badReply.step) }
            devices.badReply.active = false
            advance()
            return .resume([.ripAndLength])
        }
    }

    private mutating func corrupt(step: Int) -> Action {
        var state = initial
        state.rip = devices.badReply.portRIP
        let mask: TransferMask
        switch step {
        case 0:
            state.rip = 0x8000_0000_0000_0000
            mask = .ripAndLength
        case 1:
            state.cs.attributes &= ~UInt16(0x80)
            mask = .codeStackSegments
        case 2:
            state.cr0 |= 1 << 32
            mask = .controlRegisters
        case 3:
            state.cr4 |= 1 << 63
            mask = .controlRegisters
        case 4:
            state.cr0 &= ~UInt64(1)                  // paging without protected mode
            mask = .controlRegisters
        case 5:
            state.event = 0x30 | (7 << 8) | (1 << 31)
            mask = .event
        default:
            state.cr4 &= ~UInt64(1 << 5)             // EFER.LMA and CR0.PG stay: IA-32e paging needs PAE
            mask = .controlRegisters
        }
        guest.set(state, mask)
        return .resume(mask)
    }

    /// The good state again (what the corruptions touch), RIP at the OUT so the guest exits there again.
    private mutating func restore() -> Action {
        devices.badReply.lastRaw = guest.raw
        var state = initial
        state.rip = devices.badReply.portRIP
        let mask: TransferMask = [.ripAndLength, .codeStackSegments, .controlRegisters, .efer]
        guest.set(state, mask)
        return .resume(mask)
    }

    /// A step went wrong: count it, restore the good state past the OUT and let the guest go on.
    private mutating func badReplyFailed() -> Action {
        devices.badReply.failures += 1
        devices.badReply.active = false
        var state = initial
        state.rip = devices.badReply.portRIP &+ 1          // OUT DX, AL is one byte
        let mask: TransferMask = [.ripAndLength, .codeStackSegments, .controlRegisters, .efer]
        guest.set(state, mask)
        return .resume(mask)
    }
}
