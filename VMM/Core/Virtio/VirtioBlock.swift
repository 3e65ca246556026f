/// The virtio-blk device (virtio spec 1.2, 5.2) on a virtio-mmio window: one request queue, the
/// configuration space, and the serving of requests through a `VirtioBlockBackend` — in the VMM the
/// block driver task behind IPC, in tests a disk in memory. A malformed chain or ring sets
/// DEVICE_NEEDS_RESET; a request the disk cannot serve is answered with its status.
public struct VirtioBlock {
    public static let deviceID: UInt32 = 2
    /// The ID string GET_ID returns (20 bytes, NUL-padded).
    public static let identity: StaticString = "swiftlet-vda"

    public private(set) var transport: VirtioMMIO
    public let configuration: VirtioBlockConfiguration
    /// Requests served, and chains refused as malformed (each sets DEVICE_NEEDS_RESET).
    public private(set) var served: UInt64 = 0
    public private(set) var malformed: UInt64 = 0

    public init(sectors: UInt64, segmentMaximum: UInt32 = 126) {
        transport = VirtioMMIO(deviceID: Self.deviceID, deviceFeatures: VirtioBlockConfiguration.Feature.offered, queueCount: 1)
        configuration = VirtioBlockConfiguration(capacity: sectors, segmentMaximum: segmentMaximum)
    }

    /// A 32-bit (or narrower, in the configuration space) read of the window.
    public func read(_ offset: Int, size: Int) -> UInt32 {
        offset >= VirtioMMIO.Register.config ? configuration.read(offset - VirtioMMIO.Register.config, size: size)
            : size == 4 ? transport.read(offset) : 0
    }

    /// A write of the window (the configuration space is read-only).
    public mutating func write(_ offset: Int, _ value: UInt32, size: Int, memory: GuestMemory) -> VirtioMMIO.Effect {
        guard size == 4, offset < VirtioMMIO.Register.config else { return .none }
        return transport.write(offset, value, memory: memory)
    }

    /// Serves every request pending on the queue (after a notify): each chain is decoded, handed to
    /// `backend`, its status written and its chain returned; `segments` is scratch room for one chain
    /// (at least `segmentMaximum` + 2 entries). Returns what the interrupt line should do.
    public mutating func serve<Backend: VirtioBlockBackend>(_ memory: GuestMemory, segments: UnsafeMutableBufferPointer<SplitVirtqueue.Segment>,
                                                             backend: inout Backend) -> VirtioMMIO.Effect {
        var effect = VirtioMMIO.Effect.none
        while true {
            var before: UInt16 = 0
            let step: Result<SplitVirtqueue.Chain?, VirtqueueError>? = transport.withQueue(0) { queue in
                before = queue.usedIndex
                return queue.take(memory, into: segments)
            }
            guard let step else { return effect }                       // not ready, or reset
            let chain: SplitVirtqueue.Chain
            switch step {
            case .failure:
                malformed += 1
                return transport.needsReset()
            case .success(nil): return effect
            case .success(let taken?): chain = taken
            }
            let parts = UnsafeBufferPointer(rebasing: segments[..<chain.segments])
            let status: UInt8, statusAddress: UInt64
            switch VirtioBlockRequest.decode(parts, capacity: configuration.capacity, memory: memory) {
            case .failure(.malformed):
                malformed += 1
                return transport.needsReset()
            case .failure(.unsupported(_, let address)): (status, statusAddress) = (VirtioBlockRequest.Code.unsupported, address)
            case .failure(.outOfRange(let address)): (status, statusAddress) = (VirtioBlockRequest.Code.ioError, address)
            case .success(let request):
                statusAddress = request.status
                if request.kind == .identify {
                    status = Self.writeIdentity(parts, memory: memory)
                } else {
                    status = backend.perform(request, data: parts, memory: memory)
                }
            }
            memory.pointer(statusAddress).storeBytes(of: status, as: UInt8.self)
            // Bytes written into the chain: the data read (or the ID) and the status byte.
            let written = UInt32(truncatingIfNeeded: min(chain.writableBytes, UInt64(UInt32.max)))
            served += 1
            let interrupt = transport.withQueue(0) { queue -> Bool in
                _ = queue.complete(memory, head: chain.head, written: status == VirtioBlockRequest.Code.ok ? written : 1)
                return queue.needsInterrupt(memory, since: before)
            } ?? false
            if interrupt, case .interrupt = transport.raise(1) { effect = .interrupt(asserted: true) }
        }
    }

    /// GET_ID: the identity string, NUL-padded to 20 bytes, into the writable data (the segments before
    /// the status byte's).
    static func writeIdentity(_ segments: UnsafeBufferPointer<SplitVirtqueue.Segment>, memory: GuestMemory) -> UInt8 {
        var id = InlineArray<20, UInt8>(repeating: 0)
        identity.withUTF8Buffer { for (index, byte) in $0.prefix(20).enumerated() { id[index] = byte } }
        var next = 0
        for segment in segments where segment.writable && next < 20 {
            var offset: UInt64 = 0
            while offset < UInt64(segment.length) && next < 20 {
                memory.pointer(segment.address + offset).storeBytes(of: id[next], as: UInt8.self)
                offset += 1
                next += 1
            }
        }
        return VirtioBlockRequest.Code.ok
    }
}

/// Where a virtio-blk device's reads, writes and flushes go. `data` is the request's whole chain (header,
/// data segments, status); the data segments are those between the header and the status byte. Returns
/// the virtio status (`VirtioBlockRequest.Code`).
public protocol VirtioBlockBackend {
    mutating func perform(_ request: VirtioBlockRequest, data: UnsafeBufferPointer<SplitVirtqueue.Segment>, memory: GuestMemory) -> UInt8
}

extension VirtioBlockRequest {
    /// Visits the data bytes of a read or write in order, as (guest-physical address, length) runs: the
    /// readable bytes after the header for a write, the writable bytes before the status byte for a read.
    public func forEachDataRun(_ chain: UnsafeBufferPointer<SplitVirtqueue.Segment>, _ body: (UInt64, UInt64) -> Void) {
        var left = bytes
        for (index, segment) in chain.enumerated() where left > 0 {
            var address = segment.address, length = UInt64(segment.length)
            if index == 0 {
                address += Self.headerBytes
                length -= Self.headerBytes
            }
            if index == chain.count - 1 { length -= 1 }                 // the status byte
            guard segment.writable == (kind == .read || kind == .identify), length > 0 else { continue }
            let run = min(length, left)
            body(address, run)
            left -= run
        }
    }
}
