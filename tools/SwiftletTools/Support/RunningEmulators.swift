import Foundation

/// Emulators already running on the host when a test run starts (another run, or ones left behind by a
/// killed one). Bochs's clock falls behind when it is starved of CPU, so the system tests that compare
/// guest time with the host's can fail beside them: `swiftlet test` names them first.
public enum RunningEmulators {
    public static let names: Set<String> = ["bochs-bin", "bochs", "qemu-system-x86_64", "qemu-system-x86"]

    /// (pid, name) of every process whose command name is an emulator's.
    public static func find(procRoot: String = "/proc") -> [(pid: Int32, name: String)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: procRoot)) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry),
                  let comm = try? String(contentsOfFile: "\(procRoot)/\(entry)/comm", encoding: .utf8) else { return nil }
            let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            return names.contains(name) ? (pid, name) : nil
        }.sorted { $0.pid < $1.pid }
    }

    /// The warning line, or nil when none runs.
    public static func warning(_ found: [(pid: Int32, name: String)]) -> String? {
        guard !found.isEmpty else { return nil }
        let list = found.map { "\($0.name) \($0.pid)" }.joined(separator: ", ")
        return "swiftlet: warning: \(found.count) emulator process\(found.count == 1 ? "" : "es") already running (\(list)): tests that compare guest time with the host's may fail beside them"
    }
}
