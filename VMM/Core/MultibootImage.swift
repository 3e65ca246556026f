import SwiftletABI

/// A Multiboot (version 1) kernel, as the specification lays it out and as QEMU's `-kernel` loads it:
/// a header in the first 8192 bytes (32-bit aligned: magic 0x1BADB002, flags, checksum), then either the
/// header's own load addresses (flag 16, the "a.out kludge") or the ELF program headers (ELF32 or ELF64)
/// say what goes where. Everything loading relies on is checked here: each segment's bytes lie in the
/// file, its memory below 4 GiB and the entry inside a loaded segment; a header or image that is
/// foreign, truncated or asks for something the VMM does not provide is refused with a reason.
public struct MultibootImage {
    public static let headerMagic: UInt32 = 0x1BAD_B002
    /// What the kernel finds in EAX at its entry.
    public static let bootloaderMagic: UInt32 = 0x2BAD_B002
    public static let searchLimit = 8192
    public static let maximumSegments = 16

    /// Header flags. Bits 0-15 are requirements a loader that does not meet them must refuse.
    public enum Flag {
        public static let pageAlignModules: UInt32 = 1 << 0
        public static let memoryInformation: UInt32 = 1 << 1
        /// A video mode: the VMM has no framebuffer and gives none (as QEMU), the console is the UART.
        public static let videoMode: UInt32 = 1 << 2
        public static let addressFields: UInt32 = 1 << 16
        public static let understood: UInt32 = pageAlignModules | memoryInformation | videoMode
    }

    /// One piece copied into guest memory: `fileBytes` from `fileOffset`, then zeros up to `memoryBytes`.
    public struct Segment: Equatable {
        public var address: UInt64
        public var fileOffset: Int
        public var fileBytes: Int
        public var memoryBytes: UInt64
        public var end: UInt64 { address + memoryBytes }

        public init(address: UInt64, fileOffset: Int, fileBytes: Int, memoryBytes: UInt64) {
            (self.address, self.fileOffset, self.fileBytes, self.memoryBytes) = (address, fileOffset, fileBytes, memoryBytes)
        }
    }

    public let headerOffset: Int
    public let flags: UInt32
    public let entry: UInt32
    public let segments: InlineArray<16, Segment>
    public let segmentCount: Int
    /// The first byte above everything loaded (modules go above it).
    public let loadEnd: UInt64
    public let isELF: Bool

    public enum Failure: Error, Equatable {
        case noHeader, badChecksum, unsupportedFlags(UInt32), badAddressFields, notELF, badELF
        case noSegments, tooManySegments, segmentOutsideFile, segmentAbove4G, entryNotLoaded

        public var description: StaticString {
            switch self {
            case .noHeader: return "no Multiboot header (magic 0x1BADB002) in the first 8192 bytes"
            case .badChecksum: return "the Multiboot header's checksum is wrong (magic + flags + checksum is not 0)"
            case .unsupportedFlags: return "the Multiboot header requires a feature the VMM does not provide (flag bits 3-15)"
            case .badAddressFields: return "the Multiboot address fields are inconsistent or lie outside the file"
            case .notELF: return "no Multiboot address fields and not an ELF file"
            case .badELF: return "the ELF header is not an x86 executable of 32 or 64 bits, or its program headers lie outside the file"
            case .noSegments: return "the ELF file has no loadable segment"
            case .tooManySegments: return "the ELF file has more than 16 loadable segments"
            case .segmentOutsideFile: return "a segment's bytes lie outside the file, or it holds more file bytes than memory"
            case .segmentAbove4G: return "a segment ends above 4 GiB"
            case .entryNotLoaded: return "the entry point is not inside a loaded segment"
            }
        }
    }

    /// Where the header's magic is (32-bit aligned, its 12 bytes in the first 8192), if anywhere: whether
    /// the file means to be a Multiboot kernel.
    public static func findHeader(in bytes: UnsafeRawBufferPointer) -> Int? {
        let reader = ByteReader(bytes)
        var offset = 0
        while offset + 12 <= min(bytes.count, searchLimit) {
            if reader.u32(offset) == headerMagic { return offset }
            offset += 4
        }
        return nil
    }

