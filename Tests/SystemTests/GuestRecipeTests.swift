import Foundation
import SwiftletTools
import VMMCore
import XCTest

/// The Linux guest's initramfs format, read back by cpio(1): what the kernel will unpack.
final class GuestRecipeTests: XCTestCase {
    func testCPIOArchiveIsReadByCpio() throws {
        var archive = CPIOArchive()
        archive.append(.directory("dev"))
        archive.append(.characterDevice("dev/console", major: 5, minor: 1))
        archive.append(.file("init", Data("#!/bin/sh\necho hi\n".utf8), executable: true))
        archive.append(.symbolicLink("sh", target: "busybox"))
        let bytes = archive.finished()
        XCTAssertEqual(bytes.count % 4, 0)
        XCTAssertEqual(bytes, archive.finished(), "the same entries give the same bytes")

        let listing = try cpio(["-t", "-v"], input: bytes)
        let lines = listing.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("drwxr-xr-x") && $0.hasSuffix(" dev") }, listing)
        XCTAssertTrue(lines.contains { $0.hasPrefix("crw-------") && $0.contains("5,") && $0.hasSuffix(" dev/console") }, listing)
        XCTAssertTrue(lines.contains { $0.hasPrefix("-rwxr-xr-x") && $0.hasSuffix(" init") }, listing)
        XCTAssertTrue(lines.contains { $0.hasPrefix("lrwxrwxrwx") && $0.hasSuffix(" sh -> busybox") }, listing)
        XCTAssertEqual(lines.filter { !$0.contains("block") }.count, 4, listing)
    }

    /// Debian's kernel as apt-get fetches it today passes the VMM's setup-header check, and a 128 MiB
    /// guest has room for it (the version is whatever the package resolves to, never named here).
    func testDebiansCloudKernelIsABootableImage() throws {
        let guest = try LinuxGuest.prepare(in: SystemImages.repository) { print($0) }
        print("guest: Linux \(guest.release) (package \(guest.packageVersion)), sha256 \(guest.kernelSHA256)")
        XCTAssertTrue(guest.release.hasSuffix("-cloud-amd64"), guest.release)
        let bytes = try Data(contentsOf: guest.kernel)
        let kernel = try bytes.withUnsafeBytes { buffer throws(LinuxKernelImage.Failure) in try LinuxKernelImage(validating: buffer) }
        XCTAssertGreaterThanOrEqual(kernel.protocolVersion, 0x020C)
        XCTAssertTrue(kernel.relocatable)
        let initrd = try FileManager.default.attributesOfItem(atPath: guest.initramfs.path)[.size] as! UInt64
        let layout = try LinuxBootLayout(memorySize: 128 << 20, kernel: kernel, initrdSize: initrd, commandLineLength: 64)
        XCTAssertEqual(layout.kernelAddress, kernel.preferredAddress)
        XCTAssertGreaterThan(layout.initrdAddress, layout.kernelAddress + kernel.initSize)
        XCTAssertThrowsError(try LinuxBootLayout(memorySize: 32 << 20, kernel: kernel, initrdSize: initrd, commandLineLength: 64),
                             "init_size does not fit in 32 MiB")
    }

    func cpio(_ arguments: [String], input: Data) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/cpio")
        process.arguments = ["--quiet"] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        return output
    }
}
