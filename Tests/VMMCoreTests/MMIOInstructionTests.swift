import SwiftletABI
import VMMCore
import XCTest

/// The MMIO instruction decoder: the MOV forms Linux uses on the APIC and IOAPIC, every ModRM/SIB/
/// displacement form, prefixes, sizes, the register-write rules, refusals, and a fetch across a page
/// boundary through the guest's page tables.
final class MMIOInstructionTests: XCTestCase {
    typealias I = MMIOInstruction

    /// Decodes exactly `bytes` (followed by bytes the decoder must not read: a poisoned tail).
    func decode(_ bytes: [UInt8], count: Int? = nil) -> I? {
        let padded = bytes + [UInt8](repeating: 0x89, count: 16)
        return padded.withUnsafeBufferPointer { I(decoding: $0.baseAddress!, count: count ?? bytes.count) }
    }

    func write(_ size: Int, _ operand: I.Operand, _ length: Int) -> I { I(isWrite: true, size: size, operand: operand, length: length) }
    func read(_ size: Int, _ register: Int, _ length: Int, into destination: Int? = nil) -> I {
        I(isWrite: false, size: size, operand: .register(register), destinationSize: destination, length: length)
    }

    /// What gcc -O2 emits for Linux's accessors (arch/x86/include/asm/io.h: `movl %0,%1` / `movl %1,%0`
    /// on a `volatile u32 *`), the IOAPIC's io_apic_read/write (a struct of registers at base + 0x00 and
    /// + 0x10) and the xAPIC's native_apic_mem_write/read (`movl %0, %P1` to the fixmap address).
    func testTheEncodingsLinuxUses() {
        XCTAssertEqual(decode([0x89, 0x07]), write(4, .register(0), 2), "writel: mov %eax, (%rdi)")
        XCTAssertEqual(decode([0x8B, 0x07]), read(4, 0, 2), "readl: mov (%rdi), %eax")
        XCTAssertEqual(decode([0x89, 0x30]), write(4, .register(6), 2), "io_apic_write select: mov %esi, (%rax)")
        XCTAssertEqual(decode([0x89, 0x50, 0x10]), write(4, .register(2), 3), "io_apic_write data: mov %edx, 0x10(%rax)")
        XCTAssertEqual(decode([0x8B, 0x40, 0x10]), read(4, 0, 3), "io_apic_read: mov 0x10(%rax), %eax")
        XCTAssertEqual(decode([0x89, 0x04, 0x25, 0xB0, 0xB0, 0x5F, 0xFF]), write(4, .register(0), 7),
                       "apic write: mov %eax, 0xffffffffff5fb0b0 (SIB without base or index)")
        XCTAssertEqual(decode([0x8B, 0x04, 0x25, 0x20, 0xB0, 0x5F, 0xFF]), read(4, 0, 7), "apic read: mov 0xffffffffff5fb020, %eax")
        XCTAssertEqual(decode([0x89, 0x14, 0x25, 0x00, 0x03, 0x5F, 0xFF]), write(4, .register(2), 7), "ICR low: mov %edx, …")
        XCTAssertEqual(decode([0x89, 0x97, 0x80, 0x00, 0x00, 0x00]), write(4, .register(2), 6), "mov %edx, 0x80(%rdi)")
        XCTAssertEqual(decode([0x48, 0x89, 0x07]), write(8, .register(0), 3), "writeq: mov %rax, (%rdi)")
        XCTAssertEqual(decode([0x88, 0x07]), write(1, .register(0), 2), "writeb: mov %al, (%rdi)")
        XCTAssertEqual(decode([0x66, 0x89, 0x07]), write(2, .register(0), 3), "writew: mov %ax, (%rdi)")
        XCTAssertEqual(decode([0x0F, 0xB6, 0x07]), read(1, 0, 3, into: 4), "readb: movzbl (%rdi), %eax")
        XCTAssertEqual(decode([0x0F, 0xB7, 0x07]), read(2, 0, 3, into: 4), "readw: movzwl (%rdi), %eax")
        XCTAssertEqual(decode([0xC7, 0x00, 0x00, 0x00, 0x00, 0x00]), write(4, .immediate(0), 6), "movl $0, (%rax) (EOI)")
    }

