import Foundation

/// The directory the user ran the command in. `tools/swiftlet` changes to the repository root before
/// starting this program and passes the original directory in SWIFTLET_CALLER_DIR, so relative paths on
/// the command line mean what the user meant.
enum CallerDirectory {
    static var url: URL {
        let path = ProcessInfo.processInfo.environment["SWIFTLET_CALLER_DIR"]
            ?? FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    static func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : url.appendingPathComponent(path).standardizedFileURL
    }

    /// `url` relative to the caller's directory when it lies inside it, for shorter messages.
    static func display(_ target: URL) -> String {
        let base = url.standardizedFileURL.path
        let path = target.standardizedFileURL.path
        if path.hasPrefix(base + "/") {
            return String(path.dropFirst(base.count + 1))
        }
        return path
    }
}
