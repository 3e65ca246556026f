import Foundation

/// A program from a Debian package that building or running Swiftlet needs.
///
/// The `tools/swiftlet` shim installs the packages; this type is what the Swift side uses to find the
/// programs, and to say which package to install when one is missing.
public struct HostTool: Sendable, Hashable {
    public let name: String
    public let package: String

    public static let qemu = HostTool(name: "qemu-system-x86_64", package: "qemu-system-x86")
    public static let bochs = HostTool(name: "bochs", package: "bochs")
    public static let grubMkrescue = HostTool(name: "grub-mkrescue", package: "grub-common")
    public static let xorriso = HostTool(name: "xorriso", package: "xorriso")
    /// grub-mkrescue calls mformat to make the EFI system partition inside the ISO.
    public static let mformat = HostTool(name: "mformat", package: "mtools")
    public static let dtc = HostTool(name: "dtc", package: "device-tree-compiler")
    /// The model checker for the Promela models beside the kernel code, and the compiler for its verifiers.
    public static let spin = HostTool(name: "spin", package: "spin")
    public static let gcc = HostTool(name: "gcc", package: "gcc")

    /// The tools needed to turn a kernel into a bootable ISO.
    public static let imageTools: [HostTool] = [grubMkrescue, xorriso, mformat, dtc]
    /// Every tool any subcommand uses.
    public static let all: [HostTool] = imageTools + [qemu, bochs, spin, gcc]

    /// The program's location, or `SwiftletError.missingTool` naming the package to install.
    public func locate() throws -> URL {
        // Debian puts some of these in sbin-less user paths only; search the usual folders as well.
        guard let url = ExecutableSearch.find(name, extraFolders: ["/usr/bin", "/usr/sbin", "/bin"]) else {
            throw SwiftletError.missingTool(name: name, package: package)
        }
        return url
    }

    /// Checks that every tool in `tools` is installed, reporting the first one that is not.
    public static func requireAll(_ tools: [HostTool]) throws {
        for tool in tools {
            _ = try tool.locate()
        }
    }
}

/// Files from Debian packages that Bochs needs at boot.
public struct HostFile: Sendable {
    public let path: String
    public let package: String

    public static let bochsBIOS = HostFile(path: "/usr/share/bochs/BIOS-bochs-latest", package: "bochsbios")
    public static let vgaBIOS = HostFile(path: "/usr/share/vgabios/vgabios.bin", package: "vgabios")

    public func require() throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SwiftletError.missingTool(name: path, package: package)
        }
        return path
    }
}