    func testEveryModRMAndSIBForm() {
        // mod 00: register, SIB, SIB without base (disp32), RIP-relative (disp32).
        XCTAssertEqual(decode([0x8B, 0x0B]), read(4, 1, 2), "mov (%rbx), %ecx")
        XCTAssertEqual(decode([0x8B, 0x0C, 0x8B]), read(4, 1, 3), "mov (%rbx,%rcx,4), %ecx")
        XCTAssertEqual(decode([0x8B, 0x0C, 0x24]), read(4, 1, 3), "mov (%rsp), %ecx")
        XCTAssertEqual(decode([0x8B, 0x0C, 0xCD, 0x10, 0, 0, 0]), read(4, 1, 7), "mov 0x10(,%rcx,8), %ecx")
        XCTAssertEqual(decode([0x8B, 0x0D, 0x78, 0x56, 0x34, 0x12]), read(4, 1, 6), "mov 0x12345678(%rip), %ecx")
        // mod 01: disp8, with and without SIB; RBP and R13 as bases need it.
        XCTAssertEqual(decode([0x8B, 0x4B, 0x04]), read(4, 1, 3), "mov 4(%rbx), %ecx")
        XCTAssertEqual(decode([0x8B, 0x4D, 0x00]), read(4, 1, 3), "mov 0(%rbp), %ecx")
        XCTAssertEqual(decode([0x8B, 0x4C, 0x24, 0xF8]), read(4, 1, 4), "mov -8(%rsp), %ecx")
        XCTAssertEqual(decode([0x8B, 0x4C, 0x05, 0x08]), read(4, 1, 4), "mov 8(%rbp,%rax), %ecx")
        // mod 10: disp32, with and without SIB (SIB base 101 with mod 10 is RBP + disp32, not disp32 alone).
        XCTAssertEqual(decode([0x8B, 0x8B, 0, 1, 0, 0]), read(4, 1, 6), "mov 0x100(%rbx), %ecx")
        XCTAssertEqual(decode([0x8B, 0x8C, 0x85, 0, 1, 0, 0]), read(4, 1, 7), "mov 0x100(%rbp,%rax,4), %ecx")
        // REX.X and REX.B only change which registers address memory, not the length or the operand.
        XCTAssertEqual(decode([0x43, 0x8B, 0x0C, 0x8C]), read(4, 1, 4), "mov (%r12,%r9,4), %ecx")
        XCTAssertEqual(decode([0x41, 0x8B, 0x4D, 0x00]), read(4, 1, 4), "mov 0(%r13), %ecx")
    }

