import DriverCore
import SwiftletABI
import SwiftletUser
import UserPlatform

/// The block driver's client test: connects with a buffer of its own, writes DiskPattern to sectors at
/// the start, in the middle (a few, and the most one request moves) and at the end of the disk, flushes,
/// reads them back and compares; then sends what a client must not (sectors past the end, no sectors, too
/// many, a buffer part outside the buffer or unaligned, an unknown label) and checks each answer's status
/// and that the driver still serves. The host test reads the flushed sectors from the image afterwards.
enum BlockTest {
    static let diskSlot: UInt64 = 5
    /// The buffer: 16 pages above the task's mapped heap, paged in by the root task when first touched,
    /// aligned to its size as a flexpage must be.
    static let buffer: UInt64 = TaskLayout.heap + 0x10_0000
    static let bufferOrder = 16
    static let bufferBytes: UInt64 = 1 << 16

    static var words: UnsafeMutablePointer<UInt64> { UnsafeMutablePointer<UInt64>(bitPattern: UInt(buffer))! }

    static func call(_ label: UInt64, _ sector: UInt64, _ sectors: UInt64, _ offset: UInt64) -> BlockProtocol.Status? {
        let answer = SystemCall.call(diskSlot, MessageTag(label: label, words: 3), (sector, sectors, offset, 0))
        guard answer.succeeded else { return nil }
        return BlockProtocol.Status(rawValue: answer.tag.label)
    }

    static func fill(sector: UInt64, sectors: UInt64) {
        for index in 0..<(sectors * 64) {
            words[Int(index)] = DiskPattern.word(sector: sector + index / 64, index: index % 64)
        }
    }

    /// Words that differ from the pattern of `sectors` sectors from `sector`.
    static func mismatches(sector: UInt64, sectors: UInt64) -> UInt64 {
        var wrong: UInt64 = 0
        for index in 0..<(sectors * 64) where words[Int(index)] != DiskPattern.word(sector: sector + index / 64, index: index % 64) {
            wrong += 1
        }
        return wrong
    }

    static func clear() {
        for index in 0..<Int(bufferBytes / 8) { words[index] = 0xDEAD_DEAD_DEAD_DEAD }
    }
}

extension BlockProtocol.Status {
    var name: StaticString {
        switch self {
        case .ok: return "ok"
        case .ioError: return "io error"
        case .outOfRange: return "out of range"
        case .badBuffer: return "bad buffer"
        case .unsupported: return "unsupported"
        }
    }
}

func statusName(_ status: BlockProtocol.Status?) -> StaticString { status?.name ?? "no answer" }

/// A second thread of the client: once armed (the flag's word 1), it takes the buffer back while the
/// driver waits for the disk in the middle of a request, then says so (2).
@_cdecl("block_test_revoker")
func blockTestRevoker(_ argument: UInt64, _ utcb: UInt64) {
    let flag = SharedWord(address: TaskLayout.heap)
    while flag.load() == 0 { SystemCall.yield() }
    _ = SystemCall.unmap(Flexpage(base: BlockTest.buffer, order: BlockTest.bufferOrder, rights: .all))
    flag.store(2)
}

