/// The initrd formats the guest's kernel unpacks, recognised by their first bytes before the VM starts: a
/// newc cpio archive ("070701", or "070702" with checksums) or one compressed with gzip, xz or zstd
/// (Debian's cloud kernel has RD_GZIP, RD_XZ and RD_ZSTD). A module that is none of these is refused with
/// a reason, rather than handed to a guest that would fail in `populate_rootfs` and panic. An archive
/// damaged past its header still reaches the kernel, which says so itself ("Initramfs unpacking failed").
public enum InitrdImage {
    public enum Format: Equatable, Sendable { case cpio, gzip, xz, zstd }

    /// The format `bytes` start with; nil if none the kernel unpacks.
    public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
        func starts(with magic: [UInt8]) -> Bool {
            bytes.count >= magic.count && magic.indices.allSatisfy { bytes[$0] == magic[$0] }
        }
        if starts(with: [0x30, 0x37, 0x30, 0x37, 0x30, 0x31]) || starts(with: [0x30, 0x37, 0x30, 0x37, 0x30, 0x32]) { return .cpio }
        if starts(with: [0x1F, 0x8B, 0x08]) { return .gzip }             // gzip, method deflate (the only one)
        if starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        return nil
    }
}
