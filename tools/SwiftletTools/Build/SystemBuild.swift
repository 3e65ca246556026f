import Foundation

/// The whole build behind `swiftlet build`: the kernel, then the ISO around it.
public struct SystemBuild: Sendable {
    public let repository: Repository

    public init(repository: Repository) {
        self.repository = repository
    }

    public func build(_ configuration: ImageConfiguration = .standard, output: URL? = nil) throws -> BootImage {
        // Check the image tools first: a missing package should not cost a kernel compile to discover.
        try HostTool.requireAll(HostTool.imageTools)
        let kernel = try KernelBuild(repository: repository, toolchain: try SwiftToolchain.locate()).build()
        return try ImageBuilder(repository: repository)
            .buildImage(kernel: kernel, configuration: configuration, output: output)
    }
}
