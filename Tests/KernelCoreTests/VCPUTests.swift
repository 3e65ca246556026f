import KernelCore
import SwiftletABI
import XCTest

/// The neutral vCPU object: what a VMM's reply changes, which replies the kernel refuses to enter with,
/// and the neutral qualifications both backends produce.
final class VCPUTests: XCTestCase {
    func reply(_ mask: TransferMask, _ fill: (inout GuestState) -> Void) -> [UInt64] {
        var state = GuestState()
        fill(&state)
        var words = [UInt64](repeating: 0, count: VCPUMessage.words)
        words.withUnsafeMutableBufferPointer { VCPUMessage.store(state, mask: mask, into: $0.baseAddress!) }
        return words
    }

    func testAReplyWritesOnlyWhatItsMaskSelectsAndMarksItDirty() {
        var vcpu = VCPU()
        vcpu.state.rbx = 7
        let words = reply([.generalA, .ripAndLength]) { $0.rax = 1; $0.rbx = 2; $0.rip = 0x1000; $0.rsi = 99 }
        words.withUnsafeBufferPointer { vcpu.acceptReply($0.baseAddress!) }
        XCTAssertEqual(vcpu.state.rax, 1)
        XCTAssertEqual(vcpu.state.rbx, 2)
        XCTAssertEqual(vcpu.state.rip, 0x1000)
        XCTAssertEqual(vcpu.state.rsi, 0, "not in the mask: unchanged")
        XCTAssertEqual(vcpu.dirty, [.generalA, .ripAndLength])
        XCTAssertNil(vcpu.refusal)
    }

    func testAnInjectedEventKeepsOnlyTheArchitecturalBits() {
        var vcpu = VCPU()
        let words = reply([.event]) { $0.event = 0xFFFF_0000_F000_0B0D; $0.eventErrorCode = 0x1_0000_0005 }
        words.withUnsafeBufferPointer { vcpu.acceptReply($0.baseAddress!) }
        XCTAssertEqual(vcpu.pendingEvent, 0x8000_0B0D)
        XCTAssertEqual(vcpu.pendingErrorCode, 5)
        XCTAssertFalse(vcpu.dirty.contains(.event), "an event is injected once, not written back as state")
        let invalid = reply([.event]) { $0.event = 0x8000_0000 }
        var other = VCPU()
        invalid.withUnsafeBufferPointer { other.acceptReply($0.baseAddress!) }
        XCTAssertEqual(other.pendingEvent, 0x8000_0000)
        XCTAssertNil(other.refusal, "type 0 (external interrupt) is fine")
    }

    func testXSETBVGetsTheFaultACPUWouldGive() {
        var vcpu = VCPU()
        vcpu.refuseXSETBV(guestCR4: 0x20)
        XCTAssertEqual(vcpu.pendingEvent, 0x8000_0306, "CR4.OSXSAVE clear: #UD")
        vcpu.refuseXSETBV(guestCR4: 0x20 | 1 << 18)
        XCTAssertEqual(vcpu.pendingEvent, 0x8000_0B0D, "CR4.OSXSAVE set: #GP with an error code")
        XCTAssertEqual(vcpu.pendingErrorCode, 0)
        XCTAssertNil(vcpu.refusal)
    }

    func testTheInjectionStateTravelsWithoutTheRestOfTheSystemState() {
        var state = GuestState()
        state.interruptibility = 1
        state.activity = 1
        state.rflags = 0x202
        state.cr0 = 0x11
        var words = [UInt64](repeating: 0, count: VCPUMessage.words)
        let mask = TransferMask([.ripAndLength]).union(.injectionState)
        words.withUnsafeMutableBufferPointer { VCPUMessage.store(state, mask: mask, into: $0.baseAddress!) }
        XCTAssertEqual(words[VCPUMessage.interruptibility], 1)
        XCTAssertEqual(words[VCPUMessage.activity], 1)
        XCTAssertEqual(words[VCPUMessage.rflags], 0x202)
        XCTAssertEqual(words[VCPUMessage.controlRegisters], 0, "not selected")
        XCTAssertTrue(TransferMask.rareSystemState.isDisjoint(with: [.interruptibility, .event]))
        XCTAssertEqual(TransferMask.rareSystemState.union([.interruptibility, .event]), .systemState)
    }

    func testTheInterruptWindowRequestStandsUntilItIsServed() {
        var vcpu = VCPU()
        reply([.requestInterruptWindow]) { _ in }.withUnsafeBufferPointer { vcpu.acceptReply($0.baseAddress!) }
        XCTAssertTrue(vcpu.interruptWindowRequested)
        reply([.ripAndLength]) { $0.rip = 5 }.withUnsafeBufferPointer { vcpu.acceptReply($0.baseAddress!) }
        XCTAssertTrue(vcpu.interruptWindowRequested, "another exit's reply does not cancel it")
    }

