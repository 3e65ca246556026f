import Foundation

/// The Linux guest recipe: Debian bookworm's stock cloud kernel, never modified, fetched with apt-get and
/// cached under `.build/guest/` with the package's virtio modules, and an initramfs made from busybox-static
/// whose `/init` (Guests/Linux/init) reports what the guest saw and starts a shell on the console (or, in a
/// test mode, powers off).
///
/// The kernel's version is resolved from the `linux-image-cloud-amd64` package at build time (it moves
/// with security updates); nothing else in the tree names it.
public struct LinuxGuest: Sendable {
    public let kernel: URL
    public let initramfs: URL
    /// What `uname -r` prints in the guest, e.g. `6.1.0-57-cloud-amd64`.
    public let release: String
    /// The Debian package version, e.g. `6.1.192-3`.
    public let packageVersion: String
    /// The kernel's SHA-256, recorded when it was fetched and checked on every reuse.
    public let kernelSHA256: String

    public static let metaPackage = "linux-image-cloud-amd64"
    /// The first words of the line `/init` prints once user space runs.
    public static let marker = "swiftlet-guest: user space up"
    /// The shell's first prompt in the default boot (Guests/Linux/etc/profile's PS1 in `/`).
    public static let prompt = "swiftlet:/# "

    /// Fetches the kernel package if its kernel or modules are not cached (or a checksum no longer matches)
    /// and builds the initramfs.
    /// `progress` gets one short line per step that does real work.
    public static func prepare(in repository: Repository, progress: (String) -> Void) throws -> LinuxGuest {
        try prepare(in: repository, listsUpdated: false, progress: progress)
    }

    /// A download that fails on package lists apt already had (the archive has moved on to a newer
    /// package, or the network failed for a moment) updates them and resolves the package again, once.
    private static func prepare(in repository: Repository, listsUpdated: Bool, progress: (String) -> Void) throws -> LinuxGuest {
        let directory = repository.root.appendingPathComponent(".build/guest")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let package = try resolvePackage()
        let version = try packageField(package, "Version")
        let release = String(package.dropFirst("linux-image-".count))
        let kernel = directory.appendingPathComponent("vmlinuz-\(release)_\(version)")
        let recorded = kernel.appendingPathExtension("sha256")

        let modules = directory.appendingPathComponent("modules-\(release)_\(version)")

        var checksum = try? String(contentsOf: recorded, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        if let expected = checksum, FileManager.default.fileExists(atPath: kernel.path) {
            let found = try sha256(kernel)
            if found != expected {
                progress("guest: cached \(kernel.lastPathComponent) has SHA-256 \(found), recorded \(expected); fetching it again")
                checksum = nil
            }
        } else {
            checksum = nil
        }
        // The modules come from the same package: a missing or changed file fetches it again.
        if checksum != nil, !LinuxModules.verify(modules) {
            progress("guest: the cached modules in \(modules.lastPathComponent) are missing or changed; fetching the package again")
            checksum = nil
        }
        if checksum == nil {
            progress("guest: fetching \(package) \(version) with apt-get download")
            do {
                try fetch(package: package, kernelRelease: release, to: kernel, modules: modules, in: directory)
            } catch where !listsUpdated {
                progress("guest: the download failed (\(error)); updating the package lists and resolving the kernel again")
                try command("apt-get", ["update", "-qq"]).runQuietly()
                return try prepare(in: repository, listsUpdated: true, progress: progress)
            }
            let digest = try sha256(kernel)
            try Data((digest + "\n").utf8).write(to: recorded)
            checksum = digest
        }

        let initramfs = directory.appendingPathComponent("initramfs-\(release).cpio.gz")
        try buildInitramfs(at: initramfs, recipe: repository.root.appendingPathComponent("Guests/Linux"),
                           modules: (release, try LinuxModules.files(in: modules)), scratch: directory)
        return LinuxGuest(kernel: kernel, initramfs: initramfs, release: release, packageVersion: version,
                          kernelSHA256: checksum!)
    }

    /// `linux-image-6.1.0-NN-cloud-amd64`: what the meta package depends on today. Updates the package
    /// lists once if apt knows nothing yet (a fresh machine).
    static func resolvePackage() throws -> String {
        for attempt in 0..<2 {
            let output = (try? command("apt-cache", ["depends", "--important", metaPackage]).runQuietly()) ?? ""
            for line in output.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 2, words[0] == "Depends:", words[1].hasPrefix("linux-image-") { return String(words[1]) }
            }
            if attempt == 0 { try command("apt-get", ["update", "-qq"]).runQuietly() }
        }
        throw SwiftletError.hostFailure("apt knows no package \(metaPackage) (is this Debian bookworm with its security updates?)")
    }

    static func packageField(_ package: String, _ field: String) throws -> String {
        let output = try command("apt-cache", ["show", "--no-all-versions", package]).runQuietly()
        for line in output.split(separator: "\n") where line.hasPrefix("\(field): ") {
            return String(line.dropFirst(field.count + 2))
        }
        throw SwiftletError.hostFailure("apt-cache show \(package) has no \(field) field")
    }

