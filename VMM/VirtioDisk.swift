import SwiftletABI
import SwiftletUser
import VMMCore

/// The guest's virtio-blk disk, served by a block driver task over IPC (BlockProtocol). The VM has one
/// when this task holds an endpoint in `serviceSlot` (a configuration's `disk` endpoint with "send"
/// rights): no endpoint there, no device, so configurations without one boot as before.
enum VirtioDisk {
    static let serviceSlot: UInt64 = Report.secondSharedSlot
    /// The buffer mapped to the driver: 64 KiB (naturally aligned, one flexpage), 128 sectors a call.
    static let bufferOrder = 16
    /// How long the first connect waits for the driver to serve, and a lost driver between reconnects.
    static let connectTimeout: UInt64 = 10_000_000
    /// A request the driver has not answered in this time counts as lost (connected again, re-issued):
    /// a hung driver delays the guest's disk instead of stopping the VMM for good.
    static let callTimeout: UInt64 = 30_000_000
    static let retryPause: UInt64 = 100_000
    /// Descriptors of one chain: seg_max data segments, the header and the status.
    static let segmentMaximum: UInt32 = 126
}

/// The endpoint of the block driver, with the buffer this task maps to it at each connect.
struct EndpointBlockLink: BlockLink {
    let endpoint: UInt64
    /// An endpoint nobody sends on: the pause between reconnects is a wait on it that times out.
    let sleeper: UInt64
    let buffer: UnsafeMutableRawBufferPointer

    mutating func connect() -> BlockLinkReply {
        let page = Flexpage(base: UInt64(UInt(bitPattern: buffer.baseAddress!)), order: VirtioDisk.bufferOrder, rights: [.read, .write])
        let (w0, w1) = TypedItem.map(page)
        let reply = SystemCall.call(endpoint, MessageTag(label: BlockProtocol.connect, items: 1), (w0, w1, 0, 0),
                                    timeout: .microseconds(VirtioDisk.connectTimeout))
        return outcome(reply)
    }

    mutating func call(_ label: UInt64, _ words: (UInt64, UInt64, UInt64)) -> BlockLinkReply {
        outcome(SystemCall.call(endpoint, MessageTag(label: label, words: 3), (words.0, words.1, words.2, 0),
                                timeout: .microseconds(VirtioDisk.callTimeout)))
    }

    /// The driver is gone (restarted: its endpoint destroyed, or not yet there) or answered.
    private func outcome(_ reply: Message) -> BlockLinkReply {
        switch reply.error {
        case .ok: return .reply(label: reply.tag.label, words: (reply.words.0, reply.words.1))
        case .aborted, .emptySlot, .timeout:
            _ = SystemCall.wait(sleeper, timeout: .microseconds(VirtioDisk.retryPause))
            return .lost
        default: return .failed
        }
    }
}

extension GuestMachine {
    /// Connects to the block driver if this task holds its endpoint and gives the board the disk (before
    /// `place`, whose ACPI tables describe it). False: a disk was configured but cannot be served (said why).
    mutating func attachDisk() -> Bool {
        let identity = SystemCall.capability(VirtioDisk.serviceSlot, .identify)
        guard identity.succeeded, identity.words.0 == UInt64(ObjectType.endpoint.rawValue) else { return true }
        let bytes: UInt64 = 1 << UInt64(VirtioDisk.bufferOrder)
        guard let buffer = Allocator.alignedPages(bytes) else {
            log("vmm: \(name): refused: no room in the VMM's heap for the disk's buffer (\(bytes) bytes)")
            return false
        }
        let sleeper = machine &+ 7
        guard SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: sleeper) == .ok else {
            log("vmm: \(name): refused: could not create the disk's sleep endpoint")
            return false
        }
        let segments = UnsafeMutablePointer<SplitVirtqueue.Segment>.allocate(capacity: Int(VirtioDisk.segmentMaximum) + 2)
        segments.initialize(repeating: SplitVirtqueue.Segment(address: 0, length: 0, writable: false), count: Int(VirtioDisk.segmentMaximum) + 2)
        diskSegments = UnsafeMutableBufferPointer(start: segments, count: Int(VirtioDisk.segmentMaximum) + 2)
        var client = BlockServiceClient(link: EndpointBlockLink(endpoint: VirtioDisk.serviceSlot, sleeper: sleeper,
                                                                  buffer: UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: UInt(buffer)), count: Int(bytes))))
        switch client.start() {
        case .success(let sectors):
            board.attachDisk(sectors: sectors, segmentMaximum: VirtioDisk.segmentMaximum)
            disk = client
            log("vmm: \(name): virtio-blk disk at \(hex: LinuxBoard.diskBase) (GSI \(LinuxBoard.diskGSI)): \(sectors) sectors (\(sectors / 2048) MiB) from the block service in slot \(VirtioDisk.serviceSlot), \(client.maximumSectors) sectors a call")
            return true
        case .failure(let failure):
            switch failure {
            case .noServer: log("vmm: \(name): refused: the block service in slot \(VirtioDisk.serviceSlot) did not answer the connect")
            case .refused(let status): log("vmm: \(name): refused: the block service refused the connect (status \(status))")
            case .noTransferSize: log("vmm: \(name): refused: the block service allows no sectors a call")
            }
            return false
        }
    }

    /// A write of the disk's window; a queue notify serves the queue through the driver at once.
    mutating func writeDisk(_ address: UInt64, size: Int, value: UInt64) {
        guard case .notify = board.writeDisk(address, size: size, value: value, memory: memory), disk != nil else { return }
        board.serveDisk(memory, segments: diskSegments, backend: &disk!)
    }

    /// The disk's figures at the VM's end (all boots together).
    func reportDisk() {
        guard let disk else { return }
        let counts = board.diskCounts
        log("vmm: \(name): virtio-blk: \(counts.served) requests served, \(counts.malformed) malformed chains, \(disk.calls) block service calls, \(disk.reconnects) reconnects")
    }
}
