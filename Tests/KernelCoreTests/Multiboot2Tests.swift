import XCTest
@testable import KernelCore
@testable import SwiftletABI

/// Builds Multiboot2 information blobs the way GRUB lays them out (8-byte aligned tags).
struct Multiboot2Builder {
    var tags: [[UInt8]] = []

    static func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

    mutating func tag(_ type: UInt32, _ payload: [UInt8], size: UInt32? = nil) {
        tags.append(Self.le32(type) + Self.le32(size ?? UInt32(8 + payload.count)) + payload)
    }

    mutating func string(_ type: UInt32, _ text: String) { tag(type, Array(text.utf8) + [0]) }

    mutating func memoryMap(_ entries: [(UInt64, UInt64, UInt32)], entrySize: UInt32 = 24) {
        var payload = Self.le32(entrySize) + Self.le32(0)
        for (base, length, type) in entries {
            payload += Self.le64(base) + Self.le64(length) + Self.le32(type) + Self.le32(0)
            payload += [UInt8](repeating: 0, count: max(0, Int(entrySize) - 24))
        }
        tag(6, payload)
    }

    mutating func module(start: UInt32, end: UInt32, name: String) {
        tag(3, Self.le32(start) + Self.le32(end) + Array(name.utf8) + [0])
    }

    func bytes(withEnd: Bool = true, totalSizeOverride: UInt32? = nil) -> [UInt8] {
        var body: [UInt8] = []
        for tag in tags + (withEnd ? [Self.le32(0) + Self.le32(8)] : []) {
            body += tag
            while body.count % 8 != 0 { body.append(0) }
        }
        return Self.le32(totalSizeOverride ?? UInt32(8 + body.count)) + Self.le32(0) + body
    }

    static var typical: Multiboot2Builder {
        var b = Multiboot2Builder()
        b.string(1, "crash=ud timer_hz=100")
        b.string(2, "GRUB 2.06")
        b.memoryMap([(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0x10_0000, 0xFEE_0000, 1), (0xFFF_0000, 0x1_0000, 3)])
        b.module(start: 0x20_0000, end: 0x20_1000, name: "roottask")
        b.module(start: 0x30_0000, end: 0x30_0000, name: "empty")
        return b
    }
}

func parse(_ bytes: [UInt8]) throws(Multiboot2Error) -> Multiboot2Info {
    // Tests keep the buffer alive for the whole process: leak a copy on purpose.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
    buffer.copyBytes(from: bytes)
    return try Multiboot2Info(validating: UnsafeRawBufferPointer(buffer))
}

func text(_ s: ByteString?) -> String? { s.map { String(decoding: $0.bytes, as: UTF8.self) } }

final class Multiboot2Tests: XCTestCase {
    func testParsesStringsMemoryMapAndModules() throws {
        let info = try parse(Multiboot2Builder.typical.bytes())
        XCTAssertEqual(text(info.commandLine), "crash=ud timer_hz=100")
        XCTAssertEqual(text(info.bootloaderName), "GRUB 2.06")
        let regions = Array(info.memoryMap)
        XCTAssertEqual(regions.count, 4)
        XCTAssertEqual(regions[0], MemoryRegion(range: PhysicalRange(start: 0, size: 0x9FC00), kind: .usable))
        XCTAssertEqual(regions[1].kind, .reserved)
        XCTAssertEqual(regions[3].kind, .acpiReclaimable)
        let modules = Array(info.modules)
        XCTAssertEqual(info.modules.count, 2)
        XCTAssertEqual(modules[0].range, PhysicalRange(start: 0x20_0000, end: 0x20_1000))
        XCTAssertEqual(text(modules[0].name), "roottask")
        XCTAssertEqual(modules[1].range.size, 0)
        XCTAssertNil(info.rsdp)
    }

    func testHonoursLargerMemoryMapEntries() throws {
        var b = Multiboot2Builder()
        b.memoryMap([(0, 0x1000, 1), (0x10_0000, 0x10_0000, 1)], entrySize: 32)
        let regions = Array(try parse(b.bytes()).memoryMap)
        XCTAssertEqual(regions.map(\.range.start), [0, 0x10_0000])
    }

    func testRejectsMalformedInformation() {
        func expect(_ bytes: [UInt8], _ error: Multiboot2Error, line: UInt = #line) {
            XCTAssertThrowsError(try parse(bytes), line: line) { XCTAssertEqual($0 as? Multiboot2Error, error, line: line) }
        }
        let good = Multiboot2Builder.typical
        expect(good.bytes(totalSizeOverride: 4), .badTotalSize)
        expect(Array(good.bytes().prefix(40)), .badTotalSize)          // total size says more than there is
        expect(good.bytes(withEnd: false), .missingEndTag)

        var oversized = Multiboot2Builder()
        oversized.tag(1, [0x41, 0], size: 4096)
        expect(oversized.bytes(), .tagOutOfBounds)

        var noMap = Multiboot2Builder()
        noMap.string(1, "x")
        expect(noMap.bytes(), .missingMemoryMap)

        var emptyMap = Multiboot2Builder()
        emptyMap.memoryMap([])
        expect(emptyMap.bytes(), .emptyMemoryMap)

        var badEntrySize = Multiboot2Builder()
        badEntrySize.memoryMap([(0, 0x1000, 1)], entrySize: 20)
        expect(badEntrySize.bytes(), .badMemoryMap)

        var backwardsModule = Multiboot2Builder.typical
        backwardsModule.module(start: 0x5000, end: 0x4000, name: "bad")
        expect(backwardsModule.bytes(), .badModule)
    }

    func testTotalSizeHeader() {
        let bytes = Multiboot2Builder.typical.bytes()
        bytes.withUnsafeBytes { XCTAssertEqual(Multiboot2Info.totalSize(header: $0), bytes.count) }
        [UInt8](repeating: 0xFF, count: 8).withUnsafeBytes { XCTAssertNil(Multiboot2Info.totalSize(header: $0)) }
    }

    func testUnterminatedStringStopsAtTagEnd() throws {
        var b = Multiboot2Builder()
        b.tag(1, Array("abc".utf8))          // no NUL
        b.memoryMap([(0, 0x1000, 1)])
        XCTAssertEqual(text(try parse(b.bytes()).commandLine), "abc")
    }
}
