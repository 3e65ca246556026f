import Foundation

/// The virtio modules of the guest's kernel package, for the initramfs: `kernel/drivers/virtio/*`,
/// virtio_blk, virtio_net, virtio_console, virtio-rng and every module they need, as the package ships
/// them, with a `modules.dep` busybox `modprobe` reads.
///
/// The package has no modules.dep (its postinst runs depmod) and this machine has no kmod, so the
/// dependencies come from each module's own `.modinfo` section (`depends=a,b`), followed transitively.
/// The cache (`.build/guest/modules-<release>_<version>/`) records the SHA-256 of every file it holds
/// (`SHA256SUMS`), checked on every reuse like the kernel's.
public enum LinuxModules {
    /// The modules asked for, as paths under `lib/modules/<release>/`; `kernel/drivers/virtio/` means all in it.
    static let wanted = ["kernel/drivers/virtio/", "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/net/virtio_net.ko",
                         "kernel/drivers/char/virtio_console.ko", "kernel/drivers/char/hw_random/virtio-rng.ko"]
    static let checksums = "SHA256SUMS"

    /// Whether `cache` holds a complete set whose files still have their recorded SHA-256.
    static func verify(_ cache: URL) -> Bool {
        guard FileManager.default.fileExists(atPath: cache.appendingPathComponent(checksums).path) else { return false }
        return (try? LinuxGuest.command("sha256sum", ["--check", "--status", "--strict", checksums], in: cache).runQuietly()) != nil
    }

    /// Copies the wanted modules and their dependencies from the unpacked package's `lib/modules/<release>`
    /// (`tree`) into `cache`, writes modules.dep and records the checksums.
    static func extract(from tree: URL, to cache: URL) throws {
        let index = try moduleIndex(tree)
        var selected: [String] = []
        for want in wanted {
            if want.hasSuffix("/") {
                selected += index.values.filter { $0.hasPrefix(want) && !$0.dropFirst(want.count).contains("/") }.sorted()
            } else if index.values.contains(want) {
                selected.append(want)
            } else {
                throw SwiftletError.hostFailure("the kernel package has no \(want)")
            }
        }
        // Each module's dependency list, as depmod writes it: every module it needs, directly or not, each
        // before the modules it needs itself (modprobe loads the list from its end).
        var dependencies: [String: [String]] = [:]
        func resolve(_ path: String, _ visiting: inout Set<String>) throws -> [String] {
            if let known = dependencies[path] { return known }
            guard visiting.insert(path).inserted else { throw SwiftletError.hostFailure("\(path): circular module dependencies") }
            var order: [String] = []   // dependencies first (post-order), reversed below
            for name in try dependsField(tree.appendingPathComponent(path)) {
                guard let dependency = index[name] else {
                    throw SwiftletError.hostFailure("\(path) depends on \(name), which the kernel package does not ship")
                }
                for item in try resolve(dependency, &visiting).reversed() + [dependency] where !order.contains(item) {
                    order.append(item)
                }
            }
            visiting.remove(path)
            dependencies[path] = order.reversed()
            return dependencies[path]!
        }
        var visiting = Set<String>()
        var all: [String] = []
        for path in selected {
            for item in [path] + (try resolve(path, &visiting)) where !all.contains(item) { all.append(item) }
        }
        try? FileManager.default.removeItem(at: cache)
        for path in all {
            let target = cache.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: tree.appendingPathComponent(path), to: target)
        }
        let dep = all.sorted().map { path in ([path + ":"] + dependencies[path]!).joined(separator: " ") + "\n" }.joined()
        try Data(dep.utf8).write(to: cache.appendingPathComponent("modules.dep"))
        let sums = try (all + ["modules.dep"]).map { "\(try LinuxGuest.sha256(cache.appendingPathComponent($0)))  \($0)\n" }.joined()
        try Data(sums.utf8).write(to: cache.appendingPathComponent(checksums))
    }

    /// The files of `cache` for the initramfs: (path under lib/modules/<release>/, contents), modules.dep last.
    static func files(in cache: URL) throws -> [(path: String, data: Data)] {
        let listed = try String(contentsOf: cache.appendingPathComponent(checksums), encoding: .utf8)
        return try listed.split(separator: "\n").map { line in
            let path = String(line.dropFirst(66))   // 64 hex digits and two spaces
            return (path, try Data(contentsOf: cache.appendingPathComponent(path)))
        }
    }

    /// Every module of the package by its name (`virtio-rng.ko` is `virtio_rng`), as a path under `tree`.
    static func moduleIndex(_ tree: URL) throws -> [String: String] {
        var index: [String: String] = [:]
        let kernel = tree.appendingPathComponent("kernel")
        guard let walker = FileManager.default.enumerator(atPath: kernel.path) else {
            throw SwiftletError.hostFailure("the kernel package has no \(kernel.path)")
        }
        for case let relative as String in walker where relative.hasSuffix(".ko") {
            let name = String(relative.split(separator: "/").last!.dropLast(3)).replacingOccurrences(of: "-", with: "_")
            index[name] = "kernel/" + relative
        }
        return index
    }

    /// The `depends=` entry of a module's `.modinfo` section: the names of the modules it needs.
    static func dependsField(_ module: URL) throws -> [String] {
        let bytes = [UInt8](try Data(contentsOf: module))
        guard let info = ELFSection.contents(named: ".modinfo", in: bytes) else {
            throw SwiftletError.hostFailure("\(module.lastPathComponent): not an ELF64 module with a .modinfo section")
        }
        for entry in info.split(separator: 0) where entry.starts(with: Array("depends=".utf8)) {
            let value = String(decoding: entry.dropFirst(8), as: UTF8.self)
            return value.split(separator: ",").map { $0.replacingOccurrences(of: "-", with: "_") }
        }
        return []
    }
}

/// One section of a little-endian ELF64 file by name, every offset and size checked against the file.
enum ELFSection {
    static func contents(named name: String, in bytes: [UInt8]) -> ArraySlice<UInt8>? {
        func word(_ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, size <= 8, offset <= bytes.count - size else { return nil }
            var value: UInt64 = 0
            for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
            return value <= UInt64(Int.max) ? Int(value) : nil
        }
        guard bytes.count >= 64, bytes[0..<4].elementsEqual([0x7F, 0x45, 0x4C, 0x46]), bytes[4] == 2, bytes[5] == 1,
              let table = word(0x28, 8), let entrySize = word(0x3A, 2), let count = word(0x3C, 2),
              let namesIndex = word(0x3E, 2), entrySize >= 0x28, namesIndex < count,
              table <= bytes.count, count <= (bytes.count - table) / entrySize else { return nil }
        func section(_ index: Int) -> (name: Int, contents: ArraySlice<UInt8>)? {
            let header = table + index * entrySize
            guard let nameOffset = word(header, 4), let offset = word(header + 0x18, 8), let size = word(header + 0x20, 8),
                  offset <= bytes.count, size <= bytes.count - offset else { return nil }
            return (nameOffset, bytes[offset..<offset + size])
        }
        guard let names = section(namesIndex)?.contents else { return nil }
        let wanted = Array(name.utf8) + [0]
        for index in 0..<count {
            guard let (nameOffset, contents) = section(index), nameOffset < names.count else { continue }
            let start = names.startIndex + nameOffset
            if names[start...].starts(with: wanted) { return contents }
        }
        return nil
    }
}
