import SwiftletABI

/// The IPC side of a block service call as the VMM makes it (`BlockProtocol`): in the VMM the endpoint
/// of the disk driver task with a buffer of VMM pages mapped to it; in host tests a disk in memory.
public protocol BlockLink {
    /// The buffer the server sees: requests name parts of it by offset.
    var buffer: UnsafeMutableRawBufferPointer { get }
    /// Maps the buffer to the server (BlockProtocol.connect).
    mutating func connect() -> BlockLinkReply
    /// A read, write or flush call with MR0-MR2.
    mutating func call(_ label: UInt64, _ words: (UInt64, UInt64, UInt64)) -> BlockLinkReply
}

/// What one call brought back.
public enum BlockLinkReply: Equatable {
    /// The server answered: its label and MR0, MR1 (the server's values, checked by the client).
    case reply(label: UInt64, words: (UInt64, UInt64))
    /// The call never reached a server, or its server went away (`aborted`, `emptySlot`): the driver was
    /// restarted or is not up yet; connect again and re-issue.
    case lost
    /// Any other IPC failure: the request fails.
    case failed

    public static func == (a: BlockLinkReply, b: BlockLinkReply) -> Bool {
        switch (a, b) {
        case (.reply(let l, let w), .reply(let m, let v)): return l == m && w.0 == v.0 && w.1 == v.1
        case (.lost, .lost), (.failed, .failed): return true
        default: return false
        }
    }
}

/// A virtio-blk backend over a `BlockLink`: each read or write goes through the buffer, one call per
/// buffer-sized part (Linux sends requests up to 1.25 MiB; the buffer is smaller), a flush is one call.
/// A call that finds its server gone connects again and is re-issued (requests are idempotent), at most
/// `maximumReconnects` times per call. Every value of a reply is the server's and checked: a capacity
/// that changed across a reconnect, an unknown status or a maximum of 0 sectors fail the request.
public struct BlockServiceClient<Link: BlockLink>: VirtioBlockBackend {
    public static var maximumReconnects: Int { 20 }

    public var link: Link
    public private(set) var capacity: UInt64 = 0
    /// Sectors one call may move: the server's maximum, bounded by the buffer.
    public private(set) var maximumSectors: UInt64 = 0
    /// Calls made, and reconnections after a lost server.
    public private(set) var calls: UInt64 = 0
    public private(set) var reconnects: UInt64 = 0

    public init(link: Link) {
        self.link = link
    }

    /// Connects the first time: the disk's capacity, or the refusal.
    public mutating func start() -> Result<UInt64, ConnectFailure> {
        switch connectOnce() {
        case .success(let (sectors, most)):
            (capacity, maximumSectors) = (sectors, most)
            return .success(sectors)
        case .failure(let failure): return .failure(failure)
        }
    }

    public enum ConnectFailure: Error, Equatable {
        /// No server answered, or the IPC failed.
        case noServer
        /// The server refused (its status label).
        case refused(UInt64)
        /// The reply's maximum was 0 sectors, or the buffer holds no sector.
        case noTransferSize
    }

    private mutating func connectOnce() -> Result<(UInt64, UInt64), ConnectFailure> {
        calls &+= 1
        guard case .reply(let label, let words) = link.connect() else { return .failure(.noServer) }
        guard label == BlockProtocol.Status.ok.rawValue else { return .failure(.refused(label)) }
        let most = min(words.1, BlockProtocol.maximumSectors(bufferBytes: UInt64(link.buffer.count)))
        guard most > 0 else { return .failure(.noTransferSize) }
        return .success((words.0, most))
    }

