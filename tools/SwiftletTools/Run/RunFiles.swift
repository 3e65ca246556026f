import Foundation

/// The files of one emulator run, all in the run's own folder under `.build/swiftlet/runs/`.
struct RunFiles {
    let directory: URL

    /// A copy of everything the guest wrote to its serial console.
    var console: URL { directory.appendingPathComponent("console.log") }
    /// What the emulator itself printed (warnings, errors).
    var emulatorOutput: URL { directory.appendingPathComponent("emulator.out") }

    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Opens `url` for writing, created empty; returns the descriptor (close-on-exec).
    static func openForWriting(_ url: URL) throws -> Int32 {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SwiftletError.hostFailure("cannot create \(url.path): errno \(errno)")
        }
        return descriptor
    }

    /// The console transcript, created empty; closed when the handle goes away.
    func openTranscript() throws -> FileHandle {
        FileHandle(fileDescriptor: try Self.openForWriting(console), closeOnDealloc: true)
    }

    static func openNullDevice() throws -> Int32 {
        let descriptor = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw SwiftletError.hostFailure("cannot open /dev/null") }
        return descriptor
    }

    /// The last lines the emulator printed, to explain a run that ended without a power-off.
    func emulatorMessages(lastLines count: Int = 15) -> String {
        guard let data = FileManager.default.contents(atPath: emulatorOutput.path) else { return "" }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
        return lines.suffix(count).joined(separator: "\n")
    }
}
