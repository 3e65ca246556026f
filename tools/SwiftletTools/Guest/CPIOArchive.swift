import Foundation

/// A cpio archive in the "newc" format the kernel unpacks as an initramfs (Documentation/driver-api/
/// early-userspace/buffer-format.rst), built in memory. Written here rather than by cpio(1) because the
/// archive needs a device node (/dev/console, which the kernel opens before init runs) and cpio(1) can only
/// archive nodes that exist, which takes root to make; and because an archive with fixed owners and
/// times is the same bytes on every machine, so boot instruction counts do not depend on the build.
public struct CPIOArchive {
    public enum Entry {
        case directory(String)
        case file(String, Data, executable: Bool)
        case symbolicLink(String, target: String)
        case characterDevice(String, major: UInt32, minor: UInt32)
    }

    public private(set) var bytes = Data()
    private var inode: UInt32 = 1

    public init() {}

    public mutating func append(_ entry: Entry) {
        switch entry {
        case .directory(let path): record(path, mode: 0o040755, data: Data())
        case .file(let path, let data, let executable): record(path, mode: executable ? 0o100755 : 0o100644, data: data)
        case .symbolicLink(let path, let target): record(path, mode: 0o120777, data: Data(target.utf8))
        case .characterDevice(let path, let major, let minor):
            record(path, mode: 0o020600, data: Data(), device: (major, minor))
        }
    }

    /// The archive with its `TRAILER!!!` record.
    public func finished() -> Data {
        var copy = self
        copy.record("TRAILER!!!", mode: 0, data: Data(), countsAsFile: false)
        return copy.bytes
    }

    private mutating func record(_ path: String, mode: UInt32, data: Data, device: (UInt32, UInt32) = (0, 0),
                                 countsAsFile: Bool = true) {
        let name = Data(path.utf8) + Data([0])
        let fields: [UInt32] = [
            countsAsFile ? inode : 0, mode, 0, 0,           // ino, mode, uid, gid
            mode & 0o040000 != 0 ? 2 : 1, 0,                // nlink, mtime
            UInt32(data.count), 0, 0,                       // filesize, devmajor, devminor (of the file system)
            device.0, device.1,                             // rdevmajor, rdevminor
            UInt32(name.count), 0,                          // namesize, check
        ]
        if countsAsFile { inode += 1 }
        bytes += Data("070701".utf8)
        for field in fields { bytes += Data(String(format: "%08X", field).utf8) }
        bytes += name
        pad()
        bytes += data
        pad()
    }

    /// Header+name and data are each padded to four bytes.
    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}
