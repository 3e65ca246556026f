import Foundation

/// Writes parameters into a copy of a task's ELF image: the words after the marker "SWIFTLET-PARAMS!"
/// in the task's data (Kernel/User/Platform/runtime.c; read with SwiftletUser's TaskParameters). Word 0
/// is a seed, so a test can hand a task a fresh one without a module the task could not see.
public enum TaskParameters {
    static let marker = Array("SWIFTLET-PARAMS!".utf8)

    /// A copy of `image` at `output` whose seed word is `seed`.
    public static func write(seed: UInt64, into image: URL, output: URL) throws {
        var bytes = [UInt8](try Data(contentsOf: image))
        guard let offset = find(in: bytes) else {
            throw SwiftletError.invalidArgument("\(image.path) has no task parameters (no \"SWIFTLET-PARAMS!\" marker)")
        }
        for index in 0..<8 { bytes[offset + marker.count + index] = UInt8(truncatingIfNeeded: seed >> (8 * UInt64(index))) }
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: output)
    }

    static func find(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= marker.count + 16 else { return nil }
        for start in 0...(bytes.count - marker.count - 16) where bytes[start] == marker[0] {
            if Array(bytes[start..<(start + marker.count)]) == marker { return start }
        }
        return nil
    }
}
