import XCTest
@testable import KernelCore

/// The kernel's reflection of intercepted #DB and #AC: which exits it answers, the event it injects, and
/// the DR6/DR7/RFLAGS the guest's handler sees (as it would natively).
final class ReflectedExceptionTests: XCTestCase {
    func testInterceptsExactlyDebugAndAlignmentCheck() {
        XCTAssertEqual(ReflectedException.interceptBits, 0x0002_0002)
    }

    func testReflectsDebugAndAlignmentCheckOnly() {
        let valid: UInt64 = 1 << 31
        // #DB as a hardware exception (single step, breakpoints, general detect) and as INT1/ICEBP.
        XCTAssertEqual(ReflectedException.event(reflecting: valid | 3 << 8 | 1), valid | 3 << 8 | 1)
        XCTAssertEqual(ReflectedException.event(reflecting: valid | 5 << 8 | 1), valid | 5 << 8 | 1)
        // #AC always has an error code (0), whether or not the exit's format says so.
        XCTAssertEqual(ReflectedException.event(reflecting: valid | 3 << 8 | 17), valid | 1 << 11 | 3 << 8 | 17)
        XCTAssertEqual(ReflectedException.event(reflecting: valid | 1 << 11 | 3 << 8 | 17), valid | 1 << 11 | 3 << 8 | 17)
        // Everything else goes to the VMM: other vectors, NMIs, software interrupts, invalid information.
        for info in [valid | 3 << 8 | 8, valid | 3 << 8 | 13 | 1 << 11, valid | 2 << 8 | 2, valid | 6 << 8 | 3,
                     valid | 4 << 8 | 1, valid | 4 << 8 | 17, 3 << 8 | 1, 3 << 8 | 17, 0] as [UInt64] {
            XCTAssertNil(ReflectedException.event(reflecting: info), "info \(String(info, radix: 16))")
        }
    }

    func testDebugStatusMergesLikeTheCPU() {
        let reset: UInt64 = 0xFFFF_0FF0
        // Single step from the reset value: BS set, nothing else.
        XCTAssertEqual(ReflectedException.debugStatus(previous: reset, pending: 1 << 14), 0xFFFF_4FF0)
        // Breakpoint 1 after an earlier breakpoint 0 and single step: B0-B3 replaced, BS sticky.
        XCTAssertEqual(ReflectedException.debugStatus(previous: 0xFFFF_4FF1, pending: 1 << 1), 0xFFFF_4FF2)
        // General detect (BD) accumulates too.
        XCTAssertEqual(ReflectedException.debugStatus(previous: reset, pending: 1 << 13 | 1), 0xFFFF_2FF1)
        // RTM (bit 16) and bus lock (bit 11) are active low in DR6, positive in the qualification.
        XCTAssertEqual(ReflectedException.debugStatus(previous: reset, pending: 1 << 16 | 1 << 14), 0xFFFE_4FF0)
        XCTAssertEqual(ReflectedException.debugStatus(previous: reset, pending: 1 << 11), 0xFFFF_07F0)
        // An earlier RTM #DB does not stay: the active-low bits show only the new conditions.
        XCTAssertEqual(ReflectedException.debugStatus(previous: 0xFFFE_0FF0, pending: 1 << 14), 0xFFFF_4FF0)
        // Bits the qualification does not define, bit 12 and the upper half stay out of DR6.
        XCTAssertEqual(ReflectedException.debugStatus(previous: 0xFFFF_FFFF_FFFF_FFFF, pending: 0xFFFF_FFFF_FFFE_0000 | 1 << 12),
                       0xFFFF_EFF0)
        // A #DB with no condition (ICEBP): B0-B3 cleared, the rest kept.
        XCTAssertEqual(ReflectedException.debugStatus(previous: 0xFFFF_4FF3, pending: 0), 0xFFFF_4FF0)
    }

    func testSVMDebugStatusIsTheVMCBsUnlessItShowsNoCondition() {
        // What the CPU wrote stays: single step, breakpoint 2, an old BS beside a new breakpoint.
        XCTAssertEqual(ReflectedException.debugStatus(svmDR6: 0xFFFF_4FF0, rflags: 0x302), 0xFFFF_4FF0)
        XCTAssertEqual(ReflectedException.debugStatus(svmDR6: 0xFFFF_0FF4, rflags: 0x202), 0xFFFF_0FF4)
        XCTAssertEqual(ReflectedException.debugStatus(svmDR6: 0xFFFF_4FF1, rflags: 0x302), 0xFFFF_4FF1)
        // No condition and TF set (Bochs): a single step.
        XCTAssertEqual(ReflectedException.debugStatus(svmDR6: 0xFFFF_0FF0, rflags: 0x302), 0xFFFF_4FF0)
        // No condition, no TF: nothing to add.
        XCTAssertEqual(ReflectedException.debugStatus(svmDR6: 0xFFFF_0FF0, rflags: 0x202), 0xFFFF_0FF0)
    }

    func testHandlerEntryClearsGeneralDetectAndSetsRFForFaults() {
        XCTAssertEqual(ReflectedException.debugControlOnEntry(0x2401), 0x401)
        XCTAssertEqual(ReflectedException.debugControlOnEntry(0x90401), 0x90401)
        let alignment: UInt64 = 1 << 31 | 1 << 11 | 3 << 8 | 17, debug: UInt64 = 1 << 31 | 3 << 8 | 1
        XCTAssertEqual(ReflectedException.flagsForInjection(0x4_0202, event: alignment), 0x5_0202)
        // #DB: traps push RF as it is; an instruction-breakpoint fault pushes it clear (the handler sets it).
        XCTAssertEqual(ReflectedException.flagsForInjection(0x202, event: debug), 0x202)
    }
}
