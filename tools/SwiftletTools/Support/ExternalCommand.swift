import Foundation

/// One invocation of an external program, run to completion.
///
/// Build steps run quietly: their output is collected and shown only when they fail, so a good build
/// prints just its result.
public struct ExternalCommand: Sendable {
    public var executable: URL
    public var arguments: [String]
    public var workingDirectory: URL?
    /// Variables added to (or replacing) the inherited environment.
    public var environment: [String: String] = [:]

    public init(_ executable: URL, _ arguments: [String], workingDirectory: URL? = nil,
                environment: [String: String] = [:])
    {
        self.executable = executable
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// The command as a person would type it, for error messages.
    public var displayString: String {
        let assignments = environment.keys.sorted().map { "\($0)=\(environment[$0]!)" }
        return (assignments + [executable.lastPathComponent] + arguments).joined(separator: " ")
    }

    /// Runs the command with stdout and stderr collected together; throws `commandFailed` with that
    /// output when the exit status is not 0.
    @discardableResult
    public func runQuietly() throws -> String {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read before waiting: a child that fills the pipe would otherwise block forever.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw SwiftletError.commandFailed(command: displayString, status: process.terminationStatus,
                                              output: output)
        }
        return output
    }
}
