import KernelCore
import SwiftletABI
import XCTest

/// Interrupted event delivery is never lost: what an exit caught in delivery (VMX IDT-vectoring
/// information, SVM EXITINTINFO) is injected again at the next entry, unless the VMM injects its own; and
/// recall, which turns the next entry into a `recall` exit.
final class InterruptedEventTests: XCTestCase {
    typealias T = InterruptedEvent.EventType
    let valid = InterruptedEvent.EventType.valid

    func testNoEventNothingToInject() {
        XCTAssertEqual(InterruptedEvent.fromVMX(vectoring: 0x0000_0B0E, errorCode: 5, exitInstructionLength: 3), .none,
                       "bit 31 clear: not valid, whatever the other bits say")
        XCTAssertEqual(InterruptedEvent.fromSVM(exitInterruptionInfo: 0x5_0000_0B0E, injected: 0), .none)
        XCTAssertNil(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: .none))
    }

    func testAnExternalInterruptIsInjectedAgain() {
        // Vector 0x30, type 0; VMX bit 12 (undefined) and the instruction length of a non-software event dropped.
        let vmx = InterruptedEvent.fromVMX(vectoring: valid | 0x1000 | 0x30, errorCode: 0x77, exitInstructionLength: 2)
        XCTAssertEqual(vmx, InterruptedEvent(information: valid | 0x30, errorCode: 0, instructionLength: 0))
        let svm = InterruptedEvent.fromSVM(exitInterruptionInfo: valid | 0x30, injected: 0)
        XCTAssertEqual(svm, vmx, "both backends give the same neutral event")
        XCTAssertEqual(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: vmx),
                       EntryInjection(information: valid | 0x30, errorCode: 0, instructionLength: 0, clearNMIBlocking: false))
    }

    func testAHardwareExceptionKeepsItsErrorCode() {
        // #PF (14), type 3, error code valid, error code 6.
        let info = valid | T.errorCodeValid | (3 << 8) | 14
        let vmx = InterruptedEvent.fromVMX(vectoring: info, errorCode: 6, exitInstructionLength: 0)
        let svm = InterruptedEvent.fromSVM(exitInterruptionInfo: info | 6 << 32, injected: 0)
        XCTAssertEqual(vmx, InterruptedEvent(information: info, errorCode: 6, instructionLength: 0))
        XCTAssertEqual(svm, vmx)
        XCTAssertEqual(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: svm)?.errorCode, 6)
        // Without the error-code-valid bit the field is not taken.
        XCTAssertEqual(InterruptedEvent.fromVMX(vectoring: valid | (3 << 8) | 13, errorCode: 9, exitInstructionLength: 0).errorCode, 0)
    }

    func testSoftwareEventsCarryTheirInstructionLengthOnVMX() {
        // INT 0x80 (type 4, 2 bytes), INT3 (type 6, 1 byte), ICEBP (type 5, 1 byte).
        for (type, vector, length): (UInt64, UInt64, UInt64) in [(4, 0x80, 2), (6, 3, 1), (5, 1, 1)] {
            let event = InterruptedEvent.fromVMX(vectoring: valid | type << 8 | vector, errorCode: 0, exitInstructionLength: length)
            XCTAssertEqual(event.instructionLength, length)
            XCTAssertEqual(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: event)?.instructionLength, length)
        }
    }

    func testOnSVMTheGuestsOwnSoftwareEventIsReexecutedAndAnInjectedOneInjectedAgain() {
        let intN = valid | (4 << 8) | 0x80, int3 = valid | (3 << 8) | 3
        XCTAssertEqual(InterruptedEvent.fromSVM(exitInterruptionInfo: intN, injected: 0), .none,
                       "the guest's INT 0x80: RIP is still at it, re-executing raises it again")
        XCTAssertEqual(InterruptedEvent.fromSVM(exitInterruptionInfo: int3, injected: 0), .none, "INT3 likewise")
        XCTAssertEqual(InterruptedEvent.fromSVM(exitInterruptionInfo: intN, injected: intN).information, intN,
                       "injected by the kernel: nothing would raise it again")
        XCTAssertEqual(InterruptedEvent.fromSVM(exitInterruptionInfo: valid | (3 << 8) | 6, injected: 0).information,
                       valid | (3 << 8) | 6, "#UD is a hardware exception: injected again")
    }

    func testAnInterruptedNMIIsInjectedWithNMIBlockingCleared() {
        let nmi = InterruptedEvent.fromVMX(vectoring: valid | (2 << 8) | 2, errorCode: 0, exitInstructionLength: 0)
        let injection = EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: nmi)
        XCTAssertEqual(injection?.information, valid | (2 << 8) | 2)
        XCTAssertEqual(injection?.clearNMIBlocking, true, "VM entry refuses an NMI while blocking by NMI is set")
        let external = InterruptedEvent.fromVMX(vectoring: valid | 0x20, errorCode: 0, exitInstructionLength: 0)
        XCTAssertEqual(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: external)?.clearNMIBlocking, false)
    }

    func testTheVMMsInjectionWinsAndATaskSwitchIsOnlyHandedOver() {
        let interrupted = InterruptedEvent(information: valid | 0x30, errorCode: 0, instructionLength: 0)
        let own = valid | T.errorCodeValid | (3 << 8) | 13
        XCTAssertEqual(EntryInjection.decide(vmmEvent: own, vmmErrorCode: 4, vmmInstructionLength: 2, interrupted: interrupted),
                       EntryInjection(information: own, errorCode: 4, instructionLength: 2, clearNMIBlocking: false))
        XCTAssertNil(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: interrupted.at(.taskSwitch)),
                     "the task switch through a task gate is the delivery: the VMM finishes it")
        XCTAssertNotNil(EntryInjection.decide(vmmEvent: 0, vmmErrorCode: 0, vmmInstructionLength: 0, interrupted: interrupted.at(.nestedPageFault)))
    }

    // MARK: The vCPU object

    func testTheExitMessageAlwaysShowsAnInterruptedEventAndTheNextEntryConsumesIt() {
        var vcpu = VCPU()
        vcpu.reason = .cpuid
        XCTAssertTrue(vcpu.setMask([.generalA, .ripAndLength], for: UInt64(ExitReason.cpuid.rawValue)))
        XCTAssertEqual(vcpu.messageMask(), [.generalA, .ripAndLength])
        vcpu.interrupted = InterruptedEvent(information: valid | 0x30, errorCode: 0, instructionLength: 0)
        XCTAssertEqual(vcpu.messageMask(), [.generalA, .ripAndLength, .event], "the VMM must see what it could override")
        vcpu.completeMessage(vcpu.messageMask())
        XCTAssertEqual(vcpu.state.event, valid | 0x30)
        XCTAssertEqual(vcpu.entryInjection()?.information, valid | 0x30, "no injection in the reply: delivered again")
        XCTAssertEqual(vcpu.interrupted, .none)
        XCTAssertNil(vcpu.entryInjection(), "once")
    }

    func testRecallIsIdempotentUntilDeliveredAndHoldsBackAPendingInjection() {
        var vcpu = VCPU()
        XCTAssertFalse(vcpu.takeRecall())
        vcpu.requestRecall()
        vcpu.requestRecall()
        vcpu.pendingEvent = valid | 0x40
        vcpu.state.instructionLength = 0
        XCTAssertTrue(vcpu.takeRecall())
        XCTAssertFalse(vcpu.takeRecall(), "two recalls, one recall exit")
        XCTAssertEqual(vcpu.pendingEvent, 0)
        XCTAssertEqual(vcpu.interrupted.information, valid | 0x40, "the reply's injection, not yet delivered, is shown")
        vcpu.reason = .recall
        vcpu.state.instructionLength = 3
        vcpu.state.qualification = 9
        vcpu.completeMessage(vcpu.messageMask())
        XCTAssertEqual(vcpu.state.event, valid | 0x40)
        XCTAssertEqual(vcpu.state.instructionLength, 0, "a recall has no instruction to step over")
        XCTAssertEqual(vcpu.state.qualification, 0)
        XCTAssertEqual(vcpu.entryInjection()?.information, valid | 0x40, "and still delivered at the next entry")
    }
}
