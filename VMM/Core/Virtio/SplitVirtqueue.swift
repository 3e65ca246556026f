/// The device side of a virtio 1.x split virtqueue (virtio spec 1.2, 2.7): the descriptor table, the
/// driver's available ring and the device's used ring, all in guest memory and all written by the guest.
/// Everything read from them is a guest value: an index is checked against the queue size, an address and
/// length against guest RAM, a chain's length against the queue size (which also ends descriptor loops),
/// an indirect table against its rules. Any violation is a `VirtqueueError`; the device model then sets
/// DEVICE_NEEDS_RESET and stops using the queue, and the VMM carries on.
///
/// Layout (guest-physical, little-endian): descriptor i at `descriptors + 16 i` (addr u64, len u32,
/// flags u16, next u16); available ring at `available` (flags u16, idx u16, ring[size] u16, used_event
/// u16); used ring at `used` (flags u16, idx u16, ring[size] of (id u32, len u32), avail_event u16).
public struct SplitVirtqueue {
    /// Queue sizes a device offers are powers of two up to this (the spec allows 32768).
    public static let maximumSize: UInt16 = 256

    public struct Descriptor: Equatable {
        public var address: UInt64
        public var length: UInt32
        public var flags: UInt16
        public var next: UInt16

        public static let nextFlag: UInt16 = 1, writeFlag: UInt16 = 2, indirectFlag: UInt16 = 4
    }

    /// One buffer of a chain: guest-physical, inside guest RAM, device-readable or device-writable.
    public struct Segment: Equatable {
        public var address: UInt64
        public var length: UInt32
        public var writable: Bool

        public init(address: UInt64, length: UInt32, writable: Bool) {
            self.address = address
            self.length = length
            self.writable = writable
        }
    }

    /// A chain taken from the available ring: its head (the id the used ring returns) and its segments,
    /// readable ones first.
    public struct Chain: Equatable {
        public var head: UInt16
        public var segments: Int
        public var readableBytes: UInt64
        public var writableBytes: UInt64
    }

    public let size: UInt16
    public let descriptors: UInt64
    public let available: UInt64
    public let used: UInt64
    /// VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC, as negotiated.
    public let eventIndex: Bool
    public let indirect: Bool
    /// The next available-ring entry to take, and the used ring's index as this device last wrote it.
    public private(set) var nextAvailable: UInt16 = 0
    public private(set) var usedIndex: UInt16 = 0
    /// Chains taken and not yet returned (the driver may not have more than `size` outstanding).
    public private(set) var outstanding: UInt16 = 0

    /// A queue the driver configured (QueueSize, QueueDesc, QueueDriver, QueueDevice, then QueueReady):
    /// nil, with the reason, for a size that is no power of two or over the maximum, or rings that are not
    /// aligned as the spec requires or do not lie in guest RAM.
    public static func configure(size: UInt16, descriptors: UInt64, available: UInt64, used: UInt64,
                                 eventIndex: Bool, indirect: Bool, memory: GuestMemory) -> Result<SplitVirtqueue, VirtqueueError> {
        guard size != 0, size <= maximumSize, size & (size - 1) == 0 else { return .failure(.sizeNotAPowerOfTwo(size)) }
        guard descriptors & 15 == 0, available & 1 == 0, used & 3 == 0 else { return .failure(.misalignedRing) }
        let count = UInt64(size)
        guard memory.contains(descriptors, 16 * count), memory.contains(available, 6 + 2 * count),
              memory.contains(used, 6 + 8 * count) else { return .failure(.ringOutsideMemory) }
        return .success(SplitVirtqueue(size: size, descriptors: descriptors, available: available, used: used,
                                       eventIndex: eventIndex, indirect: indirect))
    }

    private init(size: UInt16, descriptors: UInt64, available: UInt64, used: UInt64, eventIndex: Bool, indirect: Bool) {
        self.size = size
        self.descriptors = descriptors
        self.available = available
        self.used = used
        self.eventIndex = eventIndex
        self.indirect = indirect
    }

    // The rings were checked to lie in RAM at configure time, so these reads cannot leave it.
    private func load16(_ memory: GuestMemory, _ address: UInt64) -> UInt16 {
        memory.pointer(address).loadUnaligned(as: UInt16.self)
    }

    private func store16(_ memory: GuestMemory, _ address: UInt64, _ value: UInt16) {
        memory.pointer(address).storeBytes(of: value, as: UInt16.self)
    }

