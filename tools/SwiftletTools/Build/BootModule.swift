import Foundation

/// A file GRUB loads beside the kernel as a multiboot2 module, under a name the kernel sees.
public struct BootModule: Sendable, Hashable {
    public let source: URL
    public let name: String

    public init(source: URL, name: String) throws {
        guard !name.isEmpty, !name.contains("/"), !name.contains(where: \.isWhitespace),
              !name.contains("\""), !name.contains("'"), name != ".", name != ".."
        else {
            throw SwiftletError.invalidArgument(
                "module name '\(name)' must be non-empty, without spaces, quotes or '/'")
        }
        self.source = source.standardizedFileURL
        self.name = name
    }

    /// Parses the command-line form `PATH[=NAME]`; the name defaults to the file's name.
    /// Relative paths are taken from `base` (the directory the user ran the command in).
    public init(argument: String, relativeTo base: URL) throws {
        let path: Substring
        let name: String?
        if let equals = argument.lastIndex(of: "=") {
            path = argument[..<equals]
            name = String(argument[argument.index(after: equals)...])
        } else {
            path = Substring(argument)
            name = nil
        }
        let url = path.hasPrefix("/")
            ? URL(fileURLWithPath: String(path))
            : base.appendingPathComponent(String(path))
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SwiftletError.invalidArgument("module file \(url.path) does not exist")
        }
        try self.init(source: url, name: name ?? url.lastPathComponent)
    }
}
