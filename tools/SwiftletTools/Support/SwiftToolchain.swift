import Foundation

/// The Swift toolchain that builds the kernel, and the linker that ships with it.
///
/// The kernel is linked with the toolchain's own ld.lld, not the system's, so the linker always
/// understands the objects that toolchain's compiler produced.
public struct SwiftToolchain: Sendable {
    public let swift: URL
    public let linker: URL

    /// Where toolchains are commonly installed when they are not on PATH.
    static let fallbackFolders = ["/opt/swift/usr/bin"]

    public static func locate() throws -> SwiftToolchain {
        guard let found = ExecutableSearch.find("swift", extraFolders: fallbackFolders) else {
            throw SwiftletError.missingTool(name: "swift", package: nil)
        }
        // `swift` may be a symlink into the toolchain (e.g. /usr/bin/swift -> /opt/swift/usr/bin/swift);
        // the linker lives beside its target. The symlink itself is what we run: inside the toolchain,
        // `swift` links to `swift-driver`, which picks its mode from the name it was started by.
        let toolchainFolder = found.resolvingSymlinksInPath().deletingLastPathComponent()
        let besideSwift = toolchainFolder.appendingPathComponent("ld.lld")
        if FileManager.default.isExecutableFile(atPath: besideSwift.path) {
            return SwiftToolchain(swift: found, linker: besideSwift)
        }
        guard let linker = ExecutableSearch.find("ld.lld") else {
            throw SwiftletError.missingTool(name: "ld.lld", package: nil)
        }
        return SwiftToolchain(swift: found, linker: linker)
    }

    /// Another program of the toolchain (clang, llvm-objcopy, ...): beside the linker, else on PATH.
    public func tool(_ name: String) throws -> URL {
        let beside = linker.deletingLastPathComponent().appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        guard let found = ExecutableSearch.find(name) else { throw SwiftletError.missingTool(name: name, package: nil) }
        return found
    }
}
