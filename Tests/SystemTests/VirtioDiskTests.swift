import Foundation
import SwiftletTools
import XCTest

/// The Linux guest's virtio-blk disk (issue 13), served over IPC: Configurations/linux-disk.dts gives the
/// VMM the `disk` endpoint, which the ramdisk test task serves from 4 MiB of RAM. The VMM connects, the
/// DSDT names the virtio-mmio device, the guest's /init loads virtio_mmio and virtio_blk and runs the disk
/// job (swiftlet.job=disk): /dev/vda's size, an ext2 filesystem made on it, 1 MiB of random data written,
/// synced, the filesystem remounted with the caches dropped and the data read back by sha256.
final class VirtioDiskTests: SystemTestCase {
    static let sectors = 8192

    var configuration: ImageConfiguration {
        ImageConfiguration(tasks: NativeTask.standardSet + ["ramdisk"],
                           configuration: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                               .appendingPathComponent("Configurations/linux-disk.dts").path)
    }

    func testTheGuestMakesAFilesystemOnTheDiskAndReadsItsFileBack() throws {
        try checkDisk(on: .qemu)
    }

    func testTheGuestMakesAFilesystemOnTheDiskAndReadsItsFileBackOnBochs() throws {
        try checkDisk(on: .bochs)
    }

    private func checkDisk(on emulator: Emulator, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try boot(configuration, on: emulator)
        assertCleanBoot(result, file: file, line: line)
        let attached = assertLine(containing: "vmm: /tasks/vmm/vm@0: virtio-blk disk at 0xfeb00000 (GSI 16): \(Self.sectors) sectors (4 MiB)",
                                  in: result, file: file, line: line)
        let size = assertLine(containing: "swiftlet-guest: disk /dev/vda: \(Self.sectors * 512) bytes", in: result, file: file, line: line)
        // The sum of the data before it was written, and of the file read back after the remount.
        let hashes = result.consoleLines.lazy.compactMap { $0.firstMatch(of: /swiftlet-guest: disk wrote sha256 ([0-9a-f]{64}), read back ([0-9a-f]{64})/) }.first
        XCTAssertNotNil(hashes, "no hash line", file: file, line: line)
        if let hashes { XCTAssertEqual(hashes.1, hashes.2, "the file read back differs from what was written", file: file, line: line) }
        let roundTrip = assertLine(containing: "swiftlet-guest: disk round trip ok: 1048576 bytes through ext2 on /dev/vda, sha256 ",
                                   in: result, file: file, line: line)
        if let roundTrip, let hashes { XCTAssertTrue(roundTrip.hasSuffix(String(hashes.1)), "the round trip's sum", file: file, line: line) }
        // The VMM served the requests through the block service, with nothing malformed and no reconnect.
        var served = 0, calls = 0
        if let summary = assertLine(containing: "vmm: /tasks/vmm/vm@0: virtio-blk: ", " requests served, 0 malformed chains, ", in: result, file: file, line: line),
           let figures = summary.firstMatch(of: /(\d+) requests served, 0 malformed chains, (\d+) block service calls, 0 reconnects/) {
            (served, calls) = (Int(figures.1) ?? 0, Int(figures.2) ?? 0)
        }
        XCTAssertGreaterThan(served, 0, "requests served", file: file, line: line)
        XCTAssertGreaterThanOrEqual(calls, served, "a call per request at least (the connect and flushes too)", file: file, line: line)
        var transfers = 0
        if let stopped = assertLine(containing: "ramdisk: stopped: ", " reads and writes served, 0 calls refused", in: result, file: file, line: line) {
            transfers = stopped.firstMatch(of: /stopped: (\d+) reads and writes/).flatMap { Int($0.1) } ?? 0
        }
        XCTAssertGreaterThan(transfers, 0, "the ramdisk served reads and writes", file: file, line: line)
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed", file: file, line: line)
        if attached != nil, size != nil, roundTrip != nil, let hashes, hashes.1 == hashes.2, served > 0, transfers > 0 {
            print("virtio-blk: \(emulator.rawValue): /dev/vda of \(Self.sectors * 512) bytes; 1 MiB through ext2 read back with sha256 \(hashes.2); \(served) virtio requests, \(calls) block service calls, \(transfers) ramdisk reads and writes; run \(String(format: "%.1f", result.duration)) s")
        }
    }

