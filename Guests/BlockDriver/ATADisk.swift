import DriverCore
import SwiftletABI
import SwiftletUser
import UserPlatform

/// The disk on the primary IDE channel's master, driven by programmed I/O (READ/WRITE SECTORS EXT, one
/// interrupt per sector) through the only ports this task holds: the command block 0x1F0-0x1F7 and the
/// control register 0x3F6. The interrupt (IRQ 14) is bound to an endpoint of the driver's own, so a
/// command's wait for its device never takes a client's message.
///
/// Nothing the device says is trusted to end a wait: every wait is bounded (a missing or busy device
/// answers `ioError`), and the identity's sector count is checked against 48-bit LBA before use.
struct ATADisk {
    static let base: UInt16 = 0x1F0
    static let control: UInt16 = 0x3F6           // read: alternate status (no interrupt acknowledge)
    static let interruptEndpoint: UInt64 = 20
    /// How long a command may keep the device busy, and how long an interrupt may take to come.
    static let commandMicroseconds: UInt64 = 2_000_000

    let tscKHz: UInt64
    var identity: ATAIdentity?
    /// Figures for the driver's last line.
    var interrupts: UInt64 = 0, missedInterrupts: UInt64 = 0, commands: UInt64 = 0, failures: UInt64 = 0, resets: UInt64 = 0

    init(tscKHz: UInt64) {
        self.tscKHz = max(tscKHz, 1)
    }

    static func register(_ offset: Int) -> UInt16 { base + UInt16(truncatingIfNeeded: offset) }
    var alternateStatus: UInt8 { user_inb(Self.control) }

