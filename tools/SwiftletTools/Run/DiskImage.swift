import Foundation

/// A raw disk image attached to the emulated machine as the primary channel's master (`run --disk`):
/// QEMU's `-drive ... if=ide,index=0` (its `-cdrom` is the secondary master, index 2), Bochs's
/// `ata0-master` with the CD moved to `ata1-master`. The file is sector after sector, nothing else.
public struct DiskImage: Sendable, Equatable {
    public var path: URL
    public var bytes: UInt64

    public static let defaultMiB = 64
    /// Bochs needs the image to be exactly cylinders x heads x sectors-per-track x 512 bytes: with 16
    /// heads and 32 sectors a cylinder is 256 KiB, so every whole MiB is 4 cylinders. 65532 cylinders
    /// (Bochs takes at most 65535) make 16383 MiB the largest.
    public static let heads: UInt64 = 16, sectorsPerTrack: UInt64 = 32
    public static let cylinderBytes: UInt64 = heads * sectorsPerTrack * 512
    public static let maximumMiB = 16383

    public init(path: URL, bytes: UInt64) {
        self.path = path
        self.bytes = bytes
    }

    public var cylinders: UInt64 { bytes / Self.cylinderBytes }
    public var sectors: UInt64 { bytes / 512 }

    /// Checks a `--disk-size` value; the message says what is allowed.
    public static func checkSize(_ mebibytes: Int) throws {
        guard mebibytes >= 1, mebibytes <= maximumMiB else {
            throw SwiftletError.invalidArgument(
                "--disk-size must be a whole number of MiB from 1 to \(maximumMiB) (got \(mebibytes))")
        }
    }

    /// The image at `path`: an existing file as it is (its size must be a whole number of 256 KiB
    /// cylinders, which Bochs needs, and match `mebibytes` if given), or a new sparse file of zeros of
    /// `mebibytes` (default 64).
    public static func prepare(at path: URL, mebibytes: Int?) throws -> DiskImage {
        if let mebibytes { try checkSize(mebibytes) }
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path.path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw SwiftletError.invalidArgument("--disk \(path.path) is a directory") }
            let attributes = try manager.attributesOfItem(atPath: path.path)
            let size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
            guard size > 0, size % cylinderBytes == 0, size / cylinderBytes <= UInt64(maximumMiB) * 4 else {
                throw SwiftletError.invalidArgument(
                    "--disk \(path.path) holds \(size) bytes: a disk image must be a whole number of 256 KiB, at most \(maximumMiB) MiB")
            }
            if let mebibytes, size != UInt64(mebibytes) << 20 {
                throw SwiftletError.invalidArgument(
                    "--disk \(path.path) exists with \(size >> 20) MiB, not the \(mebibytes) MiB --disk-size asks for (it is never resized)")
            }
            return DiskImage(path: path, bytes: size)
        }
        let bytes = UInt64(mebibytes ?? defaultMiB) << 20
        guard manager.createFile(atPath: path.path, contents: nil) else {
            throw SwiftletError.hostFailure("cannot create the disk image \(path.path)")
        }
        // Sparse: the file takes no blocks until sectors are written.
        let handle = try FileHandle(forWritingTo: path)
        defer { try? handle.close() }
        try handle.truncate(atOffset: bytes)
        return DiskImage(path: path, bytes: bytes)
    }

    /// QEMU's arguments for it.
    public var qemuArguments: [String] {
        ["-drive", "file=\(path.path),format=raw,if=ide,index=0,media=disk"]
    }

    /// Bochs's line for it, on the primary channel's master.
    public var bochsLine: String {
        "ata0-master: type=disk, mode=flat, path=\"\(path.path)\", cylinders=\(cylinders), heads=\(Self.heads), spt=\(Self.sectorsPerTrack)"
    }
}
