/// The IOAPIC the guest's MADT names (24 inputs at 0xFEC00000): an index register at offset 0x00 and a
/// window at 0x10 onto its ID, version and redirection table. A device asserts or lowers an input; the
/// IOAPIC says which vector to raise in the local APIC. Edge inputs fire on a rising edge; level inputs
/// fire while asserted and not awaiting EOI (remote IRR).
public struct IOAPIC {
    public static let inputs = 24
    public private(set) var id: UInt32 = 0
    private var selected: UInt32 = 0
    /// Redirection entries: vector 0-7, delivery mode 8-10, destination mode 11, delivery status 12,
    /// polarity 13, remote IRR 14, trigger mode 15 (1 = level), mask 16, destination 56-63. Masked at reset.
    private var redirection = InlineArray<24, UInt64>(repeating: 0x1_0000)
    private var asserted = InlineArray<24, Bool>(repeating: false)

    public init() {}

    /// An interrupt for the local APIC.
    public struct Delivery: Equatable {
        public var vector: UInt8
        public var level: Bool
    }

    // MARK: MMIO

    public mutating func write(_ offset: Int, _ value: UInt32) -> Delivery? {
        switch offset & 0xFF {
        case 0x00: selected = value & 0xFF
        case 0x10: return writeRegister(selected, value)
        case 0x40: return endOfInterrupt(vector: UInt8(truncatingIfNeeded: value))   // EOI register (version 0x20)
        default: break
        }
        return nil
    }

    public func read(_ offset: Int) -> UInt32 {
        switch offset & 0xFF {
        case 0x00: return selected
        case 0x10: return readRegister(selected)
        default: return 0
        }
    }

    private func readRegister(_ index: UInt32) -> UInt32 {
        switch index {
        case 0x00: return id << 24
        case 0x01: return UInt32(Self.inputs - 1) << 16 | 0x20      // max redirection entry, version 0x20
        case 0x02: return id << 24                                   // arbitration ID
        case 0x10..<(0x10 + 2 * UInt32(Self.inputs)):
            let entry = redirection[Int(index - 0x10) >> 1]
            return UInt32(truncatingIfNeeded: index & 1 == 0 ? entry : entry >> 32)
        default: return 0xFFFF_FFFF
        }
    }

    private mutating func writeRegister(_ index: UInt32, _ value: UInt32) -> Delivery? {
        switch index {
        case 0x00: id = value >> 24 & 0x0F
        case 0x10..<(0x10 + 2 * UInt32(Self.inputs)):
            let input = Int(index - 0x10) >> 1
            var entry = redirection[input]
            if index & 1 == 0 {
                // Delivery status and remote IRR are read-only.
                entry = entry & 0xFFFF_FFFF_0000_5000 | UInt64(value & ~0x5000)
            } else {
                entry = entry & 0xFFFF_FFFF | UInt64(value) << 32
            }
            redirection[input] = entry
            return deliverIfPending(input)                           // unmasking a held level input fires it
        default: break
        }
        return nil
    }

    // MARK: Inputs

    /// Input `line` goes to `level` (true = asserted, already adjusted for the device's polarity).
    public mutating func setInput(_ line: Int, _ level: Bool) -> Delivery? {
        guard line >= 0, line < Self.inputs else { return nil }
        let rising = level && !asserted[line]
        asserted[line] = level
        if isLevelTriggered(line) { return deliverIfPending(line) }
        guard rising, redirection[line] & 0x1_0000 == 0 else { return nil }
        return delivery(line)
    }

    /// The local APIC's EOI of a level-triggered `vector`: every input using it leaves remote IRR and
    /// fires again if it is still asserted.
    public mutating func endOfInterrupt(vector: UInt8) -> Delivery? {
        var again: Delivery?
        for line in 0..<Self.inputs where UInt8(truncatingIfNeeded: redirection[line]) == vector && redirection[line] & 0x4000 != 0 {
            redirection[line] &= ~0x4000
            again = deliverIfPending(line) ?? again
        }
        return again
    }

    private func isLevelTriggered(_ line: Int) -> Bool { redirection[line] & 0x8000 != 0 }

    private mutating func deliverIfPending(_ line: Int) -> Delivery? {
        guard isLevelTriggered(line), asserted[line], redirection[line] & 0x1_4000 == 0 else { return nil }
        redirection[line] |= 0x4000                                   // remote IRR until the EOI
        return delivery(line)
    }

    /// Fixed and lowest-priority delivery reach the one vCPU; other modes (SMI, NMI, INIT, ExtINT) and
    /// vectors below 16 are not delivered.
    private func delivery(_ line: Int) -> Delivery? {
        let entry = redirection[line]
        let vector = UInt8(truncatingIfNeeded: entry)
        guard entry >> 8 & 7 <= 1, vector >= 16 else { return nil }
        return Delivery(vector: vector, level: isLevelTriggered(line))
    }
}
