import DriverCore
import SwiftletABI
import SwiftletUser
import UserPlatform

/// The block driver task ("ata"): the only task with the primary IDE channel's ports and IRQ 14 (from
/// its configuration node), serving the disk there by BlockProtocol on the endpoint it receives on
/// (`disk`, slot 5). One client is connected at a time: a `connect` from anyone replaces the connection
/// (a client that restarted connects again), and requests under another badge get `badBuffer`.
///
/// Every value from a client is checked (BlockProtocol.Transfer.decode) and the buffer pages a request
/// touches are checked to be mapped writable before the device moves data into or out of them, so no
/// client value makes the driver fault. It is a daemon: a second thread waits for the root task's
/// `stop`, says what was served and reports, while the first keeps serving until power-off.
enum BlockDriver {
    static let serviceSlot: UInt64 = 5
    static let stopThreadSlot: UInt64 = 21
    /// Two receive windows of `maximumBufferPages` pages: a connect maps the new buffer into the free one,
    /// so mapping never meets the old buffer, which is unmapped once the new one is checked.
    static let windows: (UInt64, UInt64) = (0x0000_2000_0000_0000, 0x0000_2000_0010_0000)
    static let windowOrder = 20
}

struct Connection {
    var badge: UInt64 = 0
    var window: UInt64 = 0
    var bufferBytes: UInt64 = 0
}

/// What the stop thread reports; written by the serving thread (one word each, read once at the end).
nonisolated(unsafe) var served: (requests: UInt64, refused: UInt64) = (0, 0)
nonisolated(unsafe) var diskFigures: (commands: UInt64, interrupts: UInt64, missed: UInt64, failures: UInt64, resets: UInt64) = (0, 0, 0, 0, 0)

struct Service {
    var disk: ATADisk
    var capacity: UInt64 = 0
    var connection = Connection()
    /// The window the next connect's buffer lands in.
    var freeWindow = BlockDriver.windows.0

    /// Pages from `window` on that this task holds readable and writable, up to the window's size: the
    /// buffer as it really is, whatever the client's flexpage said.
    static func mappedPages(at window: UInt64, from first: UInt64 = 0, count: UInt64 = BlockProtocol.maximumBufferPages) -> UInt64 {
        var pages: UInt64 = 0
        while pages < count, first + pages < BlockProtocol.maximumBufferPages {
            let rights = SystemCall.readMapping(RootTaskLayout.taskSlot, at: window + (first + pages) * 4096).rights
            guard rights.contains([.read, .write]) else { break }
            pages += 1
        }
        return pages
    }

    static func unmapWindow(_ window: UInt64) {
        _ = SystemCall.unmap(Flexpage(base: window, order: BlockDriver.windowOrder, rights: .all), own: true)
    }

    mutating func connect(_ message: Message) -> (MessageTag, (UInt64, UInt64, UInt64, UInt64)) {
        let window = freeWindow
        let pages = message.tag.items == 1 ? Service.mappedPages(at: window) : 0
        guard let _ = disk.identity else {
            Service.unmapWindow(window)
            return (MessageTag(label: BlockProtocol.Status.ioError.rawValue), (0, 0, 0, 0))
        }
        guard pages > 0 else {
            Service.unmapWindow(window)
            return (MessageTag(label: BlockProtocol.Status.badBuffer.rawValue), (0, 0, 0, 0))
        }
        if connection.bufferBytes > 0 { Service.unmapWindow(connection.window) }
        connection = Connection(badge: message.badge, window: window, bufferBytes: pages * 4096)
        freeWindow = window == BlockDriver.windows.0 ? BlockDriver.windows.1 : BlockDriver.windows.0
        let maximum = BlockProtocol.maximumSectors(bufferBytes: connection.bufferBytes)
        return (MessageTag(label: BlockProtocol.Status.ok.rawValue, words: 2), (capacity, maximum, 0, 0))
    }

