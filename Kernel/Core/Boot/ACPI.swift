import SwiftletABI

/// The ACPI tables the kernel needs: the RSDP (from the boot loader), the XSDT or RSDT it points to, and
/// the MADT, which says where the IOAPICs are and how ISA IRQs map to their inputs. Every table is
/// checked (signature, length, checksum) before it is believed.
public enum ACPI {
    public enum Failure: Error, Equatable {
        case badRSDP, badTable, noMADT

        public var description: StaticString {
            switch self {
            case .badRSDP: return "the RSDP is malformed (signature or checksum)"
            case .badTable: return "an ACPI table is malformed (signature, length or checksum)"
            case .noMADT: return "there is no MADT (APIC table)"
            }
        }
    }

    /// Where the root table is: the XSDT (64-bit entries) when the RSDP has one, else the RSDT.
    public struct RootPointer: Equatable {
        public var address: UInt64
        public var extended: Bool
    }

    public static func parseRSDP(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> RootPointer {
        let reader = ByteReader(bytes)
        guard bytes.count >= 20, let signature = reader.u64(0), signature == 0x2052_5450_2044_5352,   // "RSD PTR "
              checksum(bytes, 0, 20) == 0, let revision = reader.u8(15) else { throw .badRSDP }
        if revision >= 2, bytes.count >= 36, let length = reader.u32(20), length >= 36, Int(length) <= bytes.count,
           checksum(bytes, 0, Int(length)) == 0, let xsdt = reader.u64(24), xsdt != 0 {
            return RootPointer(address: xsdt, extended: true)
        }
        return RootPointer(address: UInt64(reader.u32(16)!), extended: false)
    }

    /// The length a table header at the start of `header` (at least 36 bytes) announces, if sane.
    public static func tableLength(header: UnsafeRawBufferPointer) -> Int? {
        guard let length = ByteReader(header).u32(4), length >= 36, length <= 1 << 20 else { return nil }
        return Int(length)
    }

    /// Checks a whole table: its signature (4 ASCII bytes as a little-endian word) and checksum.
    public static func validate(_ table: UnsafeRawBufferPointer, signature: UInt32) -> Bool {
        let reader = ByteReader(table)
        guard let found = reader.u32(0), found == signature, let length = reader.u32(4), Int(length) == table.count,
              length >= 36 else { return false }
        return checksum(table, 0, table.count) == 0
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> UInt8 {
        var sum: UInt8 = 0
        for index in start..<(start + count) { sum = sum &+ bytes[index] }
        return sum
    }

    public static let xsdtSignature: UInt32 = 0x5444_5358     // "XSDT"
    public static let rsdtSignature: UInt32 = 0x5444_5352     // "RSDT"
    public static let madtSignature: UInt32 = 0x4349_5041     // "APIC"
}

/// The entries of a root table (XSDT or RSDT) one by one.
public struct RootTableEntries: Sequence {
    let reader: ByteReader
    let extended: Bool

    public init(_ table: UnsafeRawBufferPointer, extended: Bool) {
        reader = ByteReader(table)
        self.extended = extended
    }

    public func makeIterator() -> Iterator { Iterator(entries: self, offset: 36) }

    public struct Iterator: IteratorProtocol {
        let entries: RootTableEntries
        var offset: Int

        public mutating func next() -> UInt64? {
            if entries.extended {
                guard let address = entries.reader.u64(offset) else { return nil }
                offset += 8
                return address
            }
            guard let address = entries.reader.u32(offset) else { return nil }
            offset += 4
            return UInt64(address)
        }
    }
}

/// What the MADT says about interrupt routing.
public struct InterruptRouting: Equatable {
    public struct IOAPIC: Equatable {
        public var id: UInt8
        public var address: UInt64
        public var gsiBase: UInt32
    }

    /// How an ISA IRQ reaches an IOAPIC input: its global system interrupt and signalling.
    public struct Route: Equatable {
        public var gsi: UInt32
        public var activeLow: Bool
        public var levelTriggered: Bool
    }

    public private(set) var ioapics = InlineArray<4, IOAPIC>(repeating: IOAPIC(id: 0, address: 0, gsiBase: 0))
    public private(set) var ioapicCount = 0
    /// ISA IRQs 0-15: identity, edge-triggered, active-high unless an override says otherwise.
    public private(set) var isa = InlineArray<16, Route>(repeating: Route(gsi: 0, activeLow: false, levelTriggered: false))

    public static func == (a: InterruptRouting, b: InterruptRouting) -> Bool {
        guard a.ioapicCount == b.ioapicCount else { return false }
        for index in 0..<a.ioapicCount where a.ioapics[index] != b.ioapics[index] { return false }
        for irq in 0..<16 where a.isa[irq] != b.isa[irq] { return false }
        return true
    }

    public var firstIOAPIC: IOAPIC? { ioapicCount > 0 ? ioapics[0] : nil }

    /// Reads a validated MADT.
    public init(madt table: UnsafeRawBufferPointer) {
        for irq in 0..<16 { isa[irq] = Route(gsi: UInt32(irq), activeLow: false, levelTriggered: false) }
        let reader = ByteReader(table)
        var offset = 44
        while let type = reader.u8(offset), let length = reader.u8(offset + 1), length >= 2,
              reader.contains(offset: offset, length: Int(length)) {
            switch type {
            case 1 where length >= 12 && ioapicCount < 4:
                ioapics[ioapicCount] = IOAPIC(id: reader.u8(offset + 2)!, address: UInt64(reader.u32(offset + 4)!),
                                              gsiBase: reader.u32(offset + 8)!)
                ioapicCount += 1
            case 2 where length >= 10:
                let source = Int(reader.u8(offset + 3)!)
                let flags = reader.u16(offset + 8)!
                if reader.u8(offset + 2)! == 0 && source < 16 {
                    // Polarity bits 0-1 (3 = active low), trigger bits 2-3 (3 = level); 0 = the bus default.
                    isa[source] = Route(gsi: reader.u32(offset + 4)!, activeLow: flags & 3 == 3, levelTriggered: (flags >> 2) & 3 == 3)
                }
            default:
                break
            }
            offset += Int(length)
        }
    }
}
