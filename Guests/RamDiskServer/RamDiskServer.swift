import SwiftletABI
import SwiftletUser

/// Test scaffolding, never in the product (Guests/system.dts): a block service (BlockProtocol) whose disk
/// is RAM, so the VMM's virtio-blk can be tested without a disk driver. It serves on its endpoint in slot
/// 5 (a configuration's `disk`, receive rights); the disk is the memory above its heap, paged in by the
/// root task on first touch (its `memory-pages` budget must cover `sectors`). Every client value is
/// checked: the connect's map item, and each request by BlockProtocol.Transfer.decode.
/// A daemon: a second thread waits for the root task's `stop` and reports.
enum RamDisk {
    static let serviceSlot: UInt64 = Report.sharedSlot
    static let stopThread: UInt64 = 16
    /// 4 MiB of disk, from the first page above the heap.
    static let sectors: UInt64 = 8192
    static let disk: UInt64 = TaskLayout.heap + TaskLayout.heapPages * 4096
    /// Where the client's buffer is mapped: a window of BlockProtocol.maximumBufferPages (1 MiB).
    static let window: UInt64 = 0x0000_3000_0000_0000
    static let windowOrder = 20
    /// Reads and writes served, and calls refused (for the stop line).
    nonisolated(unsafe) static var requests: UInt64 = 0
    nonisolated(unsafe) static var refused: UInt64 = 0
}

@_cdecl("task_main")
func ramDiskMain(tscKHz: UInt64, utcb utcbAddress: UInt64) {
    var spawner = ThreadSpawner()
    let error = spawner.spawn(waitForStop, argument: 0, priority: 100, slot: RamDisk.stopThread)
    if error != .ok {
        log("ramdisk: cannot start the thread that waits for stop: \(error.name)")
        _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (1, 0, 0, 0))
        return
    }
    UTCB(address: utcbAddress).receiveWindow = Flexpage(base: RamDisk.window, order: RamDisk.windowOrder, rights: .all)
    serveDisk()
}

/// The daemon's stop: the root task sends it when every other task reported; the report ends the run.
func waitForStop(argument: UInt64, utcb: UInt64) {
    while true {
        let message = SystemCall.wait(Report.stopSlot)
        if message.succeeded && message.tag.label == Report.stop { break }
        if !message.succeeded && message.error != .timeout { break }
    }
    log("ramdisk: stopped: \(RamDisk.requests) reads and writes served, \(RamDisk.refused) calls refused")
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (0, 0, 0, 0))
}

/// The service loop: each reply goes out with the wait for the next call.
func serveDisk() {
    var bufferBytes: UInt64 = 0                 // 0: not connected
    var message = SystemCall.wait(RamDisk.serviceSlot)
    while true {
        guard message.succeeded else {
            message = SystemCall.wait(RamDisk.serviceSlot)
            continue
        }
        var status = BlockProtocol.Status.ok
        var reply: (UInt64, UInt64) = (0, 0)
        switch message.tag.label {
        case BlockProtocol.connect:
            bufferBytes = connectedBuffer(message)
            if bufferBytes == 0 {
                status = .badBuffer
            } else {
                reply = (RamDisk.sectors, BlockProtocol.maximumSectors(bufferBytes: bufferBytes))
                log("ramdisk: connected: a \(bufferBytes)-byte buffer, \(RamDisk.sectors) sectors of RAM")
            }
        case BlockProtocol.flush:
            status = bufferBytes == 0 ? .badBuffer : .ok
        default:
            // Read and write (anything else decode refuses as unsupported); 3 words expected.
            let words = message.tag.words >= 3 && message.tag.items == 0 ? (message.words.0, message.words.1, message.words.2) : (0, 0, 0)
            switch BlockProtocol.Transfer.decode(label: message.tag.label, words: words, capacity: RamDisk.sectors,
                                                 maximumSectors: BlockProtocol.maximumSectors(bufferBytes: bufferBytes),
                                                 bufferBytes: bufferBytes) {
            case .failure(let why):
                status = bufferBytes == 0 && why != .unsupported ? .badBuffer : why
            case .success(let transfer):
                // decode bounded sector + sectors by the capacity and offset + bytes by the buffer.
                let disk = UnsafeMutableRawPointer(bitPattern: UInt(RamDisk.disk + transfer.sector * BlockProtocol.sectorSize))!
                let buffer = UnsafeMutableRawPointer(bitPattern: UInt(RamDisk.window + transfer.offset))!
                if transfer.write {
                    disk.copyMemory(from: buffer, byteCount: Int(transfer.bytes))
                } else {
                    buffer.copyMemory(from: disk, byteCount: Int(transfer.bytes))
                }
                RamDisk.requests &+= 1
            }
        }
        if status != .ok { RamDisk.refused &+= 1 }
        message = SystemCall.replyWait(RamDisk.serviceSlot, MessageTag(label: status.rawValue, words: 2), (reply.0, reply.1, 0, 0))
    }
}

/// The bytes of the buffer a connect mapped into the window, or 0 if it mapped none the server can use:
/// one map item, a valid flexpage of at most `maximumBufferPages`, and every page of it mapped
/// read-write in the window (checked at the first and last page; the kernel maps all or nothing).
func connectedBuffer(_ message: Message) -> UInt64 {
    guard message.tag.items == 1, message.tag.words == 0, !message.tag.transferFailed,
          message.words.0 & 0xFFF == TypedItem.mapKind else { return 0 }
    let sent = Flexpage(raw: message.words.1)
    guard sent.isUserRange, sent.pages <= BlockProtocol.maximumBufferPages, sent.order <= RamDisk.windowOrder else { return 0 }
    let bytes = sent.size
    let first = SystemCall.readMapping(RootTaskLayout.taskSlot, at: RamDisk.window).rights
    let last = SystemCall.readMapping(RootTaskLayout.taskSlot, at: RamDisk.window + bytes - 4096).rights
    guard first.contains([.read, .write]), last.contains([.read, .write]) else { return 0 }
    return bytes
}
