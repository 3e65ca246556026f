import Foundation

/// The Swiftlet source tree and the places inside it where builds and runs leave their files.
///
/// Every path the tools use is derived from here, so a build started from any working directory (or from
/// a test binary) writes to the same places.
public struct Repository: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root.standardizedFileURL
    }

    /// Finds the checkout the command works on: the one containing the working directory, or else
    /// the one the running executable was built in (`.build/debug/swiftlet` lives inside it).
    public static func locate() throws -> Repository {
        let workingDirectory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        if let found = try? locate(from: workingDirectory) {
            return found
        }
        if let executable = Bundle.main.executableURL, let found = try? locate(from: executable) {
            return found
        }
        throw SwiftletError.notInRepository(workingDirectory.path)
    }

    /// Finds the repository that contains `start` by walking up to the folder holding both
    /// `Package.swift` and `Kernel/`.
    public static func locate(from start: URL) throws -> Repository {
        var folder = start.standardizedFileURL
        let fileManager = FileManager.default
        while true {
            let manifest = folder.appendingPathComponent("Package.swift").path
            let kernel = folder.appendingPathComponent("Kernel").path
            if fileManager.fileExists(atPath: manifest) && fileManager.fileExists(atPath: kernel) {
                return Repository(root: folder)
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path {
                throw SwiftletError.notInRepository(start.path)
            }
            folder = parent
        }
    }

    /// Scratch files of the swiftlet command: the linked kernel, ISO trees, images and run logs.
    public var workDirectory: URL { root.appendingPathComponent(".build/swiftlet") }

    /// SwiftPM's scratch path for the bare-metal build, kept apart from the host build's `.build`.
    public var bareMetalScratch: URL { root.appendingPathComponent(".build-baremetal") }

    /// The static library SwiftPM produces for the kernel product.
    public var kernelArchive: URL {
        bareMetalScratch.appendingPathComponent("x86_64-unknown-none-elf/release/libKernel.a")
    }

    public var linkerScript: URL { root.appendingPathComponent("Kernel/Platform/kernel.ld") }

    /// The static library SwiftPM produces for a native task's product.
    public func taskArchive(_ task: NativeTask) -> URL {
        bareMetalScratch.appendingPathComponent("x86_64-unknown-none-elf/release/lib\(task.product).a")
    }

    /// Where native tasks are linked (user space, 4 MiB up).
    public var userLinkerScript: URL { root.appendingPathComponent("Kernel/User/user.ld") }

    /// A linked native task.
    public func taskELF(_ task: NativeTask) -> URL {
        workDirectory.appendingPathComponent("tasks/\(task.name).elf")
    }

    /// The linked kernel, a multiboot2 ELF.
    public var kernelELF: URL { workDirectory.appendingPathComponent("kernel.elf") }

    /// A fresh, empty folder for one emulator run's files (console log, emulator config and logs).
    /// Run folders are kept so a failed run can be inspected; those older than a day are removed.
    public func makeRunDirectory(label: String) throws -> URL {
        let fileManager = FileManager.default
        let runs = workDirectory.appendingPathComponent("runs")
        try fileManager.createDirectory(at: runs, withIntermediateDirectories: true)
        removeRunDirectories(in: runs, olderThan: 24 * 3600)
        let unique = UUID().uuidString.prefix(8).lowercased()
        let folder = runs.appendingPathComponent("\(label)-\(unique)")
        try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    private func removeRunDirectories(in runs: URL, olderThan age: TimeInterval) {
        let fileManager = FileManager.default
        let limit = Date().addingTimeInterval(-age)
        let entries = (try? fileManager.contentsOfDirectory(
            at: runs, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        for entry in entries {
            let modified = (try? entry.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
            if let modified, modified < limit {
                try? fileManager.removeItem(at: entry)
            }
        }
    }
}
