import Foundation

/// Puts a freshly written file in place in one step, so a concurrent reader sees either the old file or
/// the new one, never half of it.
enum FileReplacement {
    /// A temporary name beside `destination`, unique to this process.
    static func temporarySibling(of destination: URL) -> URL {
        destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(getpid()).tmp")
    }

    static func move(_ source: URL, over destination: URL) throws {
        guard rename(source.path, destination.path) == 0 else {
            throw SwiftletError.hostFailure(
                "cannot move \(source.path) to \(destination.path): errno \(errno)")
        }
    }
}
