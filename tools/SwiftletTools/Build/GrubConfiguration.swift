import Foundation

/// The grub.cfg that boots the kernel at once with its command line and modules.
///
/// File locations inside the ISO are fixed here, and the image builder copies the files to the same
/// places.
public enum GrubConfiguration {
    public static let kernelPath = "/boot/swiftlet.elf"

    public static func modulePath(_ module: BootModule) -> String {
        "/boot/modules/\(module.name)"
    }

    /// `verdictToken`: the build's token (VerdictTokenFile), last on the kernel's command line.
    public static func text(for configuration: ImageConfiguration, verdictToken: String? = nil) -> String {
        var kernelLine = "  multiboot2 \(kernelPath)"
        for word in configuration.commandLine.split(whereSeparator: \.isWhitespace) {
            kernelLine += " " + quoted(String(word))
        }
        if let verdictToken { kernelLine += " verdict=\(verdictToken)" }
        var lines = [
            "set timeout=0",
            "set default=0",
            "menuentry \"Swiftlet\" {",
            kernelLine,
        ]
        for module in configuration.modules {
            // The string after the path is the module's multiboot2 command line: the kernel reads the
            // module's name from it. --nounzip: the module is the file as built (GRUB would otherwise
            // unpack a gzip file, such as the guest's initramfs, to twice its size).
            lines.append("  module2 --nounzip \(modulePath(module)) \(module.name)")
        }
        lines += ["  boot", "}"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Characters GRUB's script parser passes through unchanged.
    private static let plainCharacters = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=.,:/+@%")

    /// A command-line word as GRUB must see it for the kernel to get it verbatim: GRUB would otherwise
    /// expand `$variables` and treat `;`, `#`, quotes and braces as syntax. GRUB removes the quotes.
    static func quoted(_ word: String) -> String {
        if word.allSatisfy(plainCharacters.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