    func testTheKernelRefusesStateNoBackendCouldEnter() {
        func refusal(_ mask: TransferMask, _ fill: (inout GuestState) -> Void) -> VCPU.Refusal? {
            var vcpu = VCPU()
            vcpu.state = GuestState.resetState
            reply(mask, { state in state = GuestState.resetState; fill(&state) }).withUnsafeBufferPointer { vcpu.acceptReply($0.baseAddress!) }
            return vcpu.refusal
        }
        XCTAssertEqual(refusal(.ripAndLength) { $0.rip = 0x8000_0000_0000_0000 }, .nonCanonicalRIP)
        XCTAssertNil(refusal(.ripAndLength) { $0.rip = 0xFFFF_8000_0000_0000 }, "canonical upper half")
        XCTAssertEqual(refusal(.codeStackSegments) { $0.cs.attributes = 0x1B }, .codeSegmentNotPresent)
        XCTAssertEqual(refusal(.controlRegisters) { $0.cr0 |= 1 << 32 }, .reservedControlRegisterBits)
        XCTAssertEqual(refusal(.controlRegisters) { $0.cr4 |= 1 << 63 }, .reservedControlRegisterBits)
        XCTAssertEqual(refusal(.event) { $0.event = 0x30 | (7 << 8) | (1 << 31) }, .reservedEventType)
        XCTAssertEqual(refusal(.controlRegisters) { $0.cr0 = 0x8000_0010 }, .inconsistentControlRegisters, "PG without PE")
        XCTAssertEqual(refusal(.controlRegisters) { $0.cr0 = 0x2000_0011 }, .inconsistentControlRegisters, "NW without CD")
        XCTAssertNil(refusal(.controlRegisters) { $0.cr0 = 0x8000_0031 }, "long-mode CR0")
        XCTAssertEqual(refusal(.efer) { $0.efer = 1 << 20 }, .reservedEFERBits)
        XCTAssertNil(refusal(.efer) { $0.efer = 0xD01 }, "SCE, LME, LMA, NXE")
        XCTAssertEqual(VCPU.Refusal.nonCanonicalRIP.raw, 0xFFFF_0001)
        // Shutdown and wait-for-SIPI would block host interrupts for good: only active and HLT.
        XCTAssertEqual(refusal(.interruptibility) { $0.activity = 3 }, .unsupportedActivityState, "wait-for-SIPI")
        XCTAssertEqual(refusal(.interruptibility) { $0.activity = 2 }, .unsupportedActivityState, "shutdown")
        XCTAssertEqual(refusal(.interruptibility) { $0.activity = UInt64.max }, .unsupportedActivityState)
        XCTAssertNil(refusal(.interruptibility) { $0.activity = 1 }, "HLT")
    }

    /// No user value reaches a trapping operation unchecked: replies of extreme and random words, and exit
    /// masks for any reason number, are taken or refused, never a trap.
    func testNoReplyWordCanTrap() {
        var generator = ReplyWordGenerator(seed: 0x5EED_0009)
        let extremes: [UInt64] = [0, 1, UInt64.max, 1 << 63, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000]
        for round in 0..<2000 {
            var words = [UInt64](repeating: 0, count: VCPUMessage.words)
            for index in words.indices {
                words[index] = round < 7 ? extremes[round] : (generator.next() & 1 == 0 ? extremes[Int(generator.next() % 7)] : generator.next())
            }
            var vcpu = VCPU()
            words.withUnsafeBufferPointer { vcpu.acceptReply($0.baseAddress!) }
            _ = vcpu.refusal
            XCTAssertEqual(vcpu.pendingEvent & ~UInt64(0x8000_0FFF), 0)
            XCTAssertLessThanOrEqual(vcpu.pendingErrorCode, 0xFFFF_FFFF)
            XCTAssertTrue(vcpu.dirty.isSubset(of: VCPU.everything))
            _ = vcpu.setMask(TransferMask(rawValue: words[0]), for: words[1])
            _ = vcpu.setMask(TransferMask(rawValue: words[2]), for: words[3] & 0xFFFF)
        }
        var vcpu = VCPU()
        for reason in [UInt64(0), 31, 32, 0xFFFF, 0x1_0000, UInt64.max] {
            _ = vcpu.setMask(.rsp, for: reason)
        }
        XCTAssertTrue(vcpu.setMask(.rsp, for: 0xFFFF), "other (0xFFFF) has the last mask slot")
        XCTAssertFalse(vcpu.setMask(.rsp, for: UInt64.max))
    }

    func testExitMasksPerReason() {
        var vcpu = VCPU()
        XCTAssertEqual(vcpu.mask(for: .cpuid), VCPU.everything)
        XCTAssertTrue(vcpu.setMask([.generalA, .ripAndLength], for: UInt64(ExitReason.cpuid.rawValue)))
        XCTAssertEqual(vcpu.mask(for: .cpuid), [.generalA, .ripAndLength])
        XCTAssertEqual(vcpu.mask(for: .io), VCPU.everything)
        XCTAssertFalse(vcpu.setMask(.generalA, for: 999), "no such reason")
        XCTAssertTrue(vcpu.setMask(.rsp, for: 0))
        XCTAssertEqual(vcpu.mask(for: .other), .rsp)
    }

    func testNeutralQualificationsAreTheSameFromBothBackends() {
        // OUT DX, AL to 0x510: VMX qualification vs SVM EXITINFO1 (port 0x510, size 8 bit, OUT).
        let fromVMX = IOAccess(vmxQualification: 0x0510_0000)
        let fromSVM = IOAccess(svmExitInfo1: 0x0510_0010)
        XCTAssertEqual(fromVMX, fromSVM)
        XCTAssertEqual(IOAccess(qualification: fromSVM.qualification), fromSVM)
        XCTAssertEqual(NestedPageFaultAccess.fromSVM(0b0_0110), NestedPageFaultAccess.write)
        XCTAssertEqual(NestedPageFaultAccess.fromSVM(0b1_0100), NestedPageFaultAccess.fetch)
        XCTAssertEqual(NestedPageFaultAccess.fromSVM(0b0_0100), NestedPageFaultAccess.read)
    }
}

/// A small deterministic generator for the reply fuzz (no Foundation randomness: replayable).
struct ReplyWordGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
