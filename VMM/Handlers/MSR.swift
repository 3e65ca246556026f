import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMachine {
    /// RDMSR/WRMSR (every MSR access exits). EFER, the SYSCALL MSRs and the FS/GS bases are the vCPU's own
    /// state in the message (`VCPUOwnMSRs`); the local APIC's MSRs and the rest go to the board
    /// (GuestMSRs), which answers #GP for what it does not model.
    mutating func msr() -> Action {
        let (index, written) = VCPUOwnMSRs.decode(guest)
        let own = VCPUOwnMSRs.access(index, isRead: reason == .rdmsr, value: written, in: guest)
        var changed: TransferMask = .generalA
        switch own {
        case .read(let value): VCPUOwnMSRs.complete(guest, read: value)
        case .written(let parts): changed.formUnion(parts)
        case .generalProtection: return generalProtection()
        case .notOwn where reason == .rdmsr:
            guard let value = board.readMSR(index, now: timestamp()) else { return generalProtection() }
            VCPUOwnMSRs.complete(guest, read: value)
        case .notOwn:
            guard let effect = board.writeMSR(index, written, now: timestamp()) else { return generalProtection() }
            apply(effect)
        }
        advance()
        return .resume(changed.union(Self.stepped))
    }

    /// kvmclock: the guest named the page of its time information or asked for the wall clock.
    mutating func apply(_ effect: GuestMSRs.Effect) {
        guard let scale = KVMClock.scale(tscKHz: tscKHz) else { return }
        switch effect {
        case .systemTime(let value) where value & 1 != 0:
            let now = timestamp()
            let time = KVMClock.timeInfo(version: 2, tsc: now, systemTime: KVMClock.nanoseconds(now &- bootTSC, scale), scale: scale)
            _ = memory.write(time, at: value & ~UInt64(1))          // outside RAM: nothing to write, as KVM
        case .wallClock(let address):
            // The wall clock at this boot's system time 0 (a reset restarts kvmclock, not the RTC).
            let wall = wallClockNanoseconds(at: bootTSC)
            let seconds = UInt32(truncatingIfNeeded: wall / 1_000_000_000), nanoseconds = UInt32(wall % 1_000_000_000)
            _ = memory.write(KVMClock.wallClock(version: 2, seconds: seconds, nanoseconds: nanoseconds), at: address)
        default:
            break
        }
    }

    func generalProtection() -> Action {
        inject(exception: 13, errorCode: 0)
        return .resume(.event)
    }
}
