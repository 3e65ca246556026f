import SwiftletABI

/// The Multiboot2 boot information GRUB hands the kernel (Multiboot2 specification, section 3.6).
/// `Multiboot2Info(validating:)` walks every tag once and rejects anything out of bounds, so the accessors
/// afterwards never read outside the buffer.
public struct Multiboot2Info {
    /// What the loader leaves in EAX.
    public static let bootloaderMagic: UInt32 = 0x36D7_6289
    /// A generous limit: the information is a few KiB; a larger size is corruption.
    public static let maximumSize = 1 << 20

    enum TagType: UInt32 {
        case end = 0
        case commandLine = 1
        case bootloaderName = 2
        case module = 3
        case basicMemory = 4
        case memoryMap = 6
        case acpiOldRSDP = 14
        case acpiNewRSDP = 15
    }

    let reader: ByteReader

    /// Reads the total size from the first word: how many bytes the caller should make available.
    public static func totalSize(header: UnsafeRawBufferPointer) -> Int? {
        guard let size = ByteReader(header).u32(0), size >= 16, Int(size) <= maximumSize else { return nil }
        return Int(size)
    }

    public init(validating bytes: UnsafeRawBufferPointer) throws(Multiboot2Error) {
        let reader = ByteReader(bytes)
        guard let total = reader.u32(0), total >= 16, Int(total) <= bytes.count else { throw .badTotalSize }
        var offset = 8
        var sawEnd = false
        var sawMemoryMap = false
        while offset + 8 <= Int(total) {
            let type = reader.u32(offset)!
            let size = Int(reader.u32(offset + 4)!)
            guard size >= 8, size <= Int(total) - offset else { throw .tagOutOfBounds }
            switch TagType(rawValue: type) {
            case .end:
                sawEnd = true
            case .memoryMap:
                guard size >= 16, let entrySize = reader.u32(offset + 8), entrySize >= 24, entrySize % 8 == 0 else {
                    throw .badMemoryMap
                }
                sawMemoryMap = true
                if (size - 16) / Int(entrySize) == 0 { throw .emptyMemoryMap }
            case .module:
                guard size >= 17, let start = reader.u32(offset + 8), let end = reader.u32(offset + 12), start <= end else {
                    throw .badModule
                }
            case .commandLine, .bootloaderName:
                guard size >= 9 else { throw .tagOutOfBounds }
            default:
                break
            }
            if sawEnd { break }
            offset += (size + 7) & ~7
        }
        guard sawEnd else { throw .missingEndTag }
        guard sawMemoryMap else { throw .missingMemoryMap }
        self.reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[0..<Int(total)]))
    }

    public var totalSize: Int { reader.count }

    public var commandLine: ByteString? { string(.commandLine) }
    public var bootloaderName: ByteString? { string(.bootloaderName) }

    public var memoryMap: MemoryMap {
        var result = MemoryMap(entries: UnsafeRawBufferPointer(start: nil, count: 0), entrySize: 24)
        forEachTag { type, offset, size in
            if type == .memoryMap, let entrySize = reader.u32(offset + 8),
               let entries = reader.slice(offset + 16, (size - 16) / Int(entrySize) * Int(entrySize)) {
                result = MemoryMap(entries: entries, entrySize: Int(entrySize))
            }
        }
        return result
    }

    public var modules: ModuleList {
        ModuleList(info: self)
    }

    /// The RSDP copy GRUB found (the ACPI 2.0+ one when there are both), for locating ACPI tables later.
    public var rsdp: UnsafeRawBufferPointer? {
        var old: UnsafeRawBufferPointer?
        var new: UnsafeRawBufferPointer?
        forEachTag { type, offset, size in
            if type == .acpiOldRSDP { old = reader.slice(offset + 8, size - 8) }
            if type == .acpiNewRSDP { new = reader.slice(offset + 8, size - 8) }
        }
        return new ?? old
    }

    private func string(_ wanted: TagType) -> ByteString? {
        var result: ByteString?
        forEachTag { type, offset, size in
            if type == wanted, let text = reader.cString(offset + 8, limit: offset + size) {
                result = ByteString(text)
            }
        }
        return result
    }

    /// Visits the tags validated by `init` (so sizes are known to be in bounds).
    func forEachTag(_ body: (TagType?, Int, Int) -> Void) {
        var offset = 8
        while offset + 8 <= reader.count {
            let type = reader.u32(offset)!
            let size = Int(reader.u32(offset + 4)!)
            if type == TagType.end.rawValue { return }
            body(TagType(rawValue: type), offset, size)
            offset += (size + 7) & ~7
        }
    }
}

