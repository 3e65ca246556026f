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
