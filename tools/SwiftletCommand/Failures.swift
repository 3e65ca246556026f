import ArgumentParser
import Foundation
import SwiftletTools

/// Runs a subcommand's body, turning a `SwiftletError` into a message on stderr and its exit status.
func reportingFailures<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SwiftletError {
        Console.error("swiftlet: \(error)")
        throw ExitCode(error.exitStatus)
    }
}

/// Output helpers: stdout carries results (console, tables, JSON), stderr carries everything else.
enum Console {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func output(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
