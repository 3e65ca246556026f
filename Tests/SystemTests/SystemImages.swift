import Foundation
import SwiftletTools

/// The images the system tests boot, each built once per test run.
///
/// The kernel is compiled and linked on first use; every image configuration then gets its own ISO.
/// A failed build is remembered too, so it fails each test quickly instead of being retried.
enum SystemImages {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var kernel: Result<URL, Error>?
    nonisolated(unsafe) private static var images: [ImageConfiguration: Result<BootImage, Error>] = [:]

    static let repository: Repository = {
        // This file is Tests/SystemTests/SystemImages.swift in the checkout under test.
        try! Repository.locate(from: URL(fileURLWithPath: #filePath).deletingLastPathComponent())
    }()

    static func image(_ configuration: ImageConfiguration = .native) throws -> BootImage {
        lock.lock()
        defer { lock.unlock() }
        if let cached = images[configuration] { return try cached.get() }
        let result = Result { () throws -> BootImage in
            let kernel = try builtKernel()
            return try ImageBuilder(repository: repository).buildImage(kernel: kernel, configuration: configuration)
        }
        images[configuration] = result
        return try result.get()
    }

    /// The linked kernel ELF (built on first use).
    static func kernelELF() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        return try builtKernel()
    }

    /// Call with the lock held.
    private static func builtKernel() throws -> URL {
        if let kernel { return try kernel.get() }
        let result = Result { () throws -> URL in
            try HostTool.requireAll(HostTool.all)
            return try KernelBuild(repository: repository, toolchain: try SwiftToolchain.locate()).build()
        }
        kernel = result
        return try result.get()
    }
}
