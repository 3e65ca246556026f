import Foundation
import SwiftletTools
import XCTest

/// The `swiftlet` command's real exit statuses for mistakes on its command line, as README.md and
/// `swiftlet run --help` document them: 64 for an invalid option or value (EX_USAGE, what
/// swift-argument-parser gives), without booting anything.
final class CommandExitStatusTests: XCTestCase {
    /// The command as `swift test` built it, beside the test binary.
    var command: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftlet")
    }

    func run(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: command.path), "no swiftlet command at \(command.path)")
        let process = Process()
        process.executableURL = command
        process.arguments = arguments
        process.currentDirectoryURL = SystemImages.repository.root
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    func testAnUnknownOptionExitsWithStatus64() throws {
        let (status, errors) = try run(["run", "--no-such-option"])
        XCTAssertEqual(status, 64, errors)
        XCTAssertTrue(errors.contains("--no-such-option"), errors)
    }

    func testAnInvalidValueExitsWithStatus64() throws {
        let (status, errors) = try run(["run", "--timeout", "0"])
        XCTAssertEqual(status, 64, errors)
        XCTAssertTrue(errors.contains("--timeout must be positive"), errors)
    }

    /// `run --disk`: a size out of range, a size without a disk, or an image that is not whole 256 KiB
    /// cylinders stops the run before anything is built.
    func testABadDiskExitsWithStatus64() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("new.img").path
        var (status, errors) = try run(["run", "--disk", missing, "--disk-size", "0"])
        XCTAssertEqual(status, 64, errors)
        XCTAssertTrue(errors.contains("--disk-size must be a whole number of MiB from 1 to 16383 (got 0)"), errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "nothing created for a refused size")
        (status, errors) = try run(["run", "--disk-size", "8"])
        XCTAssertEqual(status, 64, errors)
        XCTAssertTrue(errors.contains("--disk-size needs --disk FILE"), errors)
        let odd = folder.appendingPathComponent("odd.img")
        XCTAssertTrue(FileManager.default.createFile(atPath: odd.path, contents: Data(count: 1000)))
        (status, errors) = try run(["run", "--disk", odd.path])
        XCTAssertEqual(status, 64, errors)
        XCTAssertTrue(errors.contains("holds 1000 bytes: a disk image must be a whole number of 256 KiB"), errors)
    }

    func testAModuleFileThatDoesNotExistExitsWithStatus64() throws {
        let (status, errors) = try run(["run", "--module", "/nonexistent/swiftlet-module"])
        XCTAssertEqual(status, 64, errors)
        XCTAssertTrue(errors.contains("module file /nonexistent/swiftlet-module does not exist"), errors)
    }

    func testTheHelpDocumentsTheExitStatuses() throws {
        let process = Process()
        process.executableURL = command
        process.arguments = ["run", "--help"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        for status in ["0 ", "3 ", "4 ", "5 ", "6 ", "7 ", "124", "130", "64 ", "2 ", "1 "] {
            XCTAssertTrue(text.contains("\n  \(status)"), "--help does not document status \(status):\n\(text)")
        }
    }
}
