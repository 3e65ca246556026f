import SwiftletABI

/// A Linux x86 bzImage, as the boot protocol (Documentation/arch/x86/boot.rst) lays it out: a real-mode
/// setup part of `setupSectors + 1` sectors whose header (at 0x1F1) describes the kernel, then the
/// protected-mode kernel. Everything the VMM later relies on is checked here, once: a truncated, foreign
/// or too-old image is refused with a reason, never half loaded.
///
/// The VMM uses the 64-bit entry (protocol 2.12+, `XLF_KERNEL_64`): it sets up long mode itself and
/// jumps to the kernel's load address + 0x200 with RSI pointing at `boot_params`.
public struct LinuxKernelImage {
    /// 2.12 added `xloadflags`, which says whether the 64-bit entry exists.
    public static let minimumProtocol: UInt16 = 0x020C
    public static let headerOffset = 0x1F1
    /// The setup header's length as the protocol defines it: 0x202 + the byte at 0x201 (the jump's
    /// offset), capped where `boot_params` ends it.
    public static let headerLimit = 0x290

    public let protocolVersion: UInt16
    /// Where the protected-mode kernel starts in the file, and how long it is.
    public let kernelOffset: Int
    public let kernelSize: Int
    /// The address the kernel was linked for; a relocatable kernel may go elsewhere, aligned to `alignment`.
    public let preferredAddress: UInt64
    public let alignment: UInt64
    public let relocatable: Bool
    /// Memory the kernel needs from its load address on while it decompresses and starts.
    public let initSize: UInt64
    /// The longest command line it takes, without the NUL.
    public let commandLineLimit: UInt64
    /// The highest address the initrd may end at (inclusive), below 4 GiB unless `initrdAbove4G`.
    public let initrdAddressMax: UInt64
    public let initrdAbove4G: Bool
    /// The setup header bytes (file offset 0x1F1 up to the header's end), copied into `boot_params`.
    public let headerLength: Int

    public enum Failure: Error, Equatable {
        case tooSmall, noBootSignature, noSetupHeader, protocolTooOld(UInt16), notLoadedHigh
        case no64BitEntry, setupOutOfBounds, badAlignment, noInitSize

        public var description: StaticString {
            switch self {
            case .tooSmall: return "too small for a bzImage setup header"
            case .noBootSignature: return "no boot sector signature (0xAA55 at 0x1FE): not a bzImage"
            case .noSetupHeader: return "no setup header (\"HdrS\" at 0x202): not a bzImage, or older than protocol 2.00"
            case .protocolTooOld: return "boot protocol older than 2.12: no 64-bit entry point"
            case .notLoadedHigh: return "a zImage (loaded low), not a bzImage"
            case .no64BitEntry: return "no 64-bit entry point (XLF_KERNEL_64 clear)"
            case .setupOutOfBounds: return "the setup sectors or the kernel lie outside the file (truncated?)"
            case .badAlignment: return "kernel_alignment is not a power of two of at least 4 KiB"
            case .noInitSize: return "init_size is smaller than the kernel itself"
            }
        }
    }

    public init(validating bytes: UnsafeRawBufferPointer) throws(Failure) {
        let reader = ByteReader(bytes)
        guard bytes.count >= 0x268 else { throw .tooSmall }
        guard reader.u16(0x1FE) == 0xAA55 else { throw .noBootSignature }
        guard reader.u32(0x202) == 0x5372_6448 else { throw .noSetupHeader }      // "HdrS"
        let version = reader.u16(0x206)!
        guard version >= Self.minimumProtocol else { throw .protocolTooOld(version) }
        guard reader.u8(0x211)! & 0x01 != 0 else { throw .notLoadedHigh }           // LOADED_HIGH
        let xloadflags = reader.u16(0x236)!
        guard xloadflags & 0x01 != 0 else { throw .no64BitEntry }                   // XLF_KERNEL_64

        // setup_sects 0 means 4 (the oldest images); each is 512 bytes, after the boot sector.
        let rawSectors = Int(reader.u8(0x1F1)!)
        let setupBytes = ((rawSectors == 0 ? 4 : rawSectors) + 1) * 512
        guard setupBytes < bytes.count else { throw .setupOutOfBounds }
        let alignment = UInt64(reader.u32(0x230)!)
        guard alignment >= 4096, alignment & (alignment - 1) == 0 else { throw .badAlignment }
        let kernelSize = bytes.count - setupBytes
        let initSize = UInt64(reader.u32(0x260)!)
        guard initSize >= UInt64(kernelSize) else { throw .noInitSize }

        protocolVersion = version
        kernelOffset = setupBytes
        self.kernelSize = kernelSize
        preferredAddress = reader.u64(0x258)!
        self.alignment = alignment
        relocatable = reader.u8(0x234)! != 0
        self.initSize = initSize
        commandLineLimit = UInt64(reader.u32(0x238)!)
        initrdAddressMax = UInt64(reader.u32(0x22C)!)
        initrdAbove4G = xloadflags & 0x02 != 0                                      // XLF_CAN_BE_LOADED_ABOVE_4G
        headerLength = min(0x202 + Int(reader.u8(0x201)!), Self.headerLimit) - Self.headerOffset
    }
}
