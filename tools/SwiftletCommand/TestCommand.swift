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
            // Become `swift test`, so its output and exit status are the command's own.
            let argv = ([toolchain.swift.path, "test"] + arguments).map { strdup($0) } + [nil]
            execv(toolchain.swift.path, argv)
            throw SwiftletError.commandFailed(command: "swift test", status: errno,
                                              output: String(cString: strerror(errno)))
        }
    }
}
