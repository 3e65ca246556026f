import Foundation
import SwiftletTools
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
