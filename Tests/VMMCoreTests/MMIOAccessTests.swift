import SwiftletABI
import VMMCore
import XCTest

/// The MOV-family decoding the Linux VMM emulates MMIO with: lengths, operands, sizes, and completing a
/// read into a register as the CPU does.
final class MMIOAccessTests: XCTestCase {
    func decode(_ bytes: [UInt8], count: Int? = nil) -> MMIOAccess? {
        bytes.withUnsafeBufferPointer { MMIOAccess(decoding: $0.baseAddress!, count: count ?? bytes.count) }
    }

    func testWhatLinuxUsesOnTheIOAPICAndAPIC() {
        // mov 0x10(%rax),%eax: the IOAPIC data window read (the instruction the boot stopped at).
        XCTAssertEqual(decode([0x8B, 0x40, 0x10]), MMIOAccess(isWrite: false, size: 4, operand: .register(0, highByte: false), destinationSize: 4, length: 3))
        // mov %esi,(%rax); mov 0x20(%rdi),%eax with disp32; mov %edx,0xfee000b0 (SIB, no base, disp32)
        XCTAssertEqual(decode([0x89, 0x30])?.operand, .register(6, highByte: false))
        XCTAssertEqual(decode([0x8B, 0x87, 0x20, 0, 0, 0])?.length, 6)
        XCTAssertEqual(decode([0x89, 0x14, 0x25, 0xB0, 0x00, 0xE0, 0xFE])?.length, 7)
        // REX.R and REX.W: mov %r9,0x8(%rbx,%rcx,4)
        XCTAssertEqual(decode([0x4C, 0x89, 0x4C, 0x8B, 0x08]), MMIOAccess(isWrite: true, size: 8, operand: .register(9, highByte: false), destinationSize: 8, length: 5))
        // movl $0x12345678,0x40(%rax); movb $1,(%rdx); movw with 66 and a RIP-relative address
        XCTAssertEqual(decode([0xC7, 0x40, 0x40, 0x78, 0x56, 0x34, 0x12])?.operand, .immediate(0x1234_5678))
        XCTAssertEqual(decode([0xC6, 0x02, 0x01])?.size, 1)
        XCTAssertEqual(decode([0x66, 0x89, 0x05, 1, 2, 3, 4]).map { ($0.size, $0.length) }.map { [$0.0, $0.1] }, [2, 7])
        // movzbl (%rax),%ecx; mov %ah,(%rbx)
        XCTAssertEqual(decode([0x0F, 0xB6, 0x08]), MMIOAccess(isWrite: false, size: 1, operand: .register(1, highByte: false), destinationSize: 4, length: 3))
        XCTAssertEqual(decode([0x88, 0x23])?.operand, .register(0, highByte: true))
        XCTAssertEqual(decode([0x40, 0x88, 0x23])?.operand, .register(4, highByte: false), "with REX: SPL")
        // A segment override is skipped: mov %gs:0x10(%rax),%eax
        XCTAssertEqual(decode([0x65, 0x8B, 0x40, 0x10])?.length, 4)
    }

    func testWhatItRefuses() {
        XCTAssertNil(decode([0x89, 0xC0]), "a register operand")
        XCTAssertNil(decode([0xA5]), "movs")
        XCTAssertNil(decode([0xF3, 0xA5]), "rep movs")
        XCTAssertNil(decode([0x67, 0x89, 0x00]), "32-bit addressing")
        XCTAssertNil(decode([0xC7, 0x48, 0x10, 0, 0, 0, 0]), "C7 /1")
        XCTAssertNil(decode([0x8B, 0x80, 0x20, 0]), "truncated displacement")
        XCTAssertNil(decode([0x8B, 0x40, 0x10], count: 2), "fetched bytes end early")
        XCTAssertNil(decode(Array(repeating: 0x66, count: 15) + [0x89, 0x00]), "past 15 bytes")
    }

    func testReadsCompleteLikeTheCPU() {
        var words = [UInt64](repeating: 0, count: VCPUMessage.words)
        words.withUnsafeMutableBufferPointer { buffer in
            let guest = ExitMessage(words: buffer.baseAddress!)
            guest.rax = 0xFFFF_FFFF_FFFF_FFFF
            decode([0x8B, 0x00])!.complete(guest, read: 0x1234_5678_9ABC)
            XCTAssertEqual(guest.rax, 0x5678_9ABC, "32 bits clear the upper half")
            guest.rax = 0xFFFF_FFFF_FFFF_FFFF
            decode([0x8A, 0x20])!.complete(guest, read: 0x42)                   // mov (%rax),%ah
            XCTAssertEqual(guest.rax, 0xFFFF_FFFF_FFFF_42FF)
            guest.rcx = 0xFFFF_FFFF_FFFF_FFFF
            decode([0x66, 0x8B, 0x08])!.complete(guest, read: 0xABCD_1234)       // mov (%rax),%cx
            XCTAssertEqual(guest.rcx, 0xFFFF_FFFF_FFFF_1234)
            guest.rdx = 0x1_0000_0000
            XCTAssertEqual(decode([0x88, 0x36])!.value(in: guest), 0, "mov %dh: byte 1 of RDX")
            XCTAssertEqual(decode([0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0xFF])!.value(in: guest), UInt64.max, "imm32 sign-extended")
        }
    }

    /// Any 15 bytes: decoding never traps and never claims more bytes than it was given.
    func testNonsenseCannotTrap() {
        var random: UInt64 = 0x1234_5678_9ABC_DEF1
        for _ in 0..<100_000 {
            var bytes = [UInt8](repeating: 0, count: 15)
            for index in 0..<15 {
                random ^= random << 13; random ^= random >> 7; random ^= random << 17
                bytes[index] = UInt8(truncatingIfNeeded: random)
            }
            let count = Int(random % 16)
            if let access = decode(bytes, count: count) { XCTAssertLessThanOrEqual(access.length, count) }
        }
    }
}
