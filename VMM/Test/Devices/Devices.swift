import SwiftletABI
import SwiftletUser
import UserPlatform

/// The test machine's devices: a debug console port, a scratch port, an interrupt-request port, the
/// benchmark ports, the exit-count port, the done port, one MMIO register and one MSR. The hostile VM gets only the console;
/// everything unbacked reads as all ones and ignores writes (and is counted).
struct Devices {
    static let consolePort: UInt16 = 0xE9
    static let scratchPort: UInt16 = 0x510, windowPort: UInt16 = 0x511, benchRecordPort: UInt16 = 0x512
    static let benchPort: UInt16 = 0x513, badReplyPort: UInt16 = 0x514, fpuPort: UInt16 = 0x515, unmapPort: UInt16 = 0x516
    /// IN: the host-only-instruction exits so far, cache control in bits 0-15, MONITOR/MWAIT in bits 16-31.
    static let exitCountPort: UInt16 = 0x517
    /// OUT: the VMM runs the debug-register guest in another VM before it resumes the test guest.
    static let debugRegisterPort: UInt16 = 0x518
    static let donePort: UInt16 = 0xF4
    static let unmappedPage: UInt64 = 0x6_0000
    static let mmioRegister: UInt64 = 0x3F00_0000
    static let scratchMSR: UInt32 = 0x4000_0100

    enum WriteResult { case done, requestInterruptWindow, badReplyTest, unmapPage, runDebugRegisterGuest, finished(UInt64) }

    var console = DebugConsole()
    var bench = BenchDevice()
    var badReply = BadReplyTest()
    var scratch: UInt64 = 0
    var mmio: UInt64 = 0
    var msrValue: UInt64 = 0
    var windowPending = false
    var unbackedAccesses: UInt64 = 0
    var unhandledExits: UInt64 = 0
    var cacheControlExits: UInt64 = 0
    var monitorExits: UInt64 = 0
    /// The guest's CR8 (VMX: every MOV to or from CR8 exits).
    var taskPriority: UInt64 = 0
    /// The unmap test: the page was taken away, and the guest's access to it faulted since.
    var pageUnmapped = false
    var unmappedPageFaulted = false
    /// Failures of the debug-register guest the VMM ran meanwhile (`runDebugRegisterGuest`).
    var debugRegisterFailures: UInt64 = 0

    mutating func read(port: UInt16, size: Int, kind: VirtualMachine.Kind) -> UInt64 {
        if kind == .test && port == Devices.scratchPort { return ~scratch }
        if kind == .test && port == Devices.exitCountPort { return (cacheControlExits & 0xFFFF) | (monitorExits & 0xFFFF) << 16 }
        unbackedAccesses += 1
        return UInt64.max
    }

    /// `registers`: the guest's RBX, RCX and RSI (the benchmark ports' arguments).
    mutating func write(port: UInt16, value: UInt64, size: Int, kind: VirtualMachine.Kind,
                        registers: (rbx: UInt64, rcx: UInt64, rsi: UInt64), arrival: UInt64) -> WriteResult {
        if port == Devices.consolePort {
            console.put(UInt8(truncatingIfNeeded: value), guest: kind == .test ? "test guest" : "hostile guest")
            return .done
        }
        guard kind == .test else {
            unbackedAccesses += 1
            return .done
        }
        switch port {
        case Devices.scratchPort: scratch = value
        case Devices.windowPort:
            windowPending = true
            return .requestInterruptWindow
        case Devices.benchRecordPort: bench.record(metric: registers.rbx, value: registers.rcx)
        case Devices.benchPort: bench.exitToHandler(cpuid: false, guestStart: registers.rsi, arrival: arrival)
        case Devices.badReplyPort: return .badReplyTest
        case Devices.unmapPort: return .unmapPage
        case Devices.debugRegisterPort: return .runDebugRegisterGuest
        case Devices.fpuPort:
            // The VMM's own vector state: the kernel must swap the guest's out and back in.
            user_xmm3_set(0x0BAD_0BAD_0BAD_0BAD, 0x0BAD_0BAD_0BAD_0BAD)
        case Devices.donePort: return .finished(value)
        default: unbackedAccesses += 1
        }
        return .done
    }

    mutating func readMemory(_ address: UInt64) -> UInt64 {
        if address == Devices.mmioRegister { return mmio &+ 1 }
        unbackedAccesses += 1
        return UInt64.max
    }

    mutating func writeMemory(_ address: UInt64, value: UInt64) {
        if address == Devices.mmioRegister { mmio = value } else { unbackedAccesses += 1 }
    }
}

/// Port 0xE9: bytes to console lines, tagged with the guest's name.
struct DebugConsole {
    var line = LogLine()

    mutating func put(_ byte: UInt8, guest: StaticString) {
        if byte == 10 || line.count >= 200 {
            log("vmm: [\(guest)] \(line)")
            line = LogLine()
            if byte == 10 { return }
        }
        if byte >= 32 && byte < 127 { line.append(byte) }
    }
}