    /// The disk outlives a reset of the guest (Configurations/linux-disk-reboot.dts, /init's disk-reboot
    /// job): the first boot writes a file and its sha256 to ext2 on /dev/vda and reboots; the VMM resets the
    /// board (a new virtio device on the same block service), the second boot finds the file and reads it
    /// back with the sum it was written with.
    func testTheDiskKeepsAFileAcrossAGuestReboot() throws {
        let result = try boot(ImageConfiguration(tasks: NativeTask.standardSet + ["ramdisk"],
                                                 configuration: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                                                     .appendingPathComponent("Configurations/linux-disk-reboot.dts").path))
        assertCleanBoot(result)
        let written = result.consoleLines.lazy.compactMap { $0.firstMatch(of: /swiftlet-guest: disk file written \(sha256 ([0-9a-f]{64})\); rebooting/) }.first
        XCTAssertNotNil(written, "the first boot's file")
        let reset = assertLine(containing: "vmm: /tasks/vmm/vm@0: the guest reset (", "; booting it again (boot 2", in: result)
        let kept = assertLine(containing: "swiftlet-guest: disk kept the file across the reboot: 1048576 bytes, sha256 ", in: result)
        if let written, let kept { XCTAssertTrue(kept.hasSuffix(String(written.1)), "the sum read back after the reboot: \(kept)") }
        assertLine(containing: "vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after", in: result)
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed")
        if let written, reset != nil, let kept, kept.hasSuffix(String(written.1)) {
            print("virtio-blk: \(kept) (written before the reset with the same sum)")
        }
    }

    /// A hostile driver (Guests/HostileLinux/virtio.S, `virtio` on its command line, Configurations/
    /// linux-hostile-disk.dts) breaks the queue seven ways: each leaves the device in DEVICE_NEEDS_RESET
    /// (status 75 when the queue never became ready, 79 after DRIVER_OK), the VMM carries on, and a
    /// well-formed flush after all the resets is served (used index 1, request status 0, device status 15).
    func testAHostileDriverGetsNeedsResetAndTheVMMCarriesOn() throws {
        try checkHostile(on: .qemu)
    }

    func testAHostileDriverGetsNeedsResetAndTheVMMCarriesOnOnBochs() throws {
        try checkHostile(on: .bochs)
    }

    private func checkHostile(on emulator: Emulator) throws {
        let result = try boot(ImageConfiguration(tasks: NativeTask.standardSet + ["ramdisk"],
                                                 configuration: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                                                     .appendingPathComponent("Configurations/linux-hostile-disk.dts").path), on: emulator)
        assertCleanBoot(result)
        var seen: [String] = []
        for (attack, status) in [("queue size 3", 75), ("rings outside RAM", 75), ("descriptor loop", 79), ("buffer outside RAM", 79),
                                 ("length 0xffffffff", 79), ("available index 100 ahead", 79), ("head index 200", 79)] {
            if let line = assertLine(containing: "hostile-linux: virtio \(attack): status \(status)", in: result) { seen.append(line) }
        }
        let flush = assertLine(containing: "hostile-linux: virtio flush after the resets: used index 1, request status 0, device status 15", in: result)
        let summary = assertLine(containing: "vmm: /tasks/vmm/vm@0: virtio-blk: 1 requests served, 5 malformed chains", in: result)
        assertLine(containing: "hostile-linux: virtio attacks done", in: result)
        assertLine(containing: "vmm: /tasks/vmm/vm@0: the guest powered off (ACPI S5) after", in: result)
        XCTAssertFalse(result.console.contains("hostile-linux: unexpected exception"), "the guest took an exception")
        XCTAssertFalse(result.console.contains("FAILED"), "a task failed")
        if seen.count == 7, let flush, let summary {
            for line in seen + [flush, summary] { print("virtio-blk hostile (\(emulator.rawValue)): \(line)") }
        }
    }
}
