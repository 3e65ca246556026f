/// A virtio-blk request (virtio spec 1.2, 5.2.6) decoded from a chain the split virtqueue took: the
/// 16-byte header (type, reserved, sector) in the readable part, the data, and the status byte, the
/// chain's last writable byte. Pure: it reads the header from guest memory and checks everything
/// against the disk's capacity; the device model turns it into work for the block driver task.
public struct VirtioBlockRequest: Equatable {
    public enum Kind: Equatable {
        /// Sectors from the disk into the chain's writable data segments.
        case read
        /// Sectors from the chain's readable data segments onto the disk.
        case write
        /// Everything written before is on the disk when the answer comes (VIRTIO_BLK_F_FLUSH).
        case flush
        /// The device ID string (20 bytes) into the writable data.
        case identify
    }

    /// Request types (5.2.6) and status values.
    public enum Code {
        public static let read: UInt32 = 0, write: UInt32 = 1, flush: UInt32 = 4, identify: UInt32 = 8
        public static let ok: UInt8 = 0, ioError: UInt8 = 1, unsupported: UInt8 = 2
    }

    public static let sectorSize: UInt64 = 512
    public static let headerBytes: UInt64 = 16
    public static let identifyBytes: UInt64 = 20

    public var kind: Kind
    public var sector: UInt64
    /// Data bytes: a multiple of the sector size for reads and writes.
    public var bytes: UInt64
    /// Where the status byte goes (guest-physical, inside RAM).
    public var status: UInt64

    /// Why a chain is no request the device can serve. `unsupported` and `outOfRange` are answered with a
    /// status (the chain was well formed); `malformed` chains have no status byte to answer through,
    /// so the device sets DEVICE_NEEDS_RESET.
    public enum Refusal: Error, Equatable {
        case malformed
        case unsupported(type: UInt32, status: UInt64)
        case outOfRange(status: UInt64)
    }

    /// Decodes the chain `segments` (readable first, as `SplitVirtqueue.take` guarantees) for a disk of
    /// `capacity` sectors.
    public static func decode(_ segments: UnsafeBufferPointer<SplitVirtqueue.Segment>, capacity: UInt64,
                              memory: GuestMemory) -> Result<VirtioBlockRequest, Refusal> {
        // The header: the first 16 readable bytes, in the first segment (Linux never splits it).
        guard let first = segments.first, !first.writable, UInt64(first.length) >= headerBytes else { return .failure(.malformed) }
        // The status: the last byte of the last segment, which must be writable (so it is not the header's).
        guard let last = segments.last, last.writable, last.length >= 1 else { return .failure(.malformed) }
        let status = last.address + UInt64(last.length) - 1
        let header = memory.pointer(first.address)
        let type = header.loadUnaligned(as: UInt32.self)
        let sector = header.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        // Data: what lies between the header and the status byte.
        var readable: UInt64 = UInt64(first.length) - headerBytes, writable: UInt64 = UInt64(last.length) - 1
        for segment in segments.dropFirst().dropLast() {
            if segment.writable { writable += UInt64(segment.length) } else { readable += UInt64(segment.length) }
        }
        switch type {
        case Code.read, Code.write:
            let bytes = type == Code.read ? writable : readable
            guard (type == Code.read ? readable : writable) == 0, bytes % sectorSize == 0 else { return .failure(.malformed) }
            // sector + bytes / 512 <= capacity, without overflow.
            guard sector <= capacity, bytes / sectorSize <= capacity - sector else { return .failure(.outOfRange(status: status)) }
            return .success(VirtioBlockRequest(kind: type == Code.read ? .read : .write, sector: sector, bytes: bytes, status: status))
        case Code.flush:
            return .success(VirtioBlockRequest(kind: .flush, sector: 0, bytes: 0, status: status))
        case Code.identify:
            guard writable >= identifyBytes else { return .failure(.malformed) }
            return .success(VirtioBlockRequest(kind: .identify, sector: 0, bytes: identifyBytes, status: status))
        default:
            return .failure(.unsupported(type: type, status: status))
        }
    }
}

/// The virtio-blk configuration space (5.2.4) the driver reads at offset 0x100 of the window: capacity
/// (in 512-byte sectors, u64 at 0), seg_max (u32 at 12, VIRTIO_BLK_F_SEG_MAX) and blk_size (u32 at 20,
/// VIRTIO_BLK_F_BLK_SIZE).
public struct VirtioBlockConfiguration {
    public enum Feature {
        public static let segmentMaximum: UInt64 = 1 << 2, blockSize: UInt64 = 1 << 6, flush: UInt64 = 1 << 9
        public static let offered: UInt64 = segmentMaximum | blockSize | flush
    }

    public var capacity: UInt64
    public var segmentMaximum: UInt32

    public init(capacity: UInt64, segmentMaximum: UInt32) {
        self.capacity = capacity
        self.segmentMaximum = segmentMaximum
    }

    /// A read of `size` bytes (1, 2, 4) at `offset` into the configuration space; 0 past its end.
    public func read(_ offset: Int, size: Int) -> UInt32 {
        var bytes = InlineArray<24, UInt8>(repeating: 0)
        for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: capacity >> (8 * UInt64(index))) }
        for index in 0..<4 { bytes[12 + index] = UInt8(truncatingIfNeeded: segmentMaximum >> (8 * UInt32(index))) }
        for index in 0..<4 { bytes[20 + index] = UInt8(truncatingIfNeeded: UInt32(VirtioBlockRequest.sectorSize) >> (8 * UInt32(index))) }
        guard offset >= 0, size > 0, size <= 4 else { return 0 }
        var value: UInt32 = 0
        for index in 0..<size where offset + index < 24 {
            value |= UInt32(bytes[offset + index]) << (8 * UInt32(index))
        }
        return value
    }
}