public enum Multiboot2Error: Error, Equatable {
    case badMagic
    case badTotalSize
    case tagOutOfBounds
    case missingEndTag
    case missingMemoryMap
    case badMemoryMap
    case emptyMemoryMap
    case badModule

    public var description: StaticString {
        switch self {
        case .badMagic: return "the loader is not Multiboot2 compliant (bad magic in EAX)"
        case .badTotalSize: return "the boot information has an impossible total size"
        case .tagOutOfBounds: return "a boot information tag extends past the end of the information"
        case .missingEndTag: return "the boot information has no end tag"
        case .missingMemoryMap: return "the boot loader passed no memory map"
        case .badMemoryMap: return "the memory map tag is malformed"
        case .emptyMemoryMap: return "the memory map is empty"
        case .badModule: return "a module tag is malformed (start after end, or too short)"
        }
    }
}

/// The firmware memory map (E820 types).
public struct MemoryMap: Sequence {
    let entries: UnsafeRawBufferPointer
    let entrySize: Int

    public func makeIterator() -> Iterator {
        Iterator(reader: ByteReader(entries), entrySize: entrySize)
    }

    public struct Iterator: IteratorProtocol {
        let reader: ByteReader
        let entrySize: Int
        var offset = 0

        public mutating func next() -> MemoryRegion? {
            guard let base = reader.u64(offset), let length = reader.u64(offset + 8), let type = reader.u32(offset + 16) else {
                return nil
            }
            offset += entrySize
            return MemoryRegion(range: PhysicalRange(start: base, size: length), kind: MemoryRegion.Kind(type))
        }
    }
}

public struct MemoryRegion: Equatable {
    public enum Kind: Equatable {
        case usable, reserved, acpiReclaimable, acpiNVS, defective

        init(_ type: UInt32) {
            switch type {
            case 1: self = .usable
            case 3: self = .acpiReclaimable
            case 4: self = .acpiNVS
            case 5: self = .defective
            default: self = .reserved
            }
        }

        public var name: StaticString {
            switch self {
            case .usable: return "usable"
            case .reserved: return "reserved"
            case .acpiReclaimable: return "ACPI data"
            case .acpiNVS: return "ACPI NVS"
            case .defective: return "defective"
            }
        }
    }

    public var range: PhysicalRange
    public var kind: Kind
}

/// A boot module: an image GRUB loaded (`module2 FILE NAME`), named by the rest of its line.
public struct BootModule {
    public var range: PhysicalRange
    public var name: ByteString
}

public struct ModuleList: Sequence {
    let info: Multiboot2Info

    public var count: Int {
        var n = 0
        for _ in self { n += 1 }
        return n
    }

    public func makeIterator() -> Iterator {
        Iterator(info: info)
    }

    public struct Iterator: IteratorProtocol {
        let info: Multiboot2Info
        var offset = 8

        public mutating func next() -> BootModule? {
            let reader = info.reader
            while offset + 8 <= reader.count {
                let type = reader.u32(offset)!
                let size = Int(reader.u32(offset + 4)!)
                let tag = offset
                if type == Multiboot2Info.TagType.end.rawValue { return nil }
                offset += (size + 7) & ~7
                if type == Multiboot2Info.TagType.module.rawValue {
                    let start = UInt64(reader.u32(tag + 8)!), end = UInt64(reader.u32(tag + 12)!)
                    let name = reader.cString(tag + 16, limit: tag + size) ?? UnsafeRawBufferPointer(start: nil, count: 0)
                    return BootModule(range: PhysicalRange(start: start, end: end), name: ByteString(name))
                }
            }
            return nil
        }
    }
}
