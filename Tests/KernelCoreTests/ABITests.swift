import XCTest
@testable import KernelCore
import SwiftletABI

/// The user/kernel interface in Kernel/Interface: numbers, message tags, timeouts, rights, UTCB layout.
final class SyscallABITests: XCTestCase {
    func testSyscallNumbersAreDenseFromOneToCount() {
        XCTAssertNil(Syscall(rawValue: 0), "0 is not a system call (a zeroed RAX must fail)")
        for number in 1..<Syscall.count {
            XCTAssertEqual(Syscall(rawValue: number)?.rawValue, number)
        }
        XCTAssertNil(Syscall(rawValue: Syscall.count))
        XCTAssertEqual(Syscall.call.rawValue, 1)
        XCTAssertEqual(Syscall.replyWait.rawValue, 2)
        XCTAssertEqual(Syscall.machineControl.rawValue, 12)
    }

    func testEverySyscallErrorHasItsOwnCodeAndName() {
        var names = Set<String>()
        var code: UInt64 = 0
        while let error = SyscallError(rawValue: code) {
            names.insert(error.name.description)
            code += 1
        }
        XCTAssertGreaterThanOrEqual(code, 19, "error codes run from 0 to at least 18")
        XCTAssertEqual(names.count, Int(code), "every error has a distinct name")
        for gap in code...255 { XCTAssertNil(SyscallError(rawValue: gap), "codes have no gaps") }
        XCTAssertEqual(SyscallError.ok.rawValue, 0)
        XCTAssertEqual(SyscallError.timeout.name.description, "timeout")
        XCTAssertEqual(SyscallError.transferFailed.rawValue, 18)
    }

    func testObjectTypesAndRightsHaveFixedEncodings() {
        XCTAssertEqual(ObjectType.empty.rawValue, 0)
        XCTAssertEqual(ObjectType.task.rawValue, 1)
        XCTAssertEqual(ObjectType.thread.rawValue, 2)
        XCTAssertEqual(ObjectType.endpoint.rawValue, 3)
        XCTAssertEqual(ObjectType.factory.rawValue, 4)
        XCTAssertEqual(ObjectType.machine.rawValue, 5)
        XCTAssertEqual(ObjectType.interruptController.rawValue, 6)
        XCTAssertEqual(ObjectType.interrupt.rawValue, 7)
        XCTAssertEqual(ObjectType.reply.rawValue, 8)
        XCTAssertEqual(ObjectType.physicalMemory.rawValue, 9)
        XCTAssertEqual(ObjectType.virtualMachine.rawValue, 10)
        XCTAssertEqual(ObjectType.virtualCPU.rawValue, 11)
        XCTAssertNil(ObjectType(rawValue: 12))

        XCTAssertEqual(Rights.send.rawValue, 1)
        XCTAssertEqual(Rights.receive.rawValue, 2)
        XCTAssertEqual(Rights.grant.rawValue, 4)
        XCTAssertEqual(Rights.control.rawValue, 8)
        XCTAssertEqual(Rights.destroy.rawValue, 0x10)
        XCTAssertEqual(Rights.all.rawValue, 0x1F)
        XCTAssertEqual(Rights.all, [.send, .receive, .grant, .control, .destroy])
        let endpointRights: Rights = [.send, .grant]
        XCTAssertTrue(endpointRights.contains(.grant))
        XCTAssertFalse(endpointRights.contains(.receive))
        XCTAssertEqual(endpointRights.intersection([.receive, .grant]), .grant)
    }

    func testThreadStateCodesMatchTheABI() {
        let states: [(ThreadState, ThreadStateCode, UInt64)] = [
            (.inactive, .inactive, 0), (.ready, .ready, 1), (.running, .running, 2),
            (.sending(call: false), .sending, 3), (.sending(call: true), .sending, 3), (.receiving, .receiving, 4),
            (.waitingForReply, .waitingForReply, 5), (.stopped, .stopped, 6), (.faulted, .faulted, 7),
        ]
        for (state, code, raw) in states {
            XCTAssertEqual(state.code, code)
            XCTAssertEqual(state.code.rawValue, raw)
        }
    }

