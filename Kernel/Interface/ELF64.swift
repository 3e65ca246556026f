/// An ELF64 x86-64 executable (System V ABI) for a user task, checked before anything trusts it: every
/// program header and every loadable segment must lie inside the file, and every loadable segment, its
/// end rounded up to a page, inside user space — so a loader's page arithmetic never wraps.
public struct ELF64Image {
    public static let loadSegment: UInt32 = 1
    /// The first address a user task's segments may not reach: user space ends at 2^47 and its top page is
    /// never mapped (KernelAddressSpace.userMappableEnd; the shared interface cannot see Kernel/Core).
    public static let userImageEnd: UInt64 = 0x0000_7FFF_FFFF_F000

    let reader: ByteReader
    public let entry: UInt64
    let programHeaderOffset: Int
    let programHeaderSize: Int
    public let programHeaderCount: Int

    public init(validating bytes: UnsafeRawBufferPointer) throws(ELFError) {
        let reader = ByteReader(bytes)
        guard bytes.count >= 64 else { throw .tooSmall }
        guard reader.u32(0) == 0x464C_457F else { throw .notELF }
        guard reader.u8(4) == 2 else { throw .not64Bit }
        guard reader.u8(5) == 1 else { throw .notLittleEndian }
        guard reader.u8(6) == 1, reader.u32(20) == 1 else { throw .badVersion }
        guard reader.u16(18) == 0x3E else { throw .notX86_64 }
        guard reader.u16(16) == 2 else { throw .notExecutable }
        let phoff = reader.u64(32)!, phentsize = Int(reader.u16(54)!), phnum = Int(reader.u16(56)!)
        guard phentsize >= 56, phoff <= UInt64(bytes.count),
              reader.contains(offset: Int(phoff), length: phentsize * phnum) else { throw .programHeadersOutOfBounds }
        self.reader = reader
        self.entry = reader.u64(24)!
        self.programHeaderOffset = Int(phoff)
        self.programHeaderSize = phentsize
        self.programHeaderCount = phnum

        var loadable = 0
        // The first page the next loadable segment may use: segments come in ascending order (as the ELF
        // specification says) and no two share a page, since each page is mapped once with one segment's rights.
        var nextFreePage: UInt64 = 0
        for segment in segments where segment.type == ELF64Image.loadSegment {
            loadable += 1
            guard segment.fileSize <= segment.memorySize else { throw .segmentLargerInFileThanInMemory }
            guard segment.fileOffset <= UInt64(bytes.count), segment.fileSize <= UInt64(bytes.count) - segment.fileOffset else {
                throw .segmentOutOfBounds
            }
            // Checked without wrapping: the end, rounded up to a page, must not pass userImageEnd (page aligned).
            guard segment.virtualAddress <= ELF64Image.userImageEnd,
                  segment.memorySize <= ELF64Image.userImageEnd - segment.virtualAddress else { throw .segmentPastUserSpace }
            guard segment.memorySize > 0 else { continue }
            guard segment.virtualAddress & ~0xFFF >= nextFreePage else { throw .segmentsShareAPage }
            nextFreePage = (segment.virtualAddress + segment.memorySize + 0xFFF) & ~0xFFF   // no wrap: checked above
        }
        guard loadable > 0 else { throw .noLoadableSegment }
    }

    public var segments: Segments { Segments(image: self) }

    public struct Segment {
        public var type: UInt32
        public var flags: UInt32
        public var fileOffset: UInt64
        public var virtualAddress: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64

        public var isExecutable: Bool { flags & 1 != 0 }
        public var isWritable: Bool { flags & 2 != 0 }
    }

    public struct Segments: Sequence {
        let image: ELF64Image

        public func makeIterator() -> Iterator { Iterator(image: image) }

        public struct Iterator: IteratorProtocol {
            let image: ELF64Image
            var index = 0

            public mutating func next() -> Segment? {
                guard index < image.programHeaderCount else { return nil }
                let base = image.programHeaderOffset + index * image.programHeaderSize
                index += 1
                let r = image.reader
                return Segment(type: r.u32(base)!, flags: r.u32(base + 4)!, fileOffset: r.u64(base + 8)!,
                               virtualAddress: r.u64(base + 16)!, fileSize: r.u64(base + 32)!, memorySize: r.u64(base + 40)!)
            }
        }
    }
}

public enum ELFError: Error, Equatable {
    case tooSmall, notELF, not64Bit, notLittleEndian, badVersion, notX86_64, notExecutable
    case programHeadersOutOfBounds, segmentOutOfBounds, segmentLargerInFileThanInMemory, noLoadableSegment
    case segmentPastUserSpace, segmentsShareAPage

    public var description: StaticString {
        switch self {
        case .tooSmall: return "too small for an ELF header"
        case .notELF: return "not an ELF file (bad magic)"
        case .not64Bit: return "not a 64-bit ELF file"
        case .notLittleEndian: return "not little-endian"
        case .badVersion: return "unknown ELF version"
        case .notX86_64: return "not built for x86-64"
        case .notExecutable: return "not an executable (ET_EXEC)"
        case .programHeadersOutOfBounds: return "program headers lie outside the file"
        case .segmentOutOfBounds: return "a loadable segment lies outside the file"
        case .segmentLargerInFileThanInMemory: return "a segment is larger in the file than in memory"
        case .noLoadableSegment: return "no loadable segment"
        case .segmentPastUserSpace: return "a loadable segment ends past the end of user space (0x7ffffffff000)"
        case .segmentsShareAPage: return "two loadable segments share a page or are out of order (each page takes one segment's rights)"
        }
    }
}
