import Foundation
import SwiftletABI

/// The verdict token of a built image (Kernel/Interface/VerdictToken.swift): made fresh for every build,
/// put on the kernel's command line in grub.cfg, and kept beside the ISO (`<iso>.verdict`) so a run of
/// that ISO knows which verdict lines to believe. An ISO without one (built elsewhere) is judged by the
/// older rule, untagged lines, and the run says so.
public enum VerdictTokenFile {
    /// 16 lowercase hexadecimal digits from the system's random generator.
    public static func fresh() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(format: "%016llx", generator.next() as UInt64)
    }

    public static func url(besideISO iso: URL) -> URL {
        iso.appendingPathExtension("verdict")
    }

    static func write(_ token: String, besideISO iso: URL) throws {
        try token.write(to: url(besideISO: iso), atomically: true, encoding: .utf8)
    }

    /// The token the image at `iso` was built with, or nil when there is no readable, well-formed one.
    public static func read(besideISO iso: URL) -> String? {
        guard let text = try? String(contentsOf: url(besideISO: iso), encoding: .utf8) else { return nil }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let isWellFormed = token.utf8.count == VerdictToken.digits && token.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        return isWellFormed ? token : nil
    }
}