    func testUserContextMessageRegistersFollowTheSyscallConvention() {
        var context = UserContext()
        context.rdx = 10; context.r10 = 11; context.r8 = 12; context.r9 = 13
        XCTAssertEqual((0..<4).map { context.messageRegister($0) }, [10, 11, 12, 13])
        let (mr0, mr1, mr2, mr3) = context.registerMessage
        XCTAssertEqual([mr0, mr1, mr2, mr3], [10, 11, 12, 13])

        context.registerMessage = (20, 21, 22, 23)
        XCTAssertEqual([context.rdx, context.r10, context.r8, context.r9], [20, 21, 22, 23])
        for index in 0..<4 { context.setMessageRegister(index, UInt64(30 + index)) }
        XCTAssertEqual([context.rdx, context.r10, context.r8, context.r9], [30, 31, 32, 33])
        XCTAssertEqual([context.rax, context.rdi, context.rsi, context.r12], [0, 0, 0, 0], "no other register touched")
        XCTAssertEqual(MemoryLayout<UserContext>.size, UserContext.words * 8)
    }
}

final class MessageTagTests: XCTestCase {
    func testFieldsAreEncodedAtTheirBits() {
        let tag = MessageTag(label: 0x1234, words: 5, items: 2)
        XCTAssertEqual(tag.raw, 0x1234 << 16 | 2 << 7 | 5)
        XCTAssertEqual(tag.label, 0x1234)
        XCTAssertEqual(tag.words, 5)
        XCTAssertEqual(tag.items, 2)
        XCTAssertFalse(tag.transferFailed)
        XCTAssertEqual(MessageTag(raw: tag.raw), tag)
        XCTAssertEqual(MessageTag(label: 0).raw, 0)
    }

    func testFieldsDoNotBleedIntoEachOther() {
        let full = MessageTag(label: (1 << 48) - 1, words: 0x7F, items: 0x3F)
        XCTAssertEqual(full.words, 0x7F)
        XCTAssertEqual(full.items, 0x3F)
        XCTAssertEqual(full.label, (1 << 48) - 1)
        XCTAssertFalse(full.transferFailed, "bit 13 is not part of any field")
        XCTAssertEqual(full.raw & (0x3 << 13), 0, "bits 13-15 stay clear")

        let onlyItems = MessageTag(label: 0, words: 0, items: 63)
        XCTAssertEqual(onlyItems.words, 0)
        XCTAssertEqual(onlyItems.label, 0)
        let onlyLabel = MessageTag(label: 1, words: 0, items: 0)
        XCTAssertEqual(onlyLabel.raw, 1 << 16)
        XCTAssertEqual(onlyLabel.items, 0)

        // The kernel's own labels fit the 48-bit field.
        XCTAssertEqual(MessageTag(label: KernelMessageLabel.exception, words: 6).label, KernelMessageLabel.exception)
        XCTAssertEqual(MessageTag(label: KernelMessageLabel.resume, words: 1).label, KernelMessageLabel.resume)
    }

    func testTransferFailedIsBit13AndLeavesTheRestAlone() {
        let tag = MessageTag(label: 0xABCDEF, words: 7, items: 3)
        let failed = tag.with(transferFailed: true)
        XCTAssertTrue(failed.transferFailed)
        XCTAssertEqual(failed.raw, tag.raw | 1 << 13)
        XCTAssertEqual(failed.words, 7)
        XCTAssertEqual(failed.items, 3)
        XCTAssertEqual(failed.label, 0xABCDEF)
        XCTAssertEqual(failed.with(transferFailed: true), failed, "setting twice changes nothing")
        XCTAssertEqual(failed.with(transferFailed: false), tag)
        XCTAssertEqual(tag.with(transferFailed: false), tag)
        XCTAssertTrue(MessageTag(raw: 1 << 13).transferFailed)
        XCTAssertTrue(failed.isValid, "the flag does not count as a word")
    }

    func testValidityCountsTwoWordsPerItem() {
        XCTAssertEqual(MessageTag.maximumWords, 64)
        XCTAssertEqual(MessageTag.registerWords, 4)
        XCTAssertTrue(MessageTag(label: 0).isValid)
        XCTAssertTrue(MessageTag(label: 0, words: 64).isValid)
        XCTAssertFalse(MessageTag(label: 0, words: 65).isValid)
        XCTAssertFalse(MessageTag(label: 0, words: 127).isValid)
        XCTAssertTrue(MessageTag(label: 0, words: 62, items: 1).isValid)
        XCTAssertFalse(MessageTag(label: 0, words: 63, items: 1).isValid)
        XCTAssertTrue(MessageTag(label: 0, words: 0, items: 32).isValid)
        XCTAssertFalse(MessageTag(label: 0, words: 0, items: 33).isValid)
        XCTAssertFalse(MessageTag(label: 0, words: 1, items: 63).isValid)
    }
}

