import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// A test that boots images and checks what the kernel printed.
class SystemTestCase: XCTestCase {
    /// Generous: the machine may be busy, and Bochs boots in 2 to 10 s when it is not.
    static let qemuTimeout: TimeInterval = 60
    static let bochsTimeout: TimeInterval = 180

    /// Builds (once) and boots `configuration`, returning the finished run.
    func boot(_ configuration: ImageConfiguration = .native, on emulator: Emulator = .qemu,
              cpu: String? = nil, deterministic: Bool = false, input: ConsoleInput? = nil,
              disk: DiskImage? = nil) throws -> RunResult
    {
        let image = try SystemImages.image(configuration)
        var run = RunConfiguration(
            emulator: emulator, cpuModel: cpu, deterministic: deterministic,
            timeout: emulator == .qemu ? Self.qemuTimeout : Self.bochsTimeout)
        run.consoleInput = input
        run.disk = disk
        let result = try ImageRunner(repository: SystemImages.repository).run(iso: image.iso, configuration: run)
        // Leave the console in the test log: it is what anyone debugging a failure needs first.
        let cmdline = configuration.commandLine
        print("--- console (\(emulator.rawValue), cpu \(run.effectiveCPUModel), cmdline '\(cmdline)'):")
        print(result.console, terminator: result.console.hasSuffix("\n") ? "" : "\n")
        print("--- \(result.summaryLine); files in \(result.runDirectory.path)")
        return result
    }

    /// Asserts that some console line contains every one of `fragments`; returns that line.
    @discardableResult
    func assertLine(containing fragments: String..., in result: RunResult,
                    file: StaticString = #filePath, line: UInt = #line) -> String?
    {
        let match = result.consoleLines.first { candidate in fragments.allSatisfy(candidate.contains) }
        if match == nil {
            XCTFail("no console line contains all of \(fragments)", file: file, line: line)
        }
        return match
    }

    func assertOutcome(_ expected: RunOutcome, of result: RunResult,
                       file: StaticString = #filePath, line: UInt = #line)
    {
        XCTAssertEqual(result.outcome, expected, "run ended: \(result.summaryLine)", file: file, line: line)
    }

    /// The checks every clean boot must pass, whatever the emulator: the kernel's own power-off line says
    /// every task passed, and the run's exit status is 0.
    func assertCleanBoot(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertPoweredOff(result, reason: .allPassed, file: file, line: line)
        assertOutcome(.poweredOff, of: result, file: file, line: line)
        XCTAssertEqual(result.outcome.exitStatus, 0, file: file, line: line)
    }

    /// A boot that went off in an orderly way but refused or failed something: the kernel's power-off line
    /// names `reason`, and `swiftlet run` would exit with `status`.
    func assertRefusedBoot(_ result: RunResult, reason: PowerOffReason, status: Int32,
                           file: StaticString = #filePath, line: UInt = #line) {
        assertPoweredOff(result, reason: reason, file: file, line: line)
        assertOutcome(.poweredOffAfterFailure(reason), of: result, file: file, line: line)
        XCTAssertEqual(result.outcome.exitStatus, status, "exit status of \(result.summaryLine)", file: file, line: line)
    }

    private func assertPoweredOff(_ result: RunResult, reason: PowerOffReason, file: StaticString, line: UInt) {
        let firstLine = result.consoleLines.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        XCTAssertTrue(firstLine?.contains("Swiftlet microkernel") == true,
                      "the banner is not the first line: \(firstLine ?? "(no output)")", file: file, line: line)
        assertLine(containing: "memory: ", "MiB usable", in: result, file: file, line: line)
        assertLine(containing: "timer: ", "ticking", in: result, file: file, line: line)
        XCTAssertNotNil(result.verdictToken, "the image's verdict token", file: file, line: line)
        let kernelPowerOff = result.verdictLines.filter { $0.hasPrefix(ConsoleMarkers.poweringOff) }
        XCTAssertEqual(kernelPowerOff, ["\(ConsoleMarkers.poweringOff): \(reason.description)"], "the kernel's power-off line",
                       file: file, line: line)
        let panics = result.verdictLines.filter { $0.hasPrefix(ConsoleMarkers.panic) }
        XCTAssertEqual(panics, [], "the kernel panicked", file: file, line: line)
    }

    /// The lines task `name` wrote (tagged `[name] ` by the kernel or the serial driver), without the tag.
    func lines(of name: String, in result: RunResult) -> [String] {
        let tag = "[\(name)] "
        return result.consoleLines.filter { $0.hasPrefix(tag) }.map { String($0.dropFirst(tag.count)) }
    }

}
