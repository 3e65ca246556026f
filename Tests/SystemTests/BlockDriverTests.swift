import DriverCore
import Foundation
import SwiftletTools
import XCTest

/// The block driver task (`ata`, Guests/BlockDriver) on a fresh disk image, QEMU and Bochs: its client
/// (`blocktest`) writes DiskPattern through it, flushes, reads back and gets the right status for each
/// request a client must not make. After power-off the image on the host must hold the flushed sectors
/// byte for byte (a flushed write is in the image).
final class BlockDriverTests: SystemTestCase {
    var configuration: ImageConfiguration {
        let dts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/block.dts").path
        return ImageConfiguration(tasks: ["roottask", "ata", "blocktest"], configuration: dts)
    }

    func freshDisk(_ name: String) throws -> DiskImage {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-blocktest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return try DiskImage.prepare(at: folder.appendingPathComponent("\(name).img"), mebibytes: 64)
    }

    func check(_ result: RunResult, disk: DiskImage, file: StaticString = #filePath, line: UInt = #line) throws {
        assertLine(containing: "ata: disk on the primary master", "131072 sectors (64 MiB), LBA48", in: result, file: file, line: line)
        assertLine(containing: "blocktest: PASS connect with a 64 KiB buffer: the disk has 131072 sectors (64 MiB), at most 128 a request",
                   in: result, file: file, line: line)
        assertLine(containing: "blocktest: PASS wrote 138 sectors in 4 requests", in: result, file: file, line: line)
        assertLine(containing: "blocktest: PASS flush -> ok", in: result, file: file, line: line)
        assertLine(containing: "blocktest: PASS read the 138 sectors back", "0 words differ", in: result, file: file, line: line)
        for refusal in ["read at the sector after the last -> out of range", "read of 0 sectors -> out of range",
                        "read of one sector more than the most -> out of range",
                        "read to buffer offset 64 KiB (its end) -> bad buffer", "write from buffer offset 100 (unaligned) -> bad buffer",
                        "label 99 -> unsupported", "connect without a buffer -> bad buffer",
                        "after the refusals the driver still serves",
                        "connect with a read-only buffer -> bad buffer; the old connection still reads -> ok",
                        "buffer unmapped by the client: read -> bad buffer; connected again, the last sector reads back, 0 words differ",
                        "buffer unmapped by another thread during a 128-sector read -> bad buffer; connected again, the 128 sectors read back, 0 words differ"] {
            assertLine(containing: "blocktest: PASS \(refusal)", in: result, file: file, line: line)
        }
        assertLine(containing: "ata: stopped after 34 requests (16 refused)", "0 device errors, 1 resets", in: result, file: file, line: line)
        assertLine(containing: "roottask: started ata (", ") with ports 0x1f0+8 and IRQ 14: ok", in: result, file: file, line: line)
        assertTasksPassed(["ata", "blocktest"], in: result, startedWith: ": ok", file: file, line: line)

        // The image after power-off: every sector written holds the pattern, and the sectors around
        // them are still zeros (nothing written in the wrong place).
        let image = try Data(contentsOf: disk.path)
        XCTAssertEqual(UInt64(image.count), disk.bytes, file: file, line: line)
        var sectors = 0, wrong = 0
        for index in 0..<DiskPattern.transferCount {
            let (first, count) = DiskPattern.transfer(index, capacity: disk.sectors, maximumSectors: 128)
            for sector in first..<(first + count) {
                sectors += 1
                for word in 0..<64 {
                    let offset = Int(sector) * 512 + word * 8
                    let value = image[offset..<(offset + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                    if value != DiskPattern.word(sector: sector, index: UInt64(word)) { wrong += 1 }
                }
            }
        }
        let untouched = [1, 999, 1008, 4095, 4096 + 128, Int(disk.sectors) - 2].filter { sector in
            image[(sector * 512)..<(sector * 512 + 512)].contains { $0 != 0 }
        }
        XCTAssertEqual(sectors, 138, file: file, line: line)
        XCTAssertEqual(wrong, 0, "words of the flushed sectors that differ in the image", file: file, line: line)
        XCTAssertEqual(untouched, [], "sectors beside the written ones that are not zero", file: file, line: line)
        if wrong == 0 && sectors == 138 && untouched.isEmpty {
            print("BlockDriverTests: the image holds the \(sectors) flushed sectors byte for byte (\(sectors * 64) words checked), the sectors beside them zero")
        }
    }

    func testTheDriverServesAndTheImageHoldsTheFlushedSectorsOnQEMU() throws {
        let disk = try freshDisk("qemu")
        try check(try boot(configuration, disk: disk), disk: disk)
    }

    func testTheDriverServesAndTheImageHoldsTheFlushedSectorsOnBochs() throws {
        let disk = try freshDisk("bochs")
        try check(try boot(configuration, on: .bochs, disk: disk), disk: disk)
    }

    /// Without --disk: QEMU's primary channel has no drive (its CD is the secondary master), Bochs's primary
    /// master is the boot CD, an ATAPI drive that refuses IDENTIFY DEVICE. Either way the driver says it has
    /// no disk, connect answers io error and, with no connection, requests are refused; nothing traps.
    func checkNoDisk(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertLine(containing: "ata: no disk: ", "; every request answers io error", in: result, file: file, line: line)
        assertLine(containing: "blocktest: PASS no disk: connect -> io error; then read -> bad buffer, flush -> bad buffer, label 99 -> unsupported",
                   in: result, file: file, line: line)
        assertLine(containing: "ata: stopped after 4 requests (4 refused)", in: result, file: file, line: line)
        assertTasksPassed(["ata", "blocktest"], in: result, startedWith: ": ok", file: file, line: line)
    }

    func testWithoutADiskRequestsAreRefusedOnQEMU() throws {
        checkNoDisk(try boot(configuration))
    }

    func testWithTheCDOnThePrimaryMasterRequestsAreRefusedOnBochs() throws {
        checkNoDisk(try boot(configuration, on: .bochs))
    }
}
