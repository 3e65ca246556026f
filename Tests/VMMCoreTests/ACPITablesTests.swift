import Foundation
@testable import KernelCore
import SwiftletABI
@testable import VMMCore
import XCTest

/// The VMM's ACPI tables, checked twice: by ACPICA's disassembler (`iasl -d`, no errors or warnings) and by
/// the kernel's own ACPI reader (the same code that finds the host's IOAPIC).
final class ACPITablesTests: XCTestCase {
    static let base: UInt64 = 0xE_0000
    /// With two virtio-mmio devices, as the VMM describes a disk and a console.
    static var machine: ACPIMachine {
        var machine = ACPIMachine()
        machine.virtioDevices = [(0xFEB0_0000, 0x200, 5), (0xFEB0_0200, 0x200, 6)]
        return machine
    }
    let bytes = ACPITables.build(ACPITablesTests.machine, at: ACPITablesTests.base)

    /// The table at guest-physical `address`, as the guest sees it.
    func table(at address: UInt64) -> [UInt8] {
        let offset = Int(address - Self.base)
        let length = bytes[offset..<(offset + 8)].withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
        return Array(bytes[offset..<(offset + length)])
    }

    func rootEntries() throws -> [UInt64] {
        let root = try bytes.withUnsafeBytes { buffer throws(ACPI.Failure) in try ACPI.parseRSDP(buffer) }
        XCTAssertTrue(root.extended, "an XSDT")
        let xsdt = table(at: root.address)
        XCTAssertTrue(xsdt.withUnsafeBytes { ACPI.validate($0, signature: ACPI.xsdtSignature) })
        return xsdt.withUnsafeBytes { Array(RootTableEntries($0, extended: true)) }
    }

    func testTheKernelsACPIReaderFindsTheIOAPIC() throws {
        let entries = try rootEntries()
        XCTAssertEqual(entries.count, 2)
        let madt = table(at: entries[1])
        XCTAssertTrue(madt.withUnsafeBytes { ACPI.validate($0, signature: ACPI.madtSignature) })
        let routing = madt.withUnsafeBytes { InterruptRouting(madt: $0) }
        XCTAssertEqual(routing.ioapicCount, 1)
        XCTAssertEqual(routing.firstIOAPIC, InterruptRouting.IOAPIC(id: 0, address: 0xFEC0_0000, gsiBase: 0))
        XCTAssertEqual(routing.isa[4], InterruptRouting.Route(gsi: 4, activeLow: false, levelTriggered: false), "COM1")
    }

    func testTheFADTIsHardwareReducedAndPointsAtTheDSDT() throws {
        let fadt = table(at: try rootEntries()[0])
        func u32(_ offset: Int) -> UInt32 { fadt.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) } }
        func u64(_ offset: Int) -> UInt64 { fadt.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) } }
        XCTAssertEqual(Array(fadt[0..<4]), Array("FACP".utf8))
        XCTAssertEqual(fadt.count, 276)
        XCTAssertNotEqual(u32(112) & (1 << 20), 0, "HW_REDUCED_ACPI")
        XCTAssertEqual(Array(table(at: u64(140))[0..<4]), Array("DSDT".utf8))
        XCTAssertEqual(fadt[244], 1, "sleep control register in I/O space")
        XCTAssertEqual(u64(248), 0x600)
    }

    func testAMLPackageLengths() {
        XCTAssertEqual(AML.packageLength(10), [11])
        XCTAssertEqual(AML.packageLength(62), [63])
        XCTAssertEqual(AML.packageLength(63), [0x41, 0x04], "65 = 0x41: one more byte, low nibble 1, then 0x04")
        XCTAssertEqual(AML.packageLength(0x1000), [0x83, 0x00, 0x01], "4099 = 0x1003: two more bytes (0x80), low nibble 3, then 0x1003 >> 4")
        XCTAssertEqual(AML.eisaID("PNP0501"), [0x0C, 0x41, 0xD0, 0x05, 0x01])
        XCTAssertEqual(AML.eisaID("PNP0B00"), [0x0C, 0x41, 0xD0, 0x0B, 0x00])
    }

    /// `iasl -d` disassembles every table without an error or a warning.
    func testACPICADisassemblesEveryTableCleanly() throws {
        guard let iasl = ["/usr/bin/iasl", "/usr/local/bin/iasl"].first(where: FileManager.default.isExecutableFile) else {
            XCTFail("iasl is missing (Debian package acpica-tools; ./tools/swiftlet installs it)")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-acpi-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let entries = try rootEntries()
        let fadt = table(at: entries[0])
        let dsdt = fadt.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 140, as: UInt64.self) }
        for (name, address) in [("facp", entries[0]), ("apic", entries[1]), ("dsdt", dsdt)] {
            let file = directory.appendingPathComponent("\(name).dat")
            try Data(table(at: address)).write(to: file)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: iasl)
            process.arguments = ["-d", file.path]
            process.currentDirectoryURL = directory
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "iasl -d \(name):\n\(output)")
            for word in ["Error", "Warning", "error", "warning"] {
                XCTAssertFalse(output.contains(word), "iasl -d \(name) reports a problem:\n\(output)")
            }
            let listing = try String(contentsOf: directory.appendingPathComponent("\(name).dsl"), encoding: .utf8)
            if name == "dsdt" {
                for expected in ["PNP0501", "PNP0B00", "_S5_", "0x03F8", "IRQNoFlags", "Device (VR00)", "Device (VR01)",
                                 "\"LNRO0005\"", "Memory32Fixed (ReadWrite,", "0xFEB00200", "0x00000200",
                                 "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )", "0x00000006"] {
                    XCTAssertTrue(listing.contains(expected), "the DSDT has \(expected):\n\(listing)")
                }
            }
        }
    }
}