    mutating func request(_ message: Message) -> BlockProtocol.Status {
        // Pages a request's item may have mapped into the free window are not a buffer: drop them.
        if message.tag.items > 0 { Service.unmapWindow(freeWindow) }
        let label = message.tag.label
        guard label == BlockProtocol.read || label == BlockProtocol.write || label == BlockProtocol.flush else { return .unsupported }
        guard connection.bufferBytes > 0, message.badge == connection.badge else { return .badBuffer }
        guard disk.identity != nil else { return .ioError }
        if label == BlockProtocol.flush { return disk.flush() }
        let words = (message.words.0, message.words.1, message.words.2)
        switch BlockProtocol.Transfer.decode(label: label, words: words, capacity: capacity,
                                             maximumSectors: BlockProtocol.maximumSectors(bufferBytes: connection.bufferBytes),
                                             bufferBytes: connection.bufferBytes) {
        case .failure(let status):
            return status
        case .success(let transfer):
            // The client may have unmapped its buffer since it connected: the pages this transfer moves
            // must still be there, writable, or the device's data would fault the driver.
            let first = transfer.offset / 4096, pages = (transfer.offset + transfer.bytes + 4095) / 4096 - first
            guard Service.mappedPages(at: connection.window, from: first, count: pages) == pages else { return .badBuffer }
            let buffer = UnsafeMutablePointer<UInt16>(bitPattern: UInt(connection.window + transfer.offset))!
            let window = connection.window
            return disk.transfer(write: transfer.write, lba: transfer.sector, sectors: UInt32(transfer.sectors), buffer: buffer) { sector in
                // A sector is inside one page: offsets are sector-aligned and 512 divides 4096.
                Service.mappedPages(at: window, from: (transfer.offset + UInt64(sector) * 512) / 4096, count: 1) == 1
            }
        }
    }
}

/// The second thread: waits for the root task's `stop`, then says what was served and reports.
@_cdecl("block_driver_stop")
func blockDriverStop(_ argument: UInt64, _ utcb: UInt64) {
    while true {
        let message = SystemCall.wait(Report.stopSlot)
        guard message.succeeded else { return }
        if message.tag.label == Report.stop { break }
    }
    let figures = diskFigures
    log("ata: stopped after \(served.requests) requests (\(served.refused) refused), \(figures.commands) ATA commands, \(figures.interrupts) interrupts (\(figures.missed) waits ended without one), \(figures.failures) device errors, \(figures.resets) resets")
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (0, 0, 0, 0))
}

@_cdecl("task_main")
func blockDriverMain(tscKHz: UInt64, utcb address: UInt64) {
    let utcb = UTCB(address: address)
    var service = Service(disk: ATADisk(tscKHz: tscKHz))
    var spawner = ThreadSpawner()
    let stopper = spawner.spawn(blockDriverStop, argument: 0, priority: 100, slot: BlockDriver.stopThreadSlot)
    if let failure = service.disk.start() {
        log("ata: no disk: \(failure); every request answers io error")
    } else if let identity = service.disk.identity {
        service.capacity = identity.sectors
        log("ata: disk on the primary master (ports 0x1f0-0x1f7, 0x3f6, IRQ 14): \(identity.sectors) sectors (\(identity.sectors >> 11) MiB), LBA48, DMA \(identity.supportsDMA ? "yes" as StaticString : "no"); serving on slot 5")
    }
    if stopper != .ok { log("ata: the stop thread did not start: \(stopper.name)") }

    utcb.receiveWindow = Flexpage(base: service.freeWindow, order: BlockDriver.windowOrder, rights: .all)
    var message = SystemCall.wait(BlockDriver.serviceSlot)
    while true {
        var reply: (MessageTag, (UInt64, UInt64, UInt64, UInt64)) = (MessageTag(label: BlockProtocol.Status.unsupported.rawValue), (0, 0, 0, 0))
        if message.succeeded {
            if message.tag.label == BlockProtocol.connect {
                reply = service.connect(message)
            } else {
                reply = (MessageTag(label: service.request(message).rawValue), (0, 0, 0, 0))
            }
            served.requests &+= 1
            if reply.0.label != 0 { served.refused &+= 1 }
            diskFigures = (service.disk.commands, service.disk.interrupts, service.disk.missedInterrupts, service.disk.failures, service.disk.resets)
        }
        utcb.receiveWindow = Flexpage(base: service.freeWindow, order: BlockDriver.windowOrder, rights: .all)
        message = message.succeeded ? SystemCall.replyWait(BlockDriver.serviceSlot, reply.0, reply.1)
                                    : SystemCall.wait(BlockDriver.serviceSlot)
    }
}