    private func descriptor(_ memory: GuestMemory, table: UInt64, _ index: UInt64) -> Descriptor {
        let entry = memory.pointer(table + 16 * index)
        return Descriptor(address: entry.loadUnaligned(as: UInt64.self), length: entry.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
                          flags: entry.loadUnaligned(fromByteOffset: 12, as: UInt16.self),
                          next: entry.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
    }

    /// How many chains the driver has made available and the device has not taken. An available index
    /// more than `size` ahead of what was taken is a corrupt ring.
    public func pending(_ memory: GuestMemory) -> Result<UInt16, VirtqueueError> {
        let ahead = load16(memory, available + 2) &- nextAvailable
        guard ahead <= size &- outstanding else { return .failure(.availableIndexTooFarAhead(ahead)) }
        return .success(ahead)
    }

    /// Takes the next available chain and writes its segments to `segments` (at most `segments.count`, and
    /// never more than the queue size): nil when none is pending. The whole chain is checked before any
    /// of it is taken; on an error the queue is left as it was.
    public mutating func take(_ memory: GuestMemory, into segments: UnsafeMutableBufferPointer<Segment>) -> Result<Chain?, VirtqueueError> {
        switch pending(memory) {
        case .failure(let error): return .failure(error)
        case .success(0): return .success(nil)
        case .success: break
        }
        let head = load16(memory, available + 4 + 2 * UInt64(nextAvailable & (size - 1)))
        guard head < size else { return .failure(.descriptorIndexOutOfRange(head)) }
        var chain = Chain(head: head, segments: 0, readableBytes: 0, writableBytes: 0)
        var table = descriptors, tableSize = UInt64(size), index = UInt64(head)
        var inIndirect = false, visited: UInt64 = 0, sawWritable = false
        while true {
            // A chain never has more descriptors than its table: more means a loop.
            visited += 1
            guard visited <= tableSize else { return .failure(.chainTooLong) }
            let entry = descriptor(memory, table: table, index)
            if entry.flags & Descriptor.indirectFlag != 0 {
                guard indirect else { return .failure(.indirectNotNegotiated) }
                guard !inIndirect, entry.flags & Descriptor.nextFlag == 0 else { return .failure(.badIndirectDescriptor) }
                let count = UInt64(entry.length) / 16
                guard entry.length % 16 == 0, count > 0, count <= UInt64(size) else { return .failure(.badIndirectDescriptor) }
                guard memory.contains(entry.address, UInt64(entry.length)) else { return .failure(.bufferOutsideMemory) }
                (table, tableSize, index, inIndirect, visited) = (entry.address, count, 0, true, 0)
                continue
            }
            guard memory.contains(entry.address, UInt64(entry.length)) else { return .failure(.bufferOutsideMemory) }
            let writable = entry.flags & Descriptor.writeFlag != 0
            // The device reads its request first: a readable segment after a writable one is malformed.
            guard writable || !sawWritable else { return .failure(.readableAfterWritable) }
            sawWritable = sawWritable || writable
            guard chain.segments < segments.count else { return .failure(.chainTooLong) }
            segments[chain.segments] = Segment(address: entry.address, length: entry.length, writable: writable)
            chain.segments += 1
            if writable { chain.writableBytes += UInt64(entry.length) } else { chain.readableBytes += UInt64(entry.length) }
            guard entry.flags & Descriptor.nextFlag != 0 else { break }
            guard UInt64(entry.next) < tableSize else { return .failure(.descriptorIndexOutOfRange(entry.next)) }
            index = UInt64(entry.next)
        }
        nextAvailable &+= 1
        outstanding += 1
        return .success(chain)
    }

    /// Returns chain `head` to the driver with `written` bytes written into its writable segments; false
    /// when no chain is outstanding (a device model bug, not the guest's). With event index, the used
    /// ring's avail_event asks to be notified of the next available entry.
    public mutating func complete(_ memory: GuestMemory, head: UInt16, written: UInt32) -> Bool {
        guard outstanding > 0 else { return false }
        let entry = memory.pointer(used + 4 + 8 * UInt64(usedIndex & (size - 1)))
        entry.storeBytes(of: UInt32(head), as: UInt32.self)
        entry.storeBytes(of: written, toByteOffset: 4, as: UInt32.self)
        usedIndex &+= 1
        outstanding -= 1
        // The entry before the index: a driver that sees the new index finds the entry written.
        store16(memory, used + 2, usedIndex)
        if eventIndex { store16(memory, used + 4 + 8 * UInt64(size), nextAvailable) }
        return true
    }

    /// Whether the driver wants an interrupt now that the used index went from `before` to `usedIndex`:
    /// with event index, when it passed the driver's used_event (the spec's vring_need_event); without,
    /// unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT.
    public func needsInterrupt(_ memory: GuestMemory, since before: UInt16) -> Bool {
        guard usedIndex != before else { return false }
        if eventIndex {
            let event = load16(memory, available + 4 + 2 * UInt64(size))
            return usedIndex &- event &- 1 < usedIndex &- before
        }
        return load16(memory, available) & 1 == 0
    }
}

/// What is wrong with a queue the guest set up or filled: the device sets DEVICE_NEEDS_RESET.
public enum VirtqueueError: Error, Equatable {
    case sizeNotAPowerOfTwo(UInt16)
    case misalignedRing
    case ringOutsideMemory
    case availableIndexTooFarAhead(UInt16)
    case descriptorIndexOutOfRange(UInt16)
    /// More descriptors than the table holds: a loop, or a chain longer than the queue.
    case chainTooLong
    case bufferOutsideMemory
    case readableAfterWritable
    case indirectNotNegotiated
    /// An indirect descriptor inside an indirect table, with NEXT set, or of a bad length.
    case badIndirectDescriptor
}
