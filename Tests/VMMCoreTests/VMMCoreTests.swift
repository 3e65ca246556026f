import SwiftletABI
import VMMCore
import XCTest

/// The VMM's pure logic: the guest page walk, control-register exits and the in-place exit message (the MMIO
/// decoder: MMIOInstructionTests.swift).
final class GuestPageWalkTests: XCTestCase {
    /// A sparse guest memory of 8-byte words.
    var memory: [UInt64: UInt64] = [:]

    func translate(_ virtual: UInt64, cr3: UInt64 = 0x1000) -> UInt64? {
        GuestPageWalk.translate(virtual, cr3: cr3) { self.memory[$0] }
    }

    func testFourKiBTwoMiBAndOneGiBPages() {
        memory[0x1000] = 0x2003                         // PML4[0] → PDPT at 0x2000
        memory[0x2000] = 0x3003                         // PDPT[0] → PD at 0x3000
        memory[0x2008] = 0x4000_0083                    // PDPT[1]: 1 GiB page at 1 GiB
        memory[0x3000] = 0x4003                         // PD[0] → PT at 0x4000
        memory[0x3008] = 0x0060_0083                    // PD[1]: 2 MiB page at 6 MiB
        memory[0x4000 + 5 * 8] = 0x9000 | 3             // PT[5]: 0x5000 → 0x9000
        XCTAssertEqual(translate(0x5123), 0x9123)
        XCTAssertEqual(translate(0x20_1234), 0x60_1234)
        XCTAssertEqual(translate(0x4123_4567), 0x4123_4567)
        XCTAssertNil(translate(0x6000), "PT[6] not present")
        XCTAssertNil(translate(0x80_0000_0000), "PML4[1] not in memory")
    }

    /// Guest-controlled CR3 and addresses: any value walks or fails, never traps.
    func testExtremeAddressesNeverTrap() {
        memory[0x1000] = UInt64.max                     // every bit set: present, huge, all address bits
        for virtual in [0, UInt64.max, 1 << 63, 0xFFFF_8000_0000_0000] as [UInt64] {
            for cr3 in [0, UInt64.max, 0x1000] as [UInt64] {
                _ = translate(virtual, cr3: cr3)
            }
        }
        var buffer = [UInt8](repeating: 0, count: 15)
        _ = GuestPageWalk.fetch(15, at: UInt64.max, cr3: UInt64.max, into: &buffer, load: { self.memory[$0] }, loadByte: { _ in 0 })
    }

    /// An instruction that crosses a page boundary is fetched through both pages' translations: the bytes
    /// after the boundary come from wherever the next virtual page is mapped, not the next physical page.
    func testAnInstructionIsFetchedPageByPage() {
        memory[0x1000] = 0x2003
        memory[0x2000] = 0x3003
        memory[0x3000] = 0x4003
        memory[0x4000 + 5 * 8] = 0x9000 | 3             // 0x5000 → 0x9000
        memory[0x4000 + 6 * 8] = 0x20000 | 3            // 0x6000 → 0x20000 (not 0xA000)
        let bytes: [UInt64: UInt8] = [0x9FFF: 0x48, 0x20000: 0x89, 0x20001: 0x03, 0xA000: 0xCC, 0xA001: 0xCC]
        var buffer = [UInt8](repeating: 0, count: 3)
        XCTAssertTrue(GuestPageWalk.fetch(3, at: 0x5FFF, cr3: 0x1000, into: &buffer, load: { self.memory[$0] }, loadByte: { bytes[$0] }))
        XCTAssertEqual(buffer, [0x48, 0x89, 0x03])
        XCTAssertFalse(GuestPageWalk.fetch(3, at: 0x6FFF, cr3: 0x1000, into: &buffer, load: { self.memory[$0] }, loadByte: { bytes[$0] }),
                       "0x7000 is not mapped")
    }
}

final class ControlRegisterAccessTests: XCTestCase {
    func testTheVMXQualificationDecodes() {
        // MOV %rbx, %cr8 (type 0, register 3) and MOV %cr8, %r12 (type 1, register 12).
        XCTAssertEqual(ControlRegisterAccess(qualification: 0x308), ControlRegisterAccess(qualification: 8 | 0 << 4 | 3 << 8))
        let write = ControlRegisterAccess(qualification: 0x308)
        XCTAssertEqual(write.controlRegister, 8)
        XCTAssertTrue(write.isMove && write.isWrite)
        XCTAssertEqual(write.register, 3)
        let read = ControlRegisterAccess(qualification: 0xC18)
        XCTAssertTrue(read.isMove)
        XCTAssertFalse(read.isWrite)
        XCTAssertEqual(read.register, 12)
        XCTAssertFalse(ControlRegisterAccess(qualification: 0x20).isMove, "CLTS")
        let extreme = ControlRegisterAccess(qualification: UInt64.max)
        XCTAssertEqual(extreme.register, 15)
        XCTAssertEqual(extreme.controlRegister, 15)
    }
}

final class ExitMessageTests: XCTestCase {
    func testHandlersReadAndWriteTheMessageInPlace() {
        var state = GuestState()
        state.rax = 0x4000_0000
        state.rcx = 7
        state.rsi = 0x51
        state.r12 = 12
        state.rsp = 0x8000
        state.rip = 0x10000
        state.instructionLength = 2
        var words = [UInt64](repeating: 0, count: VCPUMessage.words)
        let mask: TransferMask = [.generalRegisters, .ripAndLength]
        words.withUnsafeMutableBufferPointer { buffer in
            VCPUMessage.store(state, mask: mask, into: buffer.baseAddress!)
            buffer[VCPUMessage.reason] = VCPUMessage.reasonWord(.cpuid, raw: 0x72)
            let message = ExitMessage(words: buffer.baseAddress!)
            XCTAssertEqual(message.reason, .cpuid)
            XCTAssertEqual(message.raw, 0x72)
            XCTAssertEqual(message.rax, 0x4000_0000)
            XCTAssertEqual(message.register(12), 12)
            XCTAssertEqual(message.register(4), 0x8000, "register 4 is RSP")
            XCTAssertEqual(message.register(12 + 16), 12, "an index is masked to 0-15, never outside the message")
            XCTAssertEqual(message.rsi, 0x51)
            message.rbx = 0x6669_7753
            message.rip &+= message.instructionLength
            message.reply([.generalA, .ripAndLength])
            var back = GuestState()
            VCPUMessage.load(&back, mask: message.mask, from: UnsafePointer(buffer.baseAddress!))
            XCTAssertEqual(back.rbx, 0x6669_7753)
            XCTAssertEqual(back.rip, 0x10002)
            XCTAssertEqual(back.rsi, 0, "generalB is not in the reply")
        }
    }
}