final class TimeoutTests: XCTestCase {
    func testZeroAndInfinite() {
        XCTAssertTrue(Timeout.zero.isZero)
        XCTAssertFalse(Timeout.zero.isInfinite)
        XCTAssertTrue(Timeout.zero.isValid)
        XCTAssertEqual(Timeout.zero, Timeout.microseconds(0))
        XCTAssertEqual(Timeout.zero.ticks(hz: 1000), 0)

        XCTAssertTrue(Timeout.infinite.isInfinite)
        XCTAssertFalse(Timeout.infinite.isZero)
        XCTAssertTrue(Timeout.infinite.isValid)
        XCTAssertEqual(Timeout.infinite.raw, UInt64.max)

        let relative = Timeout.microseconds(1)
        XCTAssertFalse(relative.isZero)
        XCTAssertFalse(relative.isInfinite)
        XCTAssertEqual(relative.raw, 1)
    }

    func testRelativeTimeoutsAreValidUpToTheLimit() {
        XCTAssertEqual(Timeout.maximumMicroseconds, 1 << 40)
        XCTAssertTrue(Timeout.microseconds(Timeout.maximumMicroseconds).isValid)
        XCTAssertFalse(Timeout.microseconds(Timeout.maximumMicroseconds + 1).isValid)
        XCTAssertFalse(Timeout(raw: UInt64.max - 1).isValid, "only all-ones means infinite")
        XCTAssertFalse(Timeout(raw: 1 << 63).isValid)
        XCTAssertTrue(Timeout.microseconds(1_000_000).isValid)
    }

    func testTicksRoundUp() {
        // 100 Hz: one tick is 10 ms.
        XCTAssertEqual(Timeout.microseconds(1).ticks(hz: 100), 1)
        XCTAssertEqual(Timeout.microseconds(9_999).ticks(hz: 100), 1)
        XCTAssertEqual(Timeout.microseconds(10_000).ticks(hz: 100), 1)
        XCTAssertEqual(Timeout.microseconds(10_001).ticks(hz: 100), 2)
        XCTAssertEqual(Timeout.microseconds(20_000).ticks(hz: 100), 2)
        XCTAssertEqual(Timeout.microseconds(1_000_000).ticks(hz: 100), 100)
        // 1000 Hz: one tick is 1 ms.
        XCTAssertEqual(Timeout.microseconds(1_500).ticks(hz: 1000), 2)
        XCTAssertEqual(Timeout.microseconds(3_000).ticks(hz: 1000), 3)
        // 250 Hz: 4 ms.
        XCTAssertEqual(Timeout.microseconds(10_000).ticks(hz: 250), 3)
        // The largest relative timeout at the fastest timer the kernel accepts does not overflow.
        XCTAssertEqual(Timeout.microseconds(Timeout.maximumMicroseconds).ticks(hz: 1000), 1_099_511_628)
        XCTAssertEqual(Timeout.microseconds(Timeout.maximumMicroseconds).ticks(hz: 10_000), 10_995_116_278)
    }

    func testTicksNeverFireEarlyAndNeverWaitAWholeTickTooLong() {
        for hz: UInt64 in [10, 100, 250, 1000, 4096, 10_000] {
            for microseconds: UInt64 in [1, 2, 99, 100, 101, 999, 1000, 1001, 3333, 9999, 10_000, 10_001, 123_456, 999_999] {
                let ticks = Timeout.microseconds(microseconds).ticks(hz: hz)
                XCTAssertGreaterThanOrEqual(ticks * 1_000_000, microseconds * hz, "\(microseconds) µs at \(hz) Hz: not early")
                XCTAssertLessThan((ticks - 1) * 1_000_000, microseconds * hz, "\(microseconds) µs at \(hz) Hz: minimal")
            }
        }
    }
}

final class LayoutTests: XCTestCase {
    func testUTCBHoldsTheMessageRegistersBeforeTheReceiveSlot() {
        XCTAssertEqual(UTCBLayout.size, 4096)
        XCTAssertEqual(UTCBLayout.messageRegisters, 0)
        XCTAssertEqual(UTCBLayout.receiveSlot % 8, 0, "a whole word")
        XCTAssertGreaterThanOrEqual(UTCBLayout.receiveSlot, MessageTag.maximumWords * 8, "after MR63")
        XCTAssertEqual(UTCBLayout.receiveSlot / 8, 64)
        XCTAssertEqual(UTCBLayout.receiveWindow, UTCBLayout.receiveSlot + 8)
        XCTAssertLessThan(UInt64(UTCBLayout.receiveWindow), UTCBLayout.size)
        XCTAssertEqual(TypedItem.capabilityKind, 1)
    }

    func testCapabilitiesAreSixteenBytesSoAFrameHoldsASpace() {
        XCTAssertEqual(MemoryLayout<Capability>.size, 16)
        XCTAssertEqual(MemoryLayout<Capability>.stride * CapabilitySpace.slots, 4096)
    }
}
