import SwiftletABI
import VMMCore
import SwiftletUser

/// Port 0x514: the VMM answers with state no CPU can enter — a non-canonical RIP, a CS that is not
/// present, a reserved CR0 bit, a reserved CR4 bit, CR0.PG without PE, an event of a reserved type — one
/// at a time. Each must
/// come back as a VM-entry-failure exit (never a kernel panic); the VMM then restores the good state and
/// the guest runs on.
struct BadReplyTest {
    var active = false
    var step = 0
    var failures: UInt64 = 0
    var returnRIP: UInt64 = 0
    static let steps = 6
}

extension VirtualMachine {
    mutating func badReplies() -> Action {
        devices.badReply = BadReplyTest()
        devices.badReply.active = true
        devices.badReply.returnRIP = guest.rip          // already past the OUT
        return corrupt(step: 0)
    }

    private mutating func corrupt(step: Int) -> Action {
        var state = initial
        state.rip = devices.badReply.returnRIP
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
        default:
            state.event = 0x30 | (7 << 8) | (1 << 31)
            mask = .event
        }
        guest.set(state, mask)
        return .resume(mask)
    }

    private static let descriptions: [StaticString] = ["non-canonical RIP", "CS not present", "reserved CR0 bit 32",
                                                       "reserved CR4 bit 63", "paging without protected mode",
                                                       "event of reserved type 7"]

    /// The exit after a bad reply: it must be the entry failure. Restore, then try the next corruption.
    mutating func badReplyEntryFailed(raw: UInt32) -> Action {
        let step = devices.badReply.step
        log("vmm: bad reply \(step + 1)/\(BadReplyTest.steps) (\(VirtualMachine.descriptions[step])): VM entry refused, raw \(hex: raw); state restored")
        devices.badReply.step += 1
        if devices.badReply.step < BadReplyTest.steps { return corrupt(step: devices.badReply.step) }
        devices.badReply.active = false
        var state = initial
        state.rip = devices.badReply.returnRIP
        guest.set(state, [.ripAndLength, .codeStackSegments, .controlRegisters])
        return .resume([.ripAndLength, .codeStackSegments, .controlRegisters])
    }
}
