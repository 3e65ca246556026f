import ArgumentParser
import Foundation
import SwiftletTools

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the host unit tests and the system tests that boot images (swift test).",
        discussion: "Arguments after `test` go to `swift test`, e.g. `swiftlet test --filter SystemTests`.")

    @Argument(parsing: .captureForPassthrough, help: "Arguments for swift test.")
    var swiftTestArguments: [String] = []

    func run() throws {
        try reportingFailures {
            let repository = try Repository.locate()
            // The system tests build images and boot them on both emulators; fail here, with the package
            // to install, rather than in the middle of the test run.
            try HostTool.requireAll(HostTool.all)
            let toolchain = try SwiftToolchain.locate()
            if let warning = RunningEmulators.warning(RunningEmulators.find()) { Console.output(warning) }
            guard chdir(repository.root.path) == 0 else {
                throw SwiftletError.hostFailure("cannot change to \(repository.root.path)")
            }
            var arguments = swiftTestArguments
            if !arguments.contains(where: { $0.hasSuffix("-swift-testing") })
                && !TestSources.useSwiftTesting(in: repository)
            {
                // With no Swift Testing tests, its runner would still close the output with "Test run
                // with 0 tests", hiding XCTest's count from anyone reading the last lines.
                arguments.append("--disable-swift-testing")
            }
            // swift test's output passes through unchanged; its failures are repeated after its last line,
            // where a log read by its tail shows them. The exit status is swift test's.
            let process = Process()
            process.executableURL = toolchain.swift
            process.arguments = ["test"] + arguments
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            var summary = TestFailureSummary()
            let reader = output.fileHandleForReading
            while case let chunk = reader.availableData, !chunk.isEmpty {
                FileHandle.standardOutput.write(chunk)
                summary.consume(chunk)
            }
            process.waitUntilExit()
            for line in summary.report { Console.output(line) }
            if process.terminationReason == .uncaughtSignal { throw ExitCode(128 + process.terminationStatus) }
            if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
        }
    }
}
