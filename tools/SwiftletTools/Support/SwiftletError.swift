import Foundation

/// Everything that stops a swiftlet command, each with the message a person needs to fix it.
public enum SwiftletError: Error, CustomStringConvertible, Equatable {
    /// A program the tools run is not installed. `package` is the Debian package that provides it,
    /// or nil when it comes with the Swift toolchain.
    case missingTool(name: String, package: String?)
    /// A build step failed; `output` is what it printed.
    case commandFailed(command: String, status: Int32, output: String)
    /// The tools were started outside a Swiftlet checkout.
    case notInRepository(String)
    /// A command-line value that does not make sense (bad module name, missing file, ...).
    case invalidArgument(String)
    /// A benchmark could not produce its number.
    case measurementFailed(String)
    /// The host refused something the tools need: a file, a pipe, a lock.
    case hostFailure(String)

    public var description: String {
        switch self {
        case .missingTool(let name, let package?):
            return "\(name) is not installed (Debian package \(package)); "
                + "run ./tools/swiftlet, which installs what is missing"
        case .missingTool(let name, nil):
            return "\(name) was not found; it comes with the Swift toolchain "
                + "(looked beside `swift` and on PATH)"
        case .commandFailed(let command, let status, let output):
            let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
            let shown = trimmed.isEmpty ? "" : "\n\(trimmed)"
            return "\(command) failed with status \(status)\(shown)"
        case .notInRepository(let path):
            return "\(path) is not inside a Swiftlet checkout (no Package.swift with a Kernel/ beside it)"
        case .invalidArgument(let message):
            return message
        case .measurementFailed(let message), .hostFailure(let message):
            return message
        }
    }

    /// The process exit status a command reports for this error: 64 for a value on the command line
    /// that does not make sense (the status swift-argument-parser gives for every other usage error,
    /// EX_USAGE), 2 for a setup problem the user must fix before anything can run, 1 for everything else.
    public var exitStatus: Int32 {
        switch self {
        case .invalidArgument: return 64
        case .missingTool, .notInRepository: return 2
        case .commandFailed, .measurementFailed, .hostFailure: return 1
        }
    }
}