    func testPrefixesSizesAndRegisters() {
        XCTAssertEqual(decode([0x4C, 0x8B, 0x07]), read(8, 8, 3), "REX.WR: mov (%rdi), %r8")
        XCTAssertEqual(decode([0x44, 0x89, 0x3F]), write(4, .register(15), 3), "REX.R: mov %r15d, (%rdi)")
        XCTAssertEqual(decode([0x66, 0x48, 0x89, 0x07]), write(8, .register(0), 4), "REX.W wins over 66")
        XCTAssertEqual(decode([0x66, 0x44, 0x8B, 0x17]), read(2, 10, 4), "mov (%rdi), %r10w")
        // Byte registers: 4-7 are AH-BH without REX, SPL-DIL with any REX.
        XCTAssertEqual(decode([0x88, 0x27]), write(1, .highByte(0), 2), "mov %ah, (%rdi)")
        XCTAssertEqual(decode([0x8A, 0x3F]), I(isWrite: false, size: 1, operand: .highByte(3), length: 2), "mov (%rdi), %bh")
        XCTAssertEqual(decode([0x40, 0x88, 0x37]), write(1, .register(6), 3), "mov %sil, (%rdi)")
        XCTAssertEqual(decode([0x44, 0x88, 0x07]), write(1, .register(8), 3), "mov %r8b, (%rdi)")
        // F2/F3, 67 and segment overrides change nothing the decoder reports but the length.
        XCTAssertEqual(decode([0xF3, 0x89, 0x07]), write(4, .register(0), 3))
        XCTAssertEqual(decode([0xF2, 0x66, 0x89, 0x07]), write(2, .register(0), 4))
        XCTAssertEqual(decode([0x67, 0x89, 0x07]), write(4, .register(0), 3), "mov %eax, (%edi)")
        XCTAssertEqual(decode([0x64, 0x48, 0x8B, 0x04, 0x25, 0x28, 0, 0, 0]), read(8, 0, 9), "mov %fs:0x28, %rax")
        // A REX before another prefix is void: this is a 32-bit move (the 48 does not make it 64-bit).
        XCTAssertEqual(decode([0x48, 0x66, 0x89, 0x07]), write(2, .register(0), 4))
        // MOVZX into 16 and 64 bits.
        XCTAssertEqual(decode([0x66, 0x0F, 0xB6, 0x07]), read(1, 0, 4, into: 2), "movzbw (%rdi), %ax")
        XCTAssertEqual(decode([0x4C, 0x0F, 0xB7, 0x07]), read(2, 8, 4, into: 8), "movzwq (%rdi), %r8")
        // Immediates: C6 ib, C7 iw with 66, C7 id, C7 id sign-extended under REX.W.
        XCTAssertEqual(decode([0xC6, 0x07, 0xAB]), write(1, .immediate(0xAB), 3), "movb $0xab, (%rdi)")
        XCTAssertEqual(decode([0x66, 0xC7, 0x47, 0x02, 0x34, 0x12]), write(2, .immediate(0x1234), 6), "movw $0x1234, 2(%rdi)")
        XCTAssertEqual(decode([0xC7, 0x80, 0xB0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]), write(4, .immediate(0x1234_5678), 10))
        XCTAssertEqual(decode([0x48, 0xC7, 0x07, 0xFF, 0xFF, 0xFF, 0xFF]), write(8, .immediate(UInt64.max), 7), "movq $-1, (%rdi)")
        XCTAssertEqual(decode([0xC7, 0x05, 0x10, 0, 0, 0, 1, 0, 0, 0]), write(4, .immediate(1), 10), "movl $1, 0x10(%rip)")
        // moffs: 8-byte addresses (4 with 67).
        XCTAssertEqual(decode([0xA1, 0x20, 0xB0, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), read(4, 0, 9), "movabs 0xff…b020, %eax")
        XCTAssertEqual(decode([0x48, 0xA3, 1, 2, 3, 4, 5, 6, 7, 8]), write(8, .register(0), 10), "movabs %rax, moffs")
        XCTAssertEqual(decode([0xA2, 1, 2, 3, 4, 5, 6, 7, 8]), write(1, .register(0), 9), "movabs %al, moffs")
        XCTAssertEqual(decode([0x67, 0xA0, 1, 2, 3, 4]), read(1, 0, 6), "mov moffs32, %al")
    }

    func testEverythingElseIsRefused() {
        XCTAssertNil(decode([0x8B, 0xC3]), "register to register")
        XCTAssertNil(decode([0xC7, 0xC0, 1, 0, 0, 0]), "mov $1, %eax")
        XCTAssertNil(decode([0xC7, 0x0F, 1, 0, 0, 0]), "C7 /1 is not a MOV")
        XCTAssertNil(decode([0xF0, 0x89, 0x07]), "LOCK MOV")
        XCTAssertNil(decode([0x0F, 0x0B]), "UD2")
        XCTAssertNil(decode([0x0F, 0xBE, 0x07]), "MOVSX")
        XCTAssertNil(decode([0xA4]), "MOVS")
        XCTAssertNil(decode([0x87, 0x07]), "XCHG")
        XCTAssertNil(decode([0x01, 0x07]), "ADD")
        XCTAssertNil(decode([0x0F, 0x11, 0x07]), "MOVUPS")
        XCTAssertNil(decode([]), "nothing fetched")
        XCTAssertNil(decode([0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x89, 0x07]),
                     "longer than 15 bytes")
        XCTAssertEqual(decode([0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x89, 0x07]),
                       write(2, .register(0), 15), "exactly 15 bytes")
    }

    /// Every prefix of a valid instruction that is shorter than it is refused, without a read past
    /// `count` (the buffer's tail would decode as something else).
    func testTruncatedBuffersAreRefused() {
        let instructions: [[UInt8]] = [
            [0x89, 0x04, 0x25, 0xB0, 0xB0, 0x5F, 0xFF], [0x8B, 0x0D, 0x78, 0x56, 0x34, 0x12], [0x8B, 0x4C, 0x24, 0xF8],
            [0x48, 0xC7, 0x07, 0xFF, 0xFF, 0xFF, 0xFF], [0x66, 0xC7, 0x47, 0x02, 0x34, 0x12], [0xC6, 0x07, 0xAB],
            [0x4C, 0x0F, 0xB7, 0x07], [0x48, 0xA3, 1, 2, 3, 4, 5, 6, 7, 8], [0x8B, 0x8C, 0x85, 0, 1, 0, 0],
        ]
        for instruction in instructions {
            XCTAssertEqual(decode(instruction)?.length, instruction.count)
            for count in 0..<instruction.count {
                XCTAssertNil(decode(instruction, count: count), "\(instruction) cut to \(count)")
            }
        }
        XCTAssertNil(decode([0x89, 0x07], count: -1), "a negative count")
    }

    /// The register write follows the CPU: 32-bit writes zero-extend, 8- and 16-bit writes merge, AH-BH
    /// go to bits 8-15, MOVZX zero-extends into its destination; a write's value is cut to its size.
    func testValuesAndRegisterWrites() {
        var words = [UInt64](repeating: 0, count: VCPUMessage.words)
        words.withUnsafeMutableBufferPointer { buffer in
            let message = ExitMessage(words: buffer.baseAddress!)
            func load(_ bytes: [UInt8], _ value: UInt64, into register: Int, from old: UInt64) -> UInt64 {
                message.setRegister(register, old)
                message.rip = 0x1000
                guard let instruction = decode(bytes), !instruction.isWrite else { XCTFail("\(bytes)"); return 0 }
                instruction.complete(read: value, into: message)
                XCTAssertEqual(message.rip, 0x1000 + UInt64(bytes.count), "RIP past \(bytes)")
                return message.register(register)
            }
            let old: UInt64 = 0x1111_2222_3333_4444, value: UInt64 = 0xAAAA_BBBB_CCCC_DDEE
            XCTAssertEqual(load([0x48, 0x8B, 0x07], value, into: 0, from: old), value)
            XCTAssertEqual(load([0x8B, 0x07], value, into: 0, from: old), 0xCCCC_DDEE, "32 bits zero-extend")
            XCTAssertEqual(load([0x66, 0x8B, 0x07], value, into: 0, from: old), 0x1111_2222_3333_DDEE, "16 bits merge")
            XCTAssertEqual(load([0x8A, 0x07], value, into: 0, from: old), 0x1111_2222_3333_44EE, "AL merges")
            XCTAssertEqual(load([0x8A, 0x27], value, into: 0, from: old), 0x1111_2222_3333_EE44, "AH merges into bits 8-15")
            XCTAssertEqual(load([0x40, 0x8A, 0x27], value, into: 4, from: old), 0x1111_2222_3333_44EE, "SPL with REX")
            XCTAssertEqual(load([0x0F, 0xB6, 0x07], value, into: 0, from: old), 0xEE, "movzbl")
            XCTAssertEqual(load([0x66, 0x0F, 0xB6, 0x07], value, into: 0, from: old), 0x1111_2222_3333_00EE, "movzbw merges 16 bits")
            XCTAssertEqual(load([0x48, 0x0F, 0xB7, 0x07], value, into: 0, from: old), 0xDDEE, "movzwq")
            XCTAssertEqual(load([0x44, 0x8B, 0x3F], value, into: 15, from: old), 0xCCCC_DDEE, "r15d")

            message.setRegister(0, value)
            message.setRegister(2, 0x0000_0000_0000_9900)
            XCTAssertEqual(decode([0x89, 0x07])!.value(from: message), 0xCCCC_DDEE)
            XCTAssertEqual(decode([0x48, 0x89, 0x07])!.value(from: message), value)
            XCTAssertEqual(decode([0x66, 0x89, 0x07])!.value(from: message), 0xDDEE)
            XCTAssertEqual(decode([0x88, 0x07])!.value(from: message), 0xEE)
            XCTAssertEqual(decode([0x88, 0x37])!.value(from: message), 0x99, "DH")
            XCTAssertEqual(decode([0xC6, 0x07, 0xAB])!.value(from: message), 0xAB)
            XCTAssertEqual(decode([0x48, 0xC7, 0x07, 0x00, 0x00, 0x00, 0x80])!.value(from: message), 0xFFFF_FFFF_8000_0000, "sign-extended")
            message.rip = 0x2000
            decode([0x89, 0x50, 0x10])!.step(over: message)
            XCTAssertEqual(message.rip, 0x2003)
        }
    }

    /// An instruction across a page boundary, the second page mapped far from the first: fetched byte by
    /// byte through the guest's page tables, then decoded with its full length.
    func testAFetchAcrossAPageBoundary() {
        var tables: [UInt64: UInt64] = [0x1000: 0x2003, 0x2000: 0x3003, 0x3000: 0x4003]
        tables[0x4000 + 5 * 8] = 0x9000 | 3             // 0x5000 → 0x9000
        tables[0x4000 + 6 * 8] = 0x30000 | 3            // 0x6000 → 0x30000
        // mov %edx, 0xffffffffff5fb0b0 starting 3 bytes before the boundary.
        let encoding: [UInt8] = [0x89, 0x14, 0x25, 0xB0, 0xB0, 0x5F, 0xFF]
        var bytes: [UInt64: UInt8] = [:]
        for (index, byte) in encoding.enumerated() {
            bytes[index < 3 ? 0x9FFD + UInt64(index) : 0x30000 + UInt64(index - 3)] = byte
        }
        bytes[0xA000] = 0xCC                            // the physically next page holds something else
        var buffer = [UInt8](repeating: 0, count: 15)
        let fetched = GuestPageWalk.fetchAvailable(15, at: 0x5FFD, cr3: 0x1000, into: &buffer, load: { tables[$0] }, loadByte: { bytes[$0] })
        XCTAssertEqual(fetched, 7, "both pages are mapped: the whole instruction comes (this sparse RAM ends there)")
        XCTAssertEqual(Array(buffer[0..<7]), encoding)
        let instruction = buffer.withUnsafeBufferPointer { I(decoding: $0.baseAddress!, count: fetched) }
        XCTAssertEqual(instruction, write(4, .register(2), 7))
        // With the second page unmapped only 3 bytes come, and those are refused.
        tables[0x4000 + 6 * 8] = nil
        var short = [UInt8](repeating: 0, count: 15)
        let count = GuestPageWalk.fetchAvailable(15, at: 0x5FFD, cr3: 0x1000, into: &short, load: { tables[$0] }, loadByte: { bytes[$0] })
        XCTAssertEqual(count, 3)
        XCTAssertNil(short.withUnsafeBufferPointer { I(decoding: $0.baseAddress!, count: count) })
    }
}