    public init(validating bytes: UnsafeRawBufferPointer) throws(Failure) {
        let reader = ByteReader(bytes)
        guard let header = Self.findHeader(in: bytes) else { throw .noHeader }
        let flags = reader.u32(header + 4)!
        guard Self.headerMagic &+ flags &+ reader.u32(header + 8)! == 0 else { throw .badChecksum }
        guard flags & 0xFFFF & ~Flag.understood == 0 else { throw .unsupportedFlags(flags) }
        headerOffset = header
        self.flags = flags

        var segments = InlineArray<16, Segment>(repeating: Segment(address: 0, fileOffset: 0, fileBytes: 0, memoryBytes: 0))
        var count = 0
        var entry: UInt64
        if flags & Flag.addressFields != 0 {
            // header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr: the file from load_addr's
            // place (header_addr - load_addr before the header) up to load_end_addr, then zeros to bss_end.
            guard let headerAddress = reader.u32(header + 12), let loadAddress = reader.u32(header + 16),
                  let loadEnd = reader.u32(header + 20), let bssEnd = reader.u32(header + 24),
                  let entryAddress = reader.u32(header + 28),
                  headerAddress >= loadAddress, UInt64(headerAddress - loadAddress) <= UInt64(header) else { throw .badAddressFields }
            let start = header - Int(headerAddress - loadAddress)
            let fileBytes = loadEnd == 0 ? bytes.count - start : Int(loadEnd) - Int(loadAddress)
            guard fileBytes >= 0, fileBytes <= bytes.count - start else { throw .badAddressFields }
            let memoryEnd = bssEnd == 0 ? UInt64(loadAddress) + UInt64(fileBytes) : UInt64(bssEnd)
            guard memoryEnd >= UInt64(loadAddress) + UInt64(fileBytes) else { throw .badAddressFields }
            segments[0] = Segment(address: UInt64(loadAddress), fileOffset: start, fileBytes: fileBytes,
                                  memoryBytes: memoryEnd - UInt64(loadAddress))
            count = 1
            entry = UInt64(entryAddress)
            isELF = false
        } else {
            guard reader.u32(0) == 0x464C_457F else { throw .notELF }           // "\x7FELF"
            let wide = reader.u8(4) == 2
            guard reader.u8(4) == 1 || wide, reader.u8(5) == 1, reader.u16(16) == 2,         // little-endian ET_EXEC
                  reader.u16(18) == (wide ? 62 : 3) else { throw .badELF }                    // EM_X86_64 / EM_386
            let programHeaders = wide ? reader.u64(32).map { Int(clamping: $0) } : reader.u32(28).map { Int($0) }
            guard let table = programHeaders, let entrySize = reader.u16(wide ? 54 : 42), let entries = reader.u16(wide ? 56 : 44),
                  Int(entrySize) >= (wide ? 56 : 32),
                  reader.contains(offset: table, length: Int(entrySize) * Int(entries)) else { throw .badELF }
            let virtualEntry = wide ? reader.u64(24)! : UInt64(reader.u32(24)!)
            entry = virtualEntry
            var translated = false
            for index in 0..<Int(entries) {
                let at = table + index * Int(entrySize)
                guard reader.u32(at) == 1 else { continue }                                  // PT_LOAD
                let fileOffset, virtualAddress, physicalAddress, fileBytes, memoryBytes: UInt64
                if wide {
                    (fileOffset, virtualAddress, physicalAddress) = (reader.u64(at + 8)!, reader.u64(at + 16)!, reader.u64(at + 24)!)
                    (fileBytes, memoryBytes) = (reader.u64(at + 32)!, reader.u64(at + 40)!)
                } else {
                    fileOffset = UInt64(reader.u32(at + 4)!)
                    (virtualAddress, physicalAddress) = (UInt64(reader.u32(at + 8)!), UInt64(reader.u32(at + 12)!))
                    (fileBytes, memoryBytes) = (UInt64(reader.u32(at + 16)!), UInt64(reader.u32(at + 20)!))
                }
                guard memoryBytes > 0 else { continue }
                guard fileBytes <= memoryBytes, fileOffset <= UInt64(bytes.count), fileBytes <= UInt64(bytes.count) - fileOffset
                else { throw .segmentOutsideFile }
                guard physicalAddress < 1 << 32, memoryBytes <= (1 << 32) - physicalAddress else { throw .segmentAbove4G }
                guard count < Self.maximumSegments else { throw .tooManySegments }
                segments[count] = Segment(address: physicalAddress, fileOffset: Int(fileOffset), fileBytes: Int(fileBytes),
                                          memoryBytes: memoryBytes)
                count += 1
                // The entry is a virtual address; it runs where its segment was loaded (as GRUB does).
                if !translated, virtualEntry >= virtualAddress, virtualEntry - virtualAddress < memoryBytes {
                    entry = physicalAddress + (virtualEntry - virtualAddress)
                    translated = true
                }
            }
            guard count > 0 else { throw .noSegments }
            isELF = true
        }
        var end: UInt64 = 0
        var entryLoaded = false
        for index in 0..<count {
            let segment = segments[index]
            guard segment.end <= 1 << 32 else { throw .segmentAbove4G }
            end = max(end, segment.end)
            if entry >= segment.address && entry < segment.end { entryLoaded = true }
        }
        guard entryLoaded else { throw .entryNotLoaded }
        self.entry = UInt32(entry)
        self.segments = segments
        segmentCount = count
        loadEnd = end
    }
}
