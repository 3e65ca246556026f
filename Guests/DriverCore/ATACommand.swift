/// ATA commands for a disk on a legacy IDE channel (the PIIX IDE both QEMU and Bochs emulate), as the
/// sequence of task-file register writes that issues them (ATA/ATAPI-8 ACS, 48-bit LBA). Pure: the block
/// driver task performs the writes with its I/O ports; building and checking them is testable here.
public struct ATACommand: Equatable {
    /// Command opcodes.
    public enum Opcode: UInt8 {
        case readDMAExt = 0x25, writeDMAExt = 0x35
        case readSectorsExt = 0x24, writeSectorsExt = 0x34
        case flushCacheExt = 0xEA
        case identifyDevice = 0xEC
    }

    /// Task-file registers by offset from the channel's command block base (0x1F0 primary, 0x170 secondary).
    public enum Register {
        public static let data = 0, error = 1, features = 1, sectorCount = 2, lbaLow = 3, lbaMiddle = 4, lbaHigh = 5
        public static let device = 6, status = 7, command = 7
    }

    /// Status register bits.
    public enum Status {
        public static let error: UInt8 = 0x01, dataRequest: UInt8 = 0x08, deviceFault: UInt8 = 0x20
        public static let ready: UInt8 = 0x40, busy: UInt8 = 0x80
    }

    /// The largest transfer one 48-bit command moves (a sector count of 0 means 65536; never used here).
    public static let maximumSectors: UInt32 = 65535
    /// 48-bit LBA: the last addressable sector is 2^48 - 1.
    public static let lbaLimit: UInt64 = 1 << 48

    public var opcode: Opcode
    public var lba: UInt64
    public var sectors: UInt32
    /// The second drive on the channel (device register bit 4).
    public var secondary: Bool

    public enum Failure: Error, Equatable {
        case noSectors
        case tooManySectors(UInt32)
        case beyondLBA48
    }

    /// A data command: `sectors` (1-65535) from `lba`, all below 2^48. Flush and identify carry neither.
    public static func transfer(_ opcode: Opcode, lba: UInt64, sectors: UInt32, secondary: Bool = false) -> Result<ATACommand, Failure> {
        guard sectors > 0 else { return .failure(.noSectors) }
        guard sectors <= maximumSectors else { return .failure(.tooManySectors(sectors)) }
        guard lba < lbaLimit, UInt64(sectors) <= lbaLimit - lba else { return .failure(.beyondLBA48) }
        return .success(ATACommand(opcode: opcode, lba: lba, sectors: sectors, secondary: secondary))
    }

    public static func flush(secondary: Bool = false) -> ATACommand {
        ATACommand(opcode: .flushCacheExt, lba: 0, sectors: 0, secondary: secondary)
    }

    public static func identify(secondary: Bool = false) -> ATACommand {
        ATACommand(opcode: .identifyDevice, lba: 0, sectors: 0, secondary: secondary)
    }

    /// The register writes (offset, byte) that issue it, in order: the device register (LBA mode, drive),
    /// then for each of sector count and the three LBA registers the high-order byte first ("previous
    /// content", bits 8-15 of the count and 24-47 of the LBA) and the low-order byte second, then the
    /// command. Flush and identify write zeros there, which they ignore.
    public var writes: InlineArray<10, (offset: Int, value: UInt8)> {
        let device: UInt8 = 0x40 | (secondary ? 0x10 : 0)
        func byte(_ value: UInt64, _ index: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: value >> (8 * index)) }
        let count = UInt64(sectors)
        return [(Register.device, device),
                (Register.sectorCount, byte(count, 1)), (Register.lbaLow, byte(lba, 3)),
                (Register.lbaMiddle, byte(lba, 4)), (Register.lbaHigh, byte(lba, 5)),
                (Register.sectorCount, byte(count, 0)), (Register.lbaLow, byte(lba, 0)),
                (Register.lbaMiddle, byte(lba, 1)), (Register.lbaHigh, byte(lba, 2)),
                (Register.command, opcode.rawValue)]
    }

    /// What a status byte read after the command's interrupt means.
    public enum Outcome: Equatable {
        case busy
        case done
        case failed(error: UInt8)
    }

    public static func outcome(status: UInt8, error: UInt8) -> Outcome {
        if status & Status.busy != 0 { return .busy }
        if status & (Status.error | Status.deviceFault) != 0 { return .failed(error: error) }
        return .done
    }
}

/// IDENTIFY DEVICE's 256 words, the parts a block driver needs: 48-bit support and the sector count.
public struct ATAIdentity: Equatable {
    public var sectors: UInt64
    public var supportsLBA48: Bool
    public var supportsDMA: Bool

    /// From the words as read from the data register (little-endian words).
    public init?(words: UnsafeBufferPointer<UInt16>) {
        guard words.count >= 256 else { return nil }
        supportsLBA48 = words[83] & (1 << 10) != 0
        supportsDMA = words[49] & (1 << 8) != 0
        if supportsLBA48 {
            sectors = UInt64(words[100]) | UInt64(words[101]) << 16 | UInt64(words[102]) << 32 | UInt64(words[103]) << 48
        } else {
            sectors = UInt64(words[60]) | UInt64(words[61]) << 16
        }
    }
}
