import Foundation
import SwiftletTools

/// What the test sources are written with.
enum TestSources {
    /// Whether any file under Tests/ imports Swift Testing.
    static func useSwiftTesting(in repository: Repository) -> Bool {
        let tests = repository.root.appendingPathComponent("Tests")
        guard let files = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil) else {
            return false
        }
        for case let file as URL in files where file.pathExtension == "swift" {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            if text.split(whereSeparator: \.isNewline).contains(where: { $0.hasPrefix("import Testing") }) {
                return true
            }
        }
        return false
    }
}
