import XCTest
@testable import KernelCore
@testable import SwiftletABI

/// A minimal ELF64 executable: header, program headers, then segment data.
func makeELF(segments: [(type: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64)] = [(1, 0x1000, 0x40_0000, 0x100, 0x2000)],
             fileSize: Int = 0x1100, patch: (inout [UInt8]) -> Void = { _ in }) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: fileSize)
    func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, byte) in $0.enumerated() where offset + i < b.count { b[offset + i] = byte } }
    }
    b.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
    b[4] = 2; b[5] = 1; b[6] = 1
    put(UInt16(2), at: 16); put(UInt16(0x3E), at: 18); put(UInt32(1), at: 20)
    put(UInt64(0x40_0080), at: 24); put(UInt64(64), at: 32)
    put(UInt16(64), at: 52); put(UInt16(56), at: 54); put(UInt16(segments.count), at: 56)
    for (i, s) in segments.enumerated() {
        let p = 64 + i * 56
        put(s.type, at: p); put(UInt32(5), at: p + 4); put(s.offset, at: p + 8); put(s.vaddr, at: p + 16)
        put(s.filesz, at: p + 32); put(s.memsz, at: p + 40)
    }
    patch(&b)
    return b
}

final class ELF64Tests: XCTestCase {
    func validate(_ bytes: [UInt8]) throws(ELFError) -> ELF64Image {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        buffer.copyBytes(from: bytes)
        return try ELF64Image(validating: UnsafeRawBufferPointer(buffer))
    }

    func testAcceptsAValidExecutable() throws {
        let image = try validate(makeELF(segments: [(1, 0x1000, 0x40_0000, 0x100, 0x2000), (4, 0, 0, 0, 0)]))
        XCTAssertEqual(image.entry, 0x40_0080)
        let segments = Array(image.segments)
        XCTAssertEqual(segments.count, 2)
        XCTAssertEqual(segments[0].virtualAddress, 0x40_0000)
        XCTAssertEqual(segments[0].memorySize, 0x2000)
        XCTAssertTrue(segments[0].isExecutable)
        XCTAssertFalse(segments[0].isWritable)
    }

    func testRejectsEveryKindOfCorruption() {
        func expect(_ bytes: [UInt8], _ error: ELFError, line: UInt = #line) {
            XCTAssertThrowsError(try validate(bytes), line: line) { XCTAssertEqual($0 as? ELFError, error, line: line) }
        }
        expect([0x7F, 0x45], .tooSmall)
        expect([UInt8](repeating: 0x41, count: 200), .notELF)
        expect(makeELF { $0[4] = 1 }, .not64Bit)
        expect(makeELF { $0[5] = 2 }, .notLittleEndian)
        expect(makeELF { $0[6] = 0 }, .badVersion)
        expect(makeELF { $0[18] = 0x03; $0[19] = 0 }, .notX86_64)
        expect(makeELF { $0[16] = 3 }, .notExecutable)
        expect(makeELF { $0[56] = 0xFF }, .programHeadersOutOfBounds)
        expect(makeELF(segments: [(1, 0x1000, 0x40_0000, 0x200, 0x2000)]), .segmentOutOfBounds)
        expect(makeELF(segments: [(1, UInt64.max - 4, 0x40_0000, 0x10, 0x2000)]), .segmentOutOfBounds)
        expect(makeELF(segments: [(1, 0x1000, UInt64.max - 0x10, 0x10, 0x2000)]), .segmentPastUserSpace)
        expect(makeELF(segments: [(1, 0x1000, 0x40_0000, 0x100, 0x10)]), .segmentLargerInFileThanInMemory)
        expect(makeELF(segments: [(4, 0, 0, 0, 0)]), .noLoadableSegment)
    }

    /// Each page is mapped once with one segment's rights, so two loadable segments may not share one (the
    /// finding: a task whose 8-byte .bss followed .rodata in the same page failed to start with "slot
    /// occupied"), nor come out of order. Segments on pages of their own, and empty ones, are fine.
    func testRejectsSegmentsThatShareAPage() throws {
        func expectShared(_ segments: [(type: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64)], line: UInt = #line) {
            XCTAssertThrowsError(try validate(makeELF(segments: segments)), line: line) {
                XCTAssertEqual($0 as? ELFError, .segmentsShareAPage, line: line)
            }
        }
        expectShared([(1, 0x1000, 0x40_3000, 0x80, 0x48d), (1, 0x1000, 0x40_3490, 0, 8)])
        expectShared([(1, 0x1000, 0x40_0000, 0x80, 0x1001), (1, 0x1000, 0x40_1000, 0, 8)])
        expectShared([(1, 0x1000, 0x40_5000, 0x80, 0x100), (1, 0x1000, 0x40_0000, 0x80, 0x100)])
        let apart = try validate(makeELF(segments: [(1, 0x1000, 0x40_0000, 0x80, 0x1000), (1, 0x1000, 0x40_1000, 0, 8),
                                                    (1, 0x1000, 0x40_1004, 0, 0)]))
        XCTAssertEqual(Array(apart.segments).count, 3)
    }

    /// A segment whose page-rounded end passes user space is refused by the checker, so no loader's
    /// `vaddr + memsz + 0xFFF` can wrap (the finding: vaddr 0xFFFFFFFFFFFF0000, memsz 0xFFFF).
    func testRejectsSegmentsPastTheEndOfUserSpace() throws {
        func expectPast(_ vaddr: UInt64, _ memsz: UInt64, line: UInt = #line) {
            XCTAssertThrowsError(try validate(makeELF(segments: [(1, 0x1000, vaddr, 0x10, memsz)])), line: line) {
                XCTAssertEqual($0 as? ELFError, .segmentPastUserSpace, line: line)
            }
        }
        expectPast(0xFFFF_FFFF_FFFF_0000, 0xFFFF)              // the end is 2^64 - 1: rounded up it wraps to 0
        expectPast(0xFFFF_FFFF_FFFF_F000, 0x10)
        expectPast(0xFFFF_FFFF_8000_0000, 0x2000)              // a kernel-half image is no task
        expectPast(0x0000_8000_0000_0000, 0x10)                // the first non-canonical address
        expectPast(0x0000_7FFF_FFFF_F000, 0x10)                // the top user page is never mapped
        expectPast(0x0000_7FFF_FFFF_E000, 0x1001)              // ends one byte into it
        expectPast(0x40_0000, UInt64.max - 0x40_0000)          // huge memsz from a low address
        // Ending exactly at the last mappable page's end is fine.
        let last = try validate(makeELF(segments: [(1, 0x1000, 0x0000_7FFF_FFFF_E000, 0x10, 0x1000)]))
        XCTAssertEqual(Array(last.segments)[0].memorySize, 0x1000)
        XCTAssertTrue(ELFError.segmentPastUserSpace.description.description.contains("past the end of user space"))
    }
}
