import Foundation

/// A bootable ISO and the kernel inside it.
public struct BootImage: Sendable {
    public let iso: URL
    public let kernel: URL
    public let configuration: ImageConfiguration

    public init(iso: URL, kernel: URL, configuration: ImageConfiguration) {
        self.iso = iso
        self.kernel = kernel
        self.configuration = configuration
    }

    public var kernelBytes: Int { FileSize.of(kernel) }
    public var isoBytes: Int { FileSize.of(iso) }
}

enum FileSize {
    static func of(_ url: URL) -> Int {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }
}
