import Foundation

/// The Multiboot test kernel (Guests/MultibootTest): an ELF32 kernel that reports what its Multiboot loader
/// gave it and ends through the debug-exit port. The toolchain's clang compiles it and its ld.lld links it
/// at 1 MiB with Guests/MultibootTest/link.ld. Built into `.build/guest/` on every build (it is tiny).
public enum MultibootTestGuest {
    public static let moduleName = "multiboot-test"

    public static func build(in repository: Repository) throws -> URL {
        let directory = repository.root.appendingPathComponent(".build/guest")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let recipe = repository.root.appendingPathComponent("Guests/MultibootTest")
        let object = directory.appendingPathComponent("multiboot-test-\(getpid()).o")
        let image = directory.appendingPathComponent("multiboot-test.elf")
        defer { try? FileManager.default.removeItem(at: object) }
        let toolchain = try SwiftToolchain.locate()
        try ExternalCommand(try toolchain.tool("clang"), ["-target", "i386-unknown-none-elf", "-ffreestanding", "-fno-pic",
                                                          "-fno-stack-protector", "-nostdlib", "-O2", "-Wall", "-Werror", "-c",
                                                          "-o", object.path, recipe.appendingPathComponent("multiboot-test.c").path]).runQuietly()
        try ExternalCommand(try toolchain.tool("ld.lld"), ["-m", "elf_i386", "-T", recipe.appendingPathComponent("link.ld").path,
                                                           "--build-id=none", "-o", image.path, object.path]).runQuietly()
        return image
    }
}