    /// One call, reconnecting and re-issuing while the server is gone. The virtio status.
    mutating func issue(_ label: UInt64, _ words: (UInt64, UInt64, UInt64)) -> UInt8 {
        var attempts = 0
        while true {
            calls &+= 1
            switch link.call(label, words) {
            case .reply(let status, _):
                return status == BlockProtocol.Status.ok.rawValue ? VirtioBlockRequest.Code.ok : VirtioBlockRequest.Code.ioError
            case .failed:
                return VirtioBlockRequest.Code.ioError
            case .lost:
                break
            }
            // The server went away: connect again (the link waits a little while it has no server) before
            // re-issuing.
            reconnect: while true {
                guard attempts < Self.maximumReconnects else { return VirtioBlockRequest.Code.ioError }
                attempts += 1
                reconnects &+= 1
                switch connectOnce() {
                case .success(let (sectors, most)):
                    // Another disk behind the endpoint: the guest's view of it would be wrong.
                    guard sectors == capacity else { return VirtioBlockRequest.Code.ioError }
                    maximumSectors = most
                    break reconnect
                case .failure(.noServer): continue reconnect
                case .failure: return VirtioBlockRequest.Code.ioError
                }
            }
        }
    }

    public mutating func perform(_ request: VirtioBlockRequest, data: UnsafeBufferPointer<SplitVirtqueue.Segment>,
                                 memory: GuestMemory) -> UInt8 {
        switch request.kind {
        case .flush: return issue(BlockProtocol.flush, (0, 0, 0))
        case .identify: return VirtioBlockRequest.Code.unsupported        // VirtioBlock answers it itself
        case .read, .write: break
        }
        // decode checked sector + bytes / 512 <= capacity (the device's, which is this client's capacity).
        let chunk = maximumSectors * BlockProtocol.sectorSize
        guard chunk > 0, request.bytes % BlockProtocol.sectorSize == 0 else { return VirtioBlockRequest.Code.ioError }
        let buffer = link.buffer
        var done: UInt64 = 0
        while done < request.bytes {
            let part = min(chunk, request.bytes - done)
            let words = (request.sector + done / BlockProtocol.sectorSize, part / BlockProtocol.sectorSize, UInt64(0))
            if request.kind == .write {
                guard copy(request, data, memory, range: done, part, buffer: buffer, toBuffer: true) else { return VirtioBlockRequest.Code.ioError }
                let status = issue(BlockProtocol.write, words)
                guard status == VirtioBlockRequest.Code.ok else { return status }
            } else {
                let status = issue(BlockProtocol.read, words)
                guard status == VirtioBlockRequest.Code.ok else { return status }
                guard copy(request, data, memory, range: done, part, buffer: buffer, toBuffer: false) else { return VirtioBlockRequest.Code.ioError }
            }
            done += part
        }
        return VirtioBlockRequest.Code.ok
    }

    /// Copies the request's data bytes [start, start + count) between their guest runs and the buffer's
    /// start. False if a run is not in guest RAM (the queue checked it; checked again before the copy).
    private func copy(_ request: VirtioBlockRequest, _ data: UnsafeBufferPointer<SplitVirtqueue.Segment>, _ memory: GuestMemory,
                      range start: UInt64, _ count: UInt64, buffer: UnsafeMutableRawBufferPointer, toBuffer: Bool) -> Bool {
        guard count <= UInt64(buffer.count) else { return false }
        var position: UInt64 = 0, inside = true
        let end = start + count
        request.forEachDataRun(data) { address, length in
            defer { position += length }
            let runEnd = position + length
            guard runEnd > start, position < end else { return }
            let from = max(position, start), to = min(runEnd, end)
            let guestAddress = address + (from - position)
            guard memory.contains(guestAddress, to - from) else {
                inside = false
                return
            }
            let bufferAddress = buffer.baseAddress!.advanced(by: Int(from - start))
            if toBuffer {
                bufferAddress.copyMemory(from: memory.pointer(guestAddress), byteCount: Int(to - from))
            } else {
                memory.pointer(guestAddress).copyMemory(from: bufferAddress, byteCount: Int(to - from))
            }
        }
        return inside
    }
}