    /// Downloads the package (apt-get checks it against the archive's signed SHA-256) and keeps only the
    /// kernel and the virtio modules (LinuxModules).
    static func fetch(package: String, kernelRelease: String, to kernel: URL, modules: URL, in directory: URL) throws {
        let scratch = directory.appendingPathComponent("download-\(getpid())")
        try? FileManager.default.removeItem(at: scratch)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try command("apt-get", ["download", "-qq", package], in: scratch).runQuietly()
        guard let deb = try FileManager.default.contentsOfDirectory(atPath: scratch.path).first(where: { $0.hasSuffix(".deb") }) else {
            throw SwiftletError.hostFailure("apt-get download \(package) left no .deb")
        }
        let tree = scratch.appendingPathComponent("tree")
        try command("dpkg-deb", ["-x", deb, tree.path], in: scratch).runQuietly()
        try LinuxModules.extract(from: tree.appendingPathComponent("lib/modules/\(kernelRelease)"), to: modules)
        let image = tree.appendingPathComponent("boot/vmlinuz-\(kernelRelease)")
        try? FileManager.default.removeItem(at: kernel)
        try FileManager.default.moveItem(at: image, to: kernel)
    }

    static func sha256(_ file: URL) throws -> String {
        let output = try command("sha256sum", [file.path]).runQuietly()
        return String(output.prefix(64))
    }

    /// The initramfs: busybox with all its applets, `/dev/console`, a minimal `/etc` (root's account, a
    /// profile), `/init`, `tsc` and the files of `etc/` from `recipe` (Guests/Linux), and the kernel's
    /// modules under `/lib/modules/<release>/` (LinuxModules.files).
    static func buildInitramfs(at target: URL, recipe: URL, modules: (release: String, files: [(path: String, data: Data)]),
                               scratch: URL) throws {
        let busybox = URL(fileURLWithPath: "/bin/busybox")
        guard let binary = FileManager.default.contents(atPath: busybox.path) else {
            throw SwiftletError.missingTool(name: "/bin/busybox", package: "busybox-static")
        }
        var archive = CPIOArchive()
        for folder in ["bin", "dev", "etc", "proc", "root", "sys", "tmp"] { archive.append(.directory(folder)) }
        archive.append(.characterDevice("dev/console", major: 5, minor: 1))
        archive.append(.file("bin/busybox", binary, executable: true))
        let applets = try ExternalCommand(busybox, ["--list"]).runQuietly().split(separator: "\n").map(String.init)
        for applet in Set(applets).subtracting(["busybox", "tsc"]).sorted() where !applet.contains("/") && !applet.isEmpty {
            archive.append(.symbolicLink("bin/\(applet)", target: "busybox"))
        }
        for name in ["passwd", "group", "profile", "inittab"] {
            archive.append(.file("etc/\(name)", try Data(contentsOf: recipe.appendingPathComponent("etc/\(name)")), executable: false))
        }
        // The modules' folders before their files: the kernel's unpacker makes no parents.
        var folders: Set<String> = []
        for file in modules.files {
            var folder = ""
            for part in ("lib/modules/\(modules.release)/" + file.path).split(separator: "/").dropLast() {
                folder += (folder.isEmpty ? "" : "/") + part
                if folders.insert(folder).inserted { archive.append(.directory(folder)) }
            }
            archive.append(.file("lib/modules/\(modules.release)/\(file.path)", file.data, executable: false))
        }
        archive.append(.file("bin/tsc", try compileTSC(recipe.appendingPathComponent("tsc.c"), scratch: scratch), executable: true))
        archive.append(.file("init", try Data(contentsOf: recipe.appendingPathComponent("init")), executable: true))
        let raw = scratch.appendingPathComponent("initramfs-\(getpid()).cpio")
        try archive.finished().write(to: raw)
        // -n: no name or time stamp in the header, so the same archive gives the same bytes.
        try command("gzip", ["-n", "-9", "-f", raw.path]).runQuietly()
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.moveItem(at: raw.appendingPathExtension("gz"), to: target)
    }

    /// `tsc`, a static binary without a C library, made by the Swift toolchain's clang and lld.
    static func compileTSC(_ source: URL, scratch: URL) throws -> Data {
        let clang = try SwiftToolchain.locate().tool("clang")
        let output = scratch.appendingPathComponent("tsc-\(getpid())")
        defer { try? FileManager.default.removeItem(at: output) }
        try ExternalCommand(clang, ["-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fno-pie", "-O2",
                                    "-fuse-ld=lld", "-Wl,--build-id=none", "-o", output.path, source.path]).runQuietly()
        return try Data(contentsOf: output)
    }

    static func command(_ name: String, _ arguments: [String], in directory: URL? = nil) -> ExternalCommand {
        let path = ExecutableSearch.find(name, extraFolders: ["/usr/bin", "/bin", "/usr/sbin"])
            ?? URL(fileURLWithPath: "/usr/bin/\(name)")
        return ExternalCommand(path, arguments, workingDirectory: directory)
    }
}
