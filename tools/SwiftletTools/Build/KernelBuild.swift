import Foundation

/// Compiles the kernel and the native tasks as Embedded Swift for bare metal and links them: the kernel
/// into a multiboot2 ELF, each task into a user-space ELF.
///
/// Two steps, both with the project's own toolchain:
///  1. SwiftPM builds the `Kernel` static library for x86_64-unknown-none-elf. SWIFTLET_BAREMETAL=1
///     switches Package.swift to its bare-metal half; the separate scratch path keeps these objects
///     apart from the host build.
///  2. ld.lld links every object of that archive (--whole-archive: nothing references the boot code, it is
///     reached through the entry point in the linker script) into `kernel.elf`.
public struct KernelBuild: Sendable {
    public let repository: Repository
    public let toolchain: SwiftToolchain

    public init(repository: Repository, toolchain: SwiftToolchain) {
        self.repository = repository
        self.toolchain = toolchain
    }

    /// Builds and links the kernel and every native task; returns the path of the linked kernel.
    @discardableResult
    public func build() throws -> URL {
        try compile()
        for task in NativeTask.all {
            try linkTask(task)
        }
        return try link()
    }

    func compile() throws {
        let command = ExternalCommand(
            toolchain.swift,
            ["build", "-c", "release", "--triple", "x86_64-unknown-none-elf",
             "--scratch-path", repository.bareMetalScratch.path],
            workingDirectory: repository.root,
            environment: ["SWIFTLET_BAREMETAL": "1"])
        try command.runQuietly()
    }

    func link() throws -> URL {
        try linkELF(output: repository.kernelELF, script: repository.linkerScript, archive: repository.kernelArchive,
                    extraFlags: ["-n"])
    }

    /// Links a task: every object of its archive (the task, the user library, its C runtime).
    @discardableResult
    func linkTask(_ task: NativeTask) throws -> URL {
        try linkELF(output: repository.taskELF(task), script: repository.userLinkerScript,
                    archive: repository.taskArchive(task), extraFlags: ["-z", "norelro"])
    }

    private func linkELF(output: URL, script: URL, archive: URL, extraFlags: [String]) throws -> URL {
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        // Link to a private name and rename, so a run booting the previous kernel never reads a
        // half-written file.
        let temporary = FileReplacement.temporarySibling(of: output)
        let command = ExternalCommand(
            toolchain.linker,
            extraFlags + ["--gc-sections", "-z", "max-page-size=0x1000",
                          "-T", script.path,
                          "-o", temporary.path,
                          "--whole-archive", archive.path],
            workingDirectory: repository.root)
        do {
            try command.runQuietly()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        try FileReplacement.move(temporary, over: output)
        return output
    }
}
