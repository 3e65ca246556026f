import XCTest
@testable import KernelCore
import SwiftletABI

/// ACPI tables as firmware lays them out, with correct checksums unless a test breaks them.
enum ACPIBuilder {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

    static func fixChecksum(_ bytes: inout [UInt8], at index: Int, range: Range<Int>) {
        bytes[index] = 0
        let sum = bytes[range].reduce(UInt8(0), &+)
        bytes[index] = 0 &- sum
    }

    static func rsdp(rsdt: UInt32, xsdt: UInt64? = nil) -> [UInt8] {
        var bytes = Array("RSD PTR ".utf8) + [0] + Array("SWIFTL".utf8) + [xsdt == nil ? 0 : 2] + le(rsdt)
        fixChecksum(&bytes, at: 8, range: 0..<20)
        if let xsdt {
            bytes += le(UInt32(36)) + le(xsdt) + [0, 0, 0, 0]
            fixChecksum(&bytes, at: 32, range: 0..<36)     // the extended checksum covers the first one too
        }
        return bytes
    }

    static func table(_ signature: String, _ body: [UInt8]) -> [UInt8] {
        var bytes = Array(signature.utf8) + le(UInt32(36 + body.count)) + [1, 0] + Array("SWIFTL".utf8)
            + Array("SWIFTLET".utf8) + le(UInt32(1)) + le(UInt32(0)) + le(UInt32(0)) + body
        fixChecksum(&bytes, at: 9, range: 0..<bytes.count)
        return bytes
    }

    static func madt() -> [UInt8] {
        var body = le(UInt32(0xFEE0_0000)) + le(UInt32(1))
        body += [0, 8, 0, 0] + le(UInt32(1))                                  // processor local APIC
        body += [1, 12, 2, 0] + le(UInt32(0xFEC0_0000)) + le(UInt32(0))       // IOAPIC 2 at 0xFEC00000, GSI 0
        body += [2, 10, 0, 0] + le(UInt32(2)) + le(UInt16(0))                 // IRQ 0 → GSI 2
        body += [2, 10, 0, 9] + le(UInt32(9)) + le(UInt16(0xF))               // IRQ 9: level, active low
        body += [4, 6, 0xFF, 5, 0, 1]                                         // LAPIC NMI (ignored)
        return table("APIC", body)
    }
}

final class ACPITests: XCTestCase {
    func testRSDPVersions() throws {
        let v1 = ACPIBuilder.rsdp(rsdt: 0x7FE_0000)
        XCTAssertEqual(try v1.withUnsafeBytes { bytes throws(ACPI.Failure) in try ACPI.parseRSDP(bytes) },
                       ACPI.RootPointer(address: 0x7FE_0000, extended: false))
        let v2 = ACPIBuilder.rsdp(rsdt: 0x7FE_0000, xsdt: 0x7FE_1000)
        XCTAssertEqual(try v2.withUnsafeBytes { bytes throws(ACPI.Failure) in try ACPI.parseRSDP(bytes) },
                       ACPI.RootPointer(address: 0x7FE_1000, extended: true))
        var broken = v1
        broken[3] ^= 1
        XCTAssertThrowsError(try broken.withUnsafeBytes { bytes throws(ACPI.Failure) in try ACPI.parseRSDP(bytes) })
        var badSum = v1
        badSum[10] &+= 1
        XCTAssertThrowsError(try badSum.withUnsafeBytes { bytes throws(ACPI.Failure) in try ACPI.parseRSDP(bytes) })
    }

    func testTablesAreValidatedAndRootEntriesRead() {
        let xsdt = ACPIBuilder.table("XSDT", ACPIBuilder.le(UInt64(0x1000)) + ACPIBuilder.le(UInt64(0x2000)))
        xsdt.withUnsafeBytes { bytes in
            XCTAssertTrue(ACPI.validate(bytes, signature: ACPI.xsdtSignature))
            XCTAssertFalse(ACPI.validate(bytes, signature: ACPI.rsdtSignature))
            XCTAssertEqual(ACPI.tableLength(header: bytes), 52)
            XCTAssertEqual(Array(RootTableEntries(bytes, extended: true)), [0x1000, 0x2000])
        }
        let rsdt = ACPIBuilder.table("RSDT", ACPIBuilder.le(UInt32(0x3000)))
        rsdt.withUnsafeBytes { XCTAssertEqual(Array(RootTableEntries($0, extended: false)), [0x3000]) }
        var corrupt = xsdt
        corrupt[40] ^= 0xFF
        corrupt.withUnsafeBytes { XCTAssertFalse(ACPI.validate($0, signature: ACPI.xsdtSignature), "checksum") }
        let truncated = Array(xsdt.prefix(44))
        truncated.withUnsafeBytes { XCTAssertFalse(ACPI.validate($0, signature: ACPI.xsdtSignature), "length") }
    }

    func testMADTRouting() {
        ACPIBuilder.madt().withUnsafeBytes { bytes in
            XCTAssertTrue(ACPI.validate(bytes, signature: ACPI.madtSignature))
            let routing = InterruptRouting(madt: bytes)
            XCTAssertEqual(routing.ioapicCount, 1)
            XCTAssertEqual(routing.firstIOAPIC, .init(id: 2, address: 0xFEC0_0000, gsiBase: 0))
            XCTAssertEqual(routing.isa[0], .init(gsi: 2, activeLow: false, levelTriggered: false))
            XCTAssertEqual(routing.isa[4], .init(gsi: 4, activeLow: false, levelTriggered: false), "no override: identity")
            XCTAssertEqual(routing.isa[9], .init(gsi: 9, activeLow: true, levelTriggered: true))
        }
    }

    func testAMalformedEntryStopsTheWalk() {
        var madt = ACPIBuilder.madt()
        madt[44 + 1] = 0                     // the first entry claims length 0
        madt.withUnsafeBytes { XCTAssertEqual(InterruptRouting(madt: $0).ioapicCount, 0) }
    }
}