    /// Binds the interrupt, enables it at the device (nIEN clear) and identifies the master. Returns why not.
    mutating func start() -> StaticString? {
        guard SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: Self.interruptEndpoint) == .ok,
              SystemCall.interrupt(ConsoleProtocol.interruptSlot, .bind, (Self.interruptEndpoint, 14, 0, 0)) == .ok,
              SystemCall.interrupt(ConsoleProtocol.interruptSlot, .acknowledge) == .ok else { return "interrupt 14 not bound" }
        user_outb(Self.control, 0x00)
        user_outb(Self.register(ATACommand.Register.device), 0x40)
        settle()
        // A floating bus (no controller or no drive) reads 0xFF; a drive that is there is not busy forever.
        let status = alternateStatus
        guard status != 0xFF, status != 0x00 else { return "no drive on the primary channel (status 0xff or 0)" }
        guard waitWhileBusy() else { return "the drive stays busy" }
        guard issue(ATACommand.identify()) == .ok, waitForInterrupt(), dataReady() == .ok else {
            return "IDENTIFY DEVICE failed (no ATA disk: an ATAPI drive or none)"
        }
        let identity = withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 256) { words -> ATAIdentity? in
            user_insw(Self.register(ATACommand.Register.data), words.baseAddress!, 256)
            return ATAIdentity(words: UnsafeBufferPointer(words))
        }
        guard let identity, identity.supportsLBA48 else { return "the disk has no 48-bit LBA" }
        guard identity.sectors > 0, identity.sectors <= ATACommand.lbaLimit else { return "the disk reports no usable capacity" }
        self.identity = identity
        return nil
    }

    /// 400 ns for the status to follow a drive selection or a command: four reads of the alternate status.
    func settle() {
        for _ in 0..<4 { _ = alternateStatus }
    }

    private func deadline() -> UInt64 { timestamp() &+ Self.commandMicroseconds * tscKHz / 1000 }

    /// Until BSY clears, within the command time.
    func waitWhileBusy() -> Bool {
        let end = deadline()
        while alternateStatus & ATACommand.Status.busy != 0 {
            if timestamp() > end { return false }
            user_pause()
        }
        return true
    }

    /// Drops an interrupt left from before (the firmware's, a command that failed half way), so the next
    /// wait is for this command's.
    mutating func drainInterrupts() {
        while SystemCall.wait(Self.interruptEndpoint, timeout: .microseconds(0)).tag.label == KernelMessageLabel.interrupt {
            _ = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .acknowledge)
        }
    }

    /// The command's next interrupt, or (if none comes in time, as when an edge fell while the line was
    /// masked) a device that is no longer busy; the status register is read, which clears the device's
    /// interrupt, and the line acknowledged before any data moves, so the next sector's edge is not lost.
    mutating func waitForInterrupt() -> Bool {
        let message = SystemCall.wait(Self.interruptEndpoint, timeout: .microseconds(Self.commandMicroseconds))
        if message.succeeded && message.tag.label == KernelMessageLabel.interrupt {
            interrupts &+= 1
        } else {
            missedInterrupts &+= 1
        }
        let ready = waitWhileBusy()
        _ = user_inb(Self.register(ATACommand.Register.status))
        if message.succeeded && message.tag.label == KernelMessageLabel.interrupt {
            _ = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .acknowledge)
        }
        return ready
    }

    /// After BSY cleared: the device wants data moved (DRQ), or says why not.
    func dataReady() -> BlockProtocol.Status {
        let status = alternateStatus
        switch ATACommand.outcome(status: status, error: user_inb(Self.register(ATACommand.Register.error))) {
        case .busy, .failed: return .ioError
        case .done: return status & ATACommand.Status.dataRequest != 0 ? .ok : .ioError
        }
    }

    /// The command is over: not busy, no error, no more data wanted.
    func finished() -> BlockProtocol.Status {
        guard waitWhileBusy() else { return .ioError }
        let status = alternateStatus
        switch ATACommand.outcome(status: status, error: user_inb(Self.register(ATACommand.Register.error))) {
        case .busy, .failed: return .ioError
        case .done: return status & ATACommand.Status.dataRequest == 0 ? .ok : .ioError
        }
    }

    /// Writes the command's registers once the drive is idle.
    mutating func issue(_ command: ATACommand) -> BlockProtocol.Status {
        guard waitWhileBusy() else { return .ioError }
        drainInterrupts()
        commands &+= 1
        let writes = command.writes
        for index in writes.indices {
            user_outb(Self.register(writes[index].offset), writes[index].value)
            if index == 0 { settle() }           // the drive selection takes effect first
        }
        return .ok
    }

    /// Moves `sectors` sectors from `lba` between the disk and `buffer` (mapped, writable, 512 bytes a
    /// sector: the caller checked it). Errors leave the drive idle for the next command.
    /// `stillMapped(sector)` is asked right before each sector's data moves, with nothing that blocks in
    /// between: a client thread that unmapped the buffer while the driver waited for the device gets
    /// `badBuffer` (and the drive a reset), not a driver that faults.
    mutating func transfer(write: Bool, lba: UInt64, sectors: UInt32, buffer: UnsafeMutablePointer<UInt16>,
                           stillMapped: (Int) -> Bool) -> BlockProtocol.Status {
        guard case .success(let command) = ATACommand.transfer(write ? .writeSectorsExt : .readSectorsExt, lba: lba, sectors: sectors) else {
            return .outOfRange
        }
        let status = perform(command, buffer: buffer, stillMapped: stillMapped)
        if status == .ioError { failures &+= 1 }
        if status != .ok { reset() }
        return status
    }

    /// Software reset of the channel (SRST), which ends a command left half done; the drive then
    /// answers commands again once it is not busy.
    mutating func reset() {
        user_outb(Self.control, 0x04)
        for _ in 0..<64 { _ = alternateStatus }          // SRST held for well over 5 us
        user_outb(Self.control, 0x00)
        settle()
        _ = waitWhileBusy()
        _ = user_inb(Self.register(ATACommand.Register.status))
        drainInterrupts()
        resets &+= 1
    }

    private mutating func perform(_ command: ATACommand, buffer: UnsafeMutablePointer<UInt16>,
                                  stillMapped: (Int) -> Bool) -> BlockProtocol.Status {
        guard issue(command) == .ok else { return .ioError }
        let data = Self.register(ATACommand.Register.data)
        let write = command.opcode == .writeSectorsExt
        for sector in 0..<Int(command.sectors) {
            let words = buffer + sector * 256
            if write {
                // The first sector is asked for without an interrupt; each later one after the previous one's.
                if sector == 0 { guard waitWhileBusy() else { return .ioError } }
                guard dataReady() == .ok else { return .ioError }
                guard stillMapped(sector) else { return .badBuffer }
                user_outsw(data, words, 256)
                guard waitForInterrupt() else { return .ioError }
            } else {
                guard waitForInterrupt(), dataReady() == .ok else { return .ioError }
                guard stillMapped(sector) else { return .badBuffer }
                user_insw(data, words, 256)
            }
        }
        return finished()
    }

    /// FLUSH CACHE EXT: what was written is on the medium when it answers.
    mutating func flush() -> BlockProtocol.Status {
        guard issue(ATACommand.flush()) == .ok, waitForInterrupt() else { failures &+= 1; return .ioError }
        let status = finished()
        if status != .ok { failures &+= 1 }
        return status
    }
}
