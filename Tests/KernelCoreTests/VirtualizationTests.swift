import XCTest
@testable import KernelCore
import SwiftletABI

/// The pure parts of the virtual-CPU layer: VMCS field encodings, VMCB offsets, exit-reason translation
/// from both backends to one set, I/O exit decoding, segment-rights conversion and the transfer-mask
/// marshalling of guest state.
final class VirtualizationTests: XCTestCase {
    func testVMCSEncodingsDecodeWidthAndKind() {
        XCTAssertEqual(VMCSField.guestCS.width, .bits16)
        XCTAssertEqual(VMCSField.guestCS.kind, .guestState)
        XCTAssertEqual(VMCSField.eptPointer.width, .bits64)
        XCTAssertEqual(VMCSField.eptPointer.kind, .control)
        XCTAssertEqual(VMCSField.exitReason.width, .bits32)
        XCTAssertEqual(VMCSField.exitReason.kind, .readOnlyData)
        XCTAssertEqual(VMCSField.guestRIP.width, .natural)
        XCTAssertEqual(VMCSField.hostRIP.kind, .hostState)
        XCTAssertEqual(VMCSField.guestPhysicalAddress.kind, .readOnlyData)
        // Every encoding is a full (even) field, and no two fields share one.
        XCTAssertTrue(VMCSField.allCases.allSatisfy { $0.rawValue & 1 == 0 })
        XCTAssertEqual(Set(VMCSField.allCases.map(\.rawValue)).count, VMCSField.allCases.count)
    }

    func testVMCBOffsetsFollowTheAPM() {
        XCTAssertEqual(VMCBLayout.exitCode, 0x70)
        XCTAssertEqual(VMCBLayout.nextRIP, 0xC8)
        XCTAssertEqual(VMCBLayout.cs - VMCBLayout.es, 16, "segments are 16 bytes")
        XCTAssertEqual(VMCBLayout.tr, VMCBLayout.saveArea + 9 * 16)
        XCTAssertEqual(VMCBLayout.rip, 0x578)
        XCTAssertEqual(VMCBLayout.rax, 0x5F8)
    }

    func testBothBackendsTranslateToTheSameReasons() {
        let pairs: [(UInt32, UInt64, ExitReason)] = [
            (10, 0x72, .cpuid), (12, 0x78, .hlt), (30, 0x7B, .io), (48, 0x400, .nestedPageFault),
            (2, 0x7F, .tripleFault), (7, 0x64, .interruptWindow), (18, 0x81, .hypercall), (1, 0x60, .externalInterrupt),
            (33, 0xFFFF_FFFF, .invalidGuestState), (55, 0x8D, .xsetbv), (0, 0x46, .exception),
            // The host-only instructions the intercept review added: INVD, WBINVD, MONITOR, MWAIT, task switch.
            (13, 0x76, .cacheControl), (54, 0x89, .cacheControl), (39, 0x8A, .monitorOrWait), (36, 0x8B, .monitorOrWait),
            (9, 0x7D, .taskSwitch),
        ]
        for (vmx, svm, reason) in pairs {
            XCTAssertEqual(ExitReason.fromVMX(vmx), reason, "VMX \(vmx)")
            XCTAssertEqual(ExitReason.fromSVM(svm, exitInfo1: 0), reason, "SVM \(svm)")
        }
        XCTAssertEqual(ExitReason.fromVMX(31), .rdmsr)
        XCTAssertEqual(ExitReason.fromVMX(32), .wrmsr)
        XCTAssertEqual(ExitReason.fromSVM(0x7C, exitInfo1: 0), .rdmsr)
        XCTAssertEqual(ExitReason.fromSVM(0x7C, exitInfo1: 1), .wrmsr)
        XCTAssertEqual(ExitReason.fromSVM(0x0000_0000_FFFF_FFFF, exitInfo1: 0), .invalidGuestState, "QEMU's VMEXIT_INVALID")
        XCTAssertEqual(ExitReason.fromSVM(UInt64.max, exitInfo1: 0), .invalidGuestState)
        XCTAssertEqual(ExitReason.fromVMX(0x8000_0021), .invalidGuestState, "entry-failure bit set")
        XCTAssertEqual(ExitReason.fromVMX(62), .other)
        // The host's NMIs and SMIs are the kernel's (taken at STGI), never a VMM's exception exit.
        XCTAssertEqual(ExitReason.fromSVM(0x61, exitInfo1: 0), .externalInterrupt, "NMI")
        XCTAssertEqual(ExitReason.fromSVM(0x62, exitInfo1: 0), .externalInterrupt, "SMI")
        XCTAssertEqual(ExitReason.fromSVM(0x8E, exitInfo1: 0), .other, "RDPRU: the VMM raises #UD")
        for reason in [ExitReason.cacheControl, .monitorOrWait, .taskSwitch] {
            XCTAssertLessThan(VCPU.maskIndex(reason), 31, "\(reason) has an exit mask of its own")
        }
    }

