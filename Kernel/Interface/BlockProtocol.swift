/// The block service of a disk driver task, spoken over IPC on its service endpoint (issue 13: the
/// VMM's virtio-blk is its client). Data never travels in messages: at `connect` the client maps the
/// driver a buffer of its own (whole pages, one map item), and each request names a part of it by offset.
/// The client copies between guest memory and the buffer; the driver moves the buffer to and from the
/// disk (by DMA where it can), so the data is copied once between guest memory and the disk.
///
/// A driver that is restarted loses the connection: the client's next call answers `aborted` (the
/// endpoint was destroyed) or `emptySlot`, and the client connects again and re-issues the requests
/// that had no answer. Requests are idempotent (a read or write of given sectors, a flush), so doing
/// one twice is harmless.
public enum BlockProtocol {
    /// Call. One map item: the client's buffer (at most `maximumBufferPages` pages), which the driver
    /// maps at its `bufferWindow`. The reply: MR0 = the disk's capacity in sectors, MR1 = the most sectors
    /// one request may move; label 0, or a `Status` when the driver has no disk or refused the buffer.
    public static let connect: UInt64 = 1
    /// Call. MR0 = first sector, MR1 = sector count (1 to the connect reply's MR1), MR2 = byte offset of
    /// the data in the buffer (sector-aligned). The reply's label is a `Status`.
    public static let read: UInt64 = 2
    public static let write: UInt64 = 3
    /// Call: everything written before is on the disk when the reply comes. The reply's label is a `Status`.
    public static let flush: UInt64 = 4

    public static let sectorSize: UInt64 = 512
    public static let maximumBufferPages: UInt64 = 256

    /// A reply's label.
    public enum Status: UInt64, Error, Sendable {
        case ok = 0
        /// The disk reported an error, or the controller did not answer in time.
        case ioError = 1
        /// Sectors past the end of the disk.
        case outOfRange = 2
        /// No connection, or a buffer part outside the buffer or not sector-aligned.
        case badBuffer = 3
        case unsupported = 4
    }

    /// A read or write as the driver receives it, checked against the disk and the connected buffer.
    public struct Transfer: Equatable, Sendable {
        public var write: Bool
        public var sector: UInt64
        public var sectors: UInt64
        public var offset: UInt64

        public var bytes: UInt64 { sectors &* BlockProtocol.sectorSize }     // decode bounds sectors to 65535

        public init(write: Bool, sector: UInt64, sectors: UInt64, offset: UInt64) {
            self.write = write
            self.sector = sector
            self.sectors = sectors
            self.offset = offset
        }

        /// Decodes a request's label and words; every value is the client's, so each is checked before it
        /// feeds arithmetic: the count against `maximumSectors`, the sectors against `capacity` (by
        /// subtraction), the buffer part against `bufferBytes`.
        public static func decode(label: UInt64, words: (UInt64, UInt64, UInt64), capacity: UInt64, maximumSectors: UInt64,
                                  bufferBytes: UInt64) -> Result<Transfer, Status> {
            guard label == BlockProtocol.read || label == BlockProtocol.write else { return .failure(.unsupported) }
            let (sector, sectors, offset) = words
            guard sectors > 0, sectors <= min(maximumSectors, 65535) else { return .failure(.outOfRange) }
            guard sector <= capacity, sectors <= capacity - sector else { return .failure(.outOfRange) }
            let bytes = sectors * BlockProtocol.sectorSize                 // at most 65535 sectors: no overflow
            guard offset % BlockProtocol.sectorSize == 0, offset <= bufferBytes, bytes <= bufferBytes - offset else {
                return .failure(.badBuffer)
            }
            return .success(Transfer(write: label == BlockProtocol.write, sector: sector, sectors: sectors, offset: offset))
        }
    }

    /// The most sectors one request may move for a buffer of `bufferBytes` (whole sectors of it, and
    /// never more than a single ATA command's 65535).
    public static func maximumSectors(bufferBytes: UInt64) -> UInt64 {
        min(bufferBytes / sectorSize, 65535)
    }
}
