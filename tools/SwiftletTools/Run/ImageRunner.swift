import Foundation

/// Boots an image on the emulator a run configuration names, in a fresh run folder.
public struct ImageRunner: Sendable {
    public let repository: Repository

    public init(repository: Repository) {
        self.repository = repository
    }

    public func run(iso: URL, configuration: RunConfiguration) throws -> RunResult {
        guard FileManager.default.fileExists(atPath: iso.path) else {
            throw SwiftletError.invalidArgument("no image at \(iso.path)")
        }
        var configuration = configuration
        if configuration.verdictToken == nil { configuration.verdictToken = VerdictTokenFile.read(besideISO: iso) }
        let files = RunFiles(directory: try repository.makeRunDirectory(label: configuration.emulator.rawValue))
        switch configuration.emulator {
        case .qemu: return try QEMURunner().run(iso: iso, configuration: configuration, files: files)
        case .bochs: return try BochsRunner().run(iso: iso, configuration: configuration, files: files)
        }
    }
}