    func testAnIOAccessNeverTrapsOnWhatItIsGiven() {
        // `size` is a public field: 0 or an extreme value must wrap into the 3-bit size field (this trapped:
        // UInt64(size - 1) of 0, and size - 1 of Int.min).
        for size in [0, -1, Int.min, Int.max, 9] {
            let access = IOAccess(port: 0xFFFF, size: size, isIn: true, isString: true, isRepeated: true)
            XCTAssertEqual(access.qualification & 0xFFFF_0000, 0xFFFF_0000)
            XCTAssertEqual(access.qualification & 0x38, 0x38)
        }
        XCTAssertEqual(IOAccess(vmxQualification: UInt64.max).size, 8)
        XCTAssertEqual(IOAccess(svmExitInfo1: UInt64.max).port, 0xFFFF)
    }

    func testIOExitsDecodeTheSameFromBothBackends() {
        // OUT DX, AL to 0x3F8; IN EAX, DX from 0xCFC; REP OUTSB to 0x80.
        XCTAssertEqual(IOAccess(vmxQualification: 0x03F8_0000), IOAccess(port: 0x3F8, size: 1, isIn: false, isString: false, isRepeated: false))
        XCTAssertEqual(IOAccess(svmExitInfo1: 0x03F8_0010), IOAccess(port: 0x3F8, size: 1, isIn: false, isString: false, isRepeated: false))
        XCTAssertEqual(IOAccess(vmxQualification: 0x0CFC_0000 | 8 | 3), IOAccess(port: 0xCFC, size: 4, isIn: true, isString: false, isRepeated: false))
        XCTAssertEqual(IOAccess(svmExitInfo1: 0x0CFC_0000 | 1 | (1 << 6)), IOAccess(port: 0xCFC, size: 4, isIn: true, isString: false, isRepeated: false))
        XCTAssertEqual(IOAccess(vmxQualification: 0x0080_0000 | 16 | 32), IOAccess(port: 0x80, size: 1, isIn: false, isString: true, isRepeated: true))
        XCTAssertEqual(IOAccess(svmExitInfo1: 0x0080_0000 | 4 | 8 | 16), IOAccess(port: 0x80, size: 1, isIn: false, isString: true, isRepeated: true))
    }

    func testSegmentRightsConvertBothWays() {
        let code64: UInt16 = 0xA9B          // type 0xB, S, P, L, G
        XCTAssertEqual(VMXSegmentRights.toVMX(code64), 0xA09B)
        XCTAssertEqual(VMXSegmentRights.fromVMX(0xA09B), code64)
        XCTAssertEqual(VMXSegmentRights.toVMX(0), VMXSegmentRights.unusable, "not present means unusable")
        XCTAssertEqual(VMXSegmentRights.fromVMX(VMXSegmentRights.unusable | 0x93), 0)
        for attributes in stride(from: UInt16(0x80), to: 0x1000, by: 7) where attributes & 0x80 != 0 {
            XCTAssertEqual(VMXSegmentRights.fromVMX(VMXSegmentRights.toVMX(attributes)), attributes)
        }
    }

    func testTheMaskSelectsWhatTravelsEachWay() {
        var state = GuestState()
        state.rax = 1; state.rcx = 2; state.rdx = 3; state.rbx = 4; state.rsi = 5; state.r15 = 15
        state.rip = 0x1000; state.instructionLength = 2; state.rflags = 0x202; state.cr0 = 0x11; state.efer = 0x500
        state.cs = GuestSegment(selector: 8, attributes: 0xA9B, limit: 0xFFFF_FFFF, base: 0)
        state.qualification = 0x3F8_0000; state.guestPhysical = 0xFEE0_0000
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)
        defer { words.deallocate() }
        words.initialize(repeating: 0xBAD, count: 64)
        let mask: TransferMask = [.generalA, .ripAndLength, .qualification, .codeStackSegments]
        VCPUMessage.store(state, mask: mask, into: words)
        XCTAssertEqual(words[VCPUMessage.mask], mask.rawValue)
        XCTAssertEqual(words[VCPUMessage.generalA + 3], 4)
        XCTAssertEqual(words[VCPUMessage.rip], 0x1000)
        XCTAssertEqual(words[VCPUMessage.instructionLength], 2)
        XCTAssertEqual(words[VCPUMessage.guestPhysical], 0xFEE0_0000)
        XCTAssertEqual(words[VCPUMessage.generalB + 1], 0xBAD, "unselected parts are not written")
        XCTAssertEqual(words[VCPUMessage.efer], 0xBAD)
        XCTAssertLessThanOrEqual(VCPUMessage.words, MessageTag.maximumWords)

        // The reply: the VMM advanced RIP and set RAX; only those come back.
        words[VCPUMessage.rip] = 0x1002
        words[VCPUMessage.generalA] = 0x99
        words[VCPUMessage.efer] = 0xDEAD
        var after = state
        VCPUMessage.load(&after, mask: [.generalA, .ripAndLength], from: words)
        XCTAssertEqual(after.rip, 0x1002)
        XCTAssertEqual(after.rax, 0x99)
        XCTAssertEqual(after.efer, 0x500, "not in the reply's mask: unchanged")
        XCTAssertEqual(after.rsi, 5)

        var everything = GuestState()
        let all = TransferMask(rawValue: (1 << 17) - 1)
        VCPUMessage.store(state, mask: all, into: words)
        VCPUMessage.load(&everything, mask: all, from: words)
        everything.qualification = state.qualification
        everything.guestPhysical = state.guestPhysical
        XCTAssertEqual(everything, state, "a full round trip loses nothing")
    }
}