@_cdecl("task_main")
func blockTestMain(tscKHz: UInt64, utcb: UInt64) {
    var checks = TestChecks("blocktest")
    let clock = TSCClock(kHz: tscKHz)
    BlockTest.clear()                                   // touches every page: the root task pages them in

    // Connect: the buffer as one map item.
    let (item0, item1) = TypedItem.map(Flexpage(base: BlockTest.buffer, order: BlockTest.bufferOrder, rights: [.read, .write]))
    let connected = SystemCall.call(BlockTest.diskSlot, MessageTag(label: BlockProtocol.connect, words: 0, items: 1), (item0, item1, 0, 0))
    let capacity = connected.words.0, maximum = connected.words.1
    // No disk on the channel (or not an ATA disk): the driver says so at connect and, with no connection,
    // refuses every request; the host test knows which of the two it booted.
    if connected.succeeded && connected.tag.label == BlockProtocol.Status.ioError.rawValue {
        let read = BlockTest.call(BlockProtocol.read, 0, 1, 0), flush = BlockTest.call(BlockProtocol.flush, 0, 0, 0)
        let unknown = BlockTest.call(99, 0, 0, 0)
        checks.check(read == .badBuffer && flush == .badBuffer && unknown == .unsupported,
                     "no disk: connect -> io error; then read -> \(statusName(read)), flush -> \(statusName(flush)), label 99 -> \(statusName(unknown))")
        checks.report()
        return
    }
    guard checks.check(connected.succeeded && connected.tag.label == 0 && capacity > 4096 + 128 && maximum == BlockTest.bufferBytes / 512,
                       "connect with a 64 KiB buffer: the disk has \(capacity) sectors (\(capacity >> 11) MiB), at most \(maximum) a request") else {
        log("blocktest: connect answered \(connected.error.name), label \(connected.tag.label), words \(capacity) \(maximum)")
        checks.report()
        return
    }

    // Write each transfer's pattern, flush, read back.
    var written: UInt64 = 0, writeTicks: UInt64 = 0
    var writesOK = true
    for index in 0..<DiskPattern.transferCount {
        let (sector, sectors) = DiskPattern.transfer(index, capacity: capacity, maximumSectors: maximum)
        BlockTest.fill(sector: sector, sectors: sectors)
        let start = timestamp()
        let status = BlockTest.call(BlockProtocol.write, sector, sectors, 0)
        writeTicks &+= timestamp() &- start
        if status != .ok {
            writesOK = false
            log("blocktest: write of \(sectors) sectors at \(sector) answered \(statusName(status))")
        }
        written += sectors
    }
    checks.check(writesOK, "wrote \(written) sectors in \(DiskPattern.transferCount) requests (1 at 0, 8 at 1000, \(maximum) at 4096, 1 at \(capacity - 1), the last) in \(clock.microseconds(writeTicks)) us")
    let flushed = BlockTest.call(BlockProtocol.flush, 0, 0, 0)
    checks.check(flushed == .ok, "flush -> \(statusName(flushed))")
    var wrong: UInt64 = 0, readsOK = true
    for index in 0..<DiskPattern.transferCount {
        let (sector, sectors) = DiskPattern.transfer(index, capacity: capacity, maximumSectors: maximum)
        BlockTest.clear()
        // A read into the middle of the buffer for the one-sector transfers: the offset is honoured.
        let offset: UInt64 = sectors == 1 ? 4096 : 0
        let status = BlockTest.call(BlockProtocol.read, sector, sectors, offset)
        if offset > 0 {
            for word in 0..<64 { BlockTest.words[word] = BlockTest.words[512 + word] }
        }
        if status != .ok { readsOK = false; log("blocktest: read of \(sectors) sectors at \(sector) answered \(statusName(status))") }
        wrong += BlockTest.mismatches(sector: sector, sectors: sectors)
    }
    checks.check(readsOK && wrong == 0, "read the \(written) sectors back (two at buffer offset 4096): \(wrong) words differ")

    // What a client must not send: each answer's status, and the driver keeps serving.
    func refuse(_ label: UInt64, _ sector: UInt64, _ sectors: UInt64, _ offset: UInt64, _ expected: BlockProtocol.Status, _ what: StaticString) {
        let status = BlockTest.call(label, sector, sectors, offset)
        checks.check(status == expected, "\(what) -> \(statusName(status))")
    }
    refuse(BlockProtocol.read, capacity, 1, 0, .outOfRange, "read at the sector after the last")
    refuse(BlockProtocol.write, capacity - 1, 2, 0, .outOfRange, "write of 2 sectors from the last")
    refuse(BlockProtocol.read, UInt64.max, 1, 0, .outOfRange, "read at sector 2^64-1")
    refuse(BlockProtocol.read, 0, 0, 0, .outOfRange, "read of 0 sectors")
    refuse(BlockProtocol.read, 0, maximum + 1, 0, .outOfRange, "read of one sector more than the most")
    refuse(BlockProtocol.read, 0, UInt64.max, 0, .outOfRange, "read of 2^64-1 sectors")
    refuse(BlockProtocol.read, 0, 1, BlockTest.bufferBytes, .badBuffer, "read to buffer offset 64 KiB (its end)")
    refuse(BlockProtocol.read, 0, 2, BlockTest.bufferBytes - 512, .badBuffer, "read of 2 sectors to the buffer's last sector")
    refuse(BlockProtocol.read, 0, 1, UInt64.max - 511, .badBuffer, "read to buffer offset 2^64-512")
    refuse(BlockProtocol.write, 0, 1, 100, .badBuffer, "write from buffer offset 100 (unaligned)")
    refuse(99, 0, 1, 0, .unsupported, "label 99")
    refuse(BlockProtocol.connect + 100, 0, 0, 0, .unsupported, "label 101")
    // A connect without a buffer is refused and leaves the connection as it was.
    let empty = SystemCall.call(BlockTest.diskSlot, MessageTag(label: BlockProtocol.connect), (0, 0, 0, 0))
    checks.check(empty.succeeded && empty.tag.label == BlockProtocol.Status.badBuffer.rawValue,
                 "connect without a buffer -> \(statusName(BlockProtocol.Status(rawValue: empty.tag.label)))")

    // Still serving: the first and the last sector read back again.
    BlockTest.clear()
    let first = BlockTest.call(BlockProtocol.read, 0, 1, 0)
    let firstWrong = BlockTest.mismatches(sector: 0, sectors: 1)
    BlockTest.clear()
    let last = BlockTest.call(BlockProtocol.read, capacity - 1, 1, 0)
    let lastWrong = BlockTest.mismatches(sector: capacity - 1, sectors: 1)
    checks.check(first == .ok && last == .ok && firstWrong == 0 && lastWrong == 0,
                 "after the refusals the driver still serves: sectors 0 and \(capacity - 1) read back, \(firstWrong + lastWrong) words differ")

    // A read-only buffer is refused (a disk read would write it) and the connection stays as it was.
    let (readOnly0, readOnly1) = TypedItem.map(Flexpage(base: BlockTest.buffer, order: BlockTest.bufferOrder, rights: .read))
    let readOnly = SystemCall.call(BlockTest.diskSlot, MessageTag(label: BlockProtocol.connect, words: 0, items: 1), (readOnly0, readOnly1, 0, 0))
    let kept = BlockTest.call(BlockProtocol.read, 0, 1, 0)
    checks.check(readOnly.tag.label == BlockProtocol.Status.badBuffer.rawValue && kept == .ok,
                 "connect with a read-only buffer -> \(statusName(BlockProtocol.Status(rawValue: readOnly.tag.label))); the old connection still reads -> \(statusName(kept))")
    // The client takes its buffer back: the driver must notice, not fault; a new connect serves again.
    let revoked = SystemCall.unmap(Flexpage(base: BlockTest.buffer, order: BlockTest.bufferOrder, rights: .all))
    let afterRevoke = BlockTest.call(BlockProtocol.read, 0, 1, 0)
    let again = SystemCall.call(BlockTest.diskSlot, MessageTag(label: BlockProtocol.connect, words: 0, items: 1), (item0, item1, 0, 0))
    BlockTest.clear()
    let reread = BlockTest.call(BlockProtocol.read, capacity - 1, 1, 0)
    let rereadWrong = BlockTest.mismatches(sector: capacity - 1, sectors: 1)
    checks.check(revoked == .ok && afterRevoke == .badBuffer && again.tag.label == 0 && again.words.0 == capacity && reread == .ok && rereadWrong == 0,
                 "buffer unmapped by the client: read -> \(statusName(afterRevoke)); connected again, the last sector reads back, \(rereadWrong) words differ")

    // The buffer taken back by another thread of the client while the driver waits for the disk in the
    // middle of a 128-sector read: the driver checks each sector's page right before its data moves,
    // answers bad buffer and resets the drive; connected again, it serves.
    let flag = SharedWord(address: TaskLayout.heap)
    flag.store(0)
    var spawner = ThreadSpawner()
    let spawned = spawner.spawn(blockTestRevoker, argument: 0, priority: 100, slot: 30)
    _ = SystemCall.call(BlockTest.diskSlot, MessageTag(label: BlockProtocol.connect, words: 0, items: 1), (item0, item1, 0, 0))
    flag.store(1)
    let midway = BlockTest.call(BlockProtocol.read, 4096, maximum, 0)
    // The driver's reply may come between the revoker's unmap and its flag (the reply goes straight to
    // this thread, of the revoker's priority): let it finish first.
    var yields = 0
    while flag.load() != 2 && yields < 1000 {
        SystemCall.yield()
        yields += 1
    }
    let revokedMidway = flag.load() == 2
    let reconnected = SystemCall.call(BlockTest.diskSlot, MessageTag(label: BlockProtocol.connect, words: 0, items: 1), (item0, item1, 0, 0))
    BlockTest.clear()
    let afterReset = BlockTest.call(BlockProtocol.read, 4096, maximum, 0)
    let afterResetWrong = BlockTest.mismatches(sector: 4096, sectors: maximum)
    checks.check(spawned == .ok && revokedMidway && midway == .badBuffer && reconnected.tag.label == 0 && afterReset == .ok && afterResetWrong == 0,
                 "buffer unmapped by another thread during a \(maximum)-sector read -> \(statusName(midway)); connected again, the \(maximum) sectors read back, \(afterResetWrong) words differ")
    checks.report()
}
