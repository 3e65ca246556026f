import Foundation

/// The hostile test guest (Guests/HostileLinux/hostile.S): a bzImage of a few KiB, written in assembly
/// with its own setup header, that programs the board's devices with nonsense (or, by its command line,
/// floods the console or ignores an input storm: console.S, included) and powers off. The source
/// is position independent, so the toolchain's clang assembles it and llvm-objcopy takes the bytes of its
/// one section as the image; nothing links it. Built into `.build/guest/` on every build (it is tiny).
public enum HostileLinuxGuest {
    public static let moduleName = "hostile-linux"
    /// The line the guest prints once every probe ran (before its ACPI power-off).
    public static let marker = "hostile-linux: all probes done"

    public static func build(in repository: Repository) throws -> URL {
        let directory = repository.root.appendingPathComponent(".build/guest")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let source = repository.root.appendingPathComponent("Guests/HostileLinux/hostile.S")
        let object = directory.appendingPathComponent("hostile-linux-\(getpid()).o")
        let image = directory.appendingPathComponent("hostile-linux.bzImage")
        defer { try? FileManager.default.removeItem(at: object) }
        let toolchain = try SwiftToolchain.locate()
        try ExternalCommand(try toolchain.tool("clang"), ["-target", "x86_64-unknown-none-elf", "-c", "-o", object.path, source.path]).runQuietly()
        try ExternalCommand(try toolchain.tool("llvm-objcopy"), ["-O", "binary", "-j", ".text", object.path, image.path]).runQuietly()
        return image
    }
}
