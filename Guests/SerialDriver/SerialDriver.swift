import SwiftletABI
import SwiftletUser
import UserPlatform

/// The serial driver: the only task with COM1's ports (0x3F8-0x3FF) and its interrupt, offering a
/// console service to the other tasks (ConsoleProtocol). Output is collected per client until a line is
/// complete, then printed as `[name] line`; a client allowed the raw stream (`console-raw`) has its bytes
/// sent unchanged, and a tagged line that comes while the raw stream is mid-line goes on a line of its own
/// (RawConsoleLine); input comes by interrupt and goes to the latest reader.
enum Serial {
    static let base: UInt16 = 0x3F8
    static let data = base, interruptEnable = base + 1, fifoControl = base + 2, lineControl = base + 3
    static let modemControl = base + 4, lineStatus = base + 5
    static let maximumClients = 8
    static let inputCapacity = 256
    /// Where the reply capability of a blocked reader is kept.
    static let readerSlot: UInt64 = 20
}

struct Client {
    var badge: UInt64 = 0
    var name: (UInt64, UInt64, UInt64) = (0, 0, 0)
    var line = LogLine()
    /// Whether the root task named it with `ConsoleProtocol.rawAllowed` (its `console-raw` property).
    var rawAllowed = false
}

struct Driver {
    var clients = InlineArray<8, Client>(repeating: Client())
    var clientCount = 0
    var input = InlineArray<256, UInt8>(repeating: 0)
    var inputStart = 0, inputCount = 0
    var readerWaiting = false
    /// The raw stream's unfinished line, redrawn after any other line.
    var raw = RawConsoleLine()
    var interrupts: UInt64 = 0
    /// Received bytes dropped because the input buffer was full (no reader kept up), and how many of
    /// those were already reported.
    var inputDropped: UInt64 = 0, inputDroppedReported: UInt64 = 0

    /// 115200 8N1, FIFO with a one-byte trigger, receive interrupts routed out by OUT2.
    func initialize() {
        user_outb(Serial.interruptEnable, 0)
        user_outb(Serial.lineControl, 0x80)
        user_outb(Serial.data, 1)
        user_outb(Serial.interruptEnable, 0)
        user_outb(Serial.lineControl, 0x03)
        user_outb(Serial.fifoControl, 0x07)
        user_outb(Serial.modemControl, 0x0B)
        while user_inb(Serial.lineStatus) & 1 != 0 { _ = user_inb(Serial.data) }
        user_outb(Serial.interruptEnable, 0x01)
    }

    /// Waits for room in the transmitter, taking what the receiver holds meanwhile: at 115200 baud a line
    /// of output keeps the driver here for milliseconds (Bochs times each byte), and the receive FIFO's
    /// 16 bytes fill in 1.4 ms, so a line typed (or pasted) while a heartbeat went out overran it and lost
    /// its end (seen on Bochs: the shell got the first 16 bytes of a typed command and waited forever).
    mutating func waitForTransmitter() {
        while true {
            let status = user_inb(Serial.lineStatus)
            if status & 0x01 != 0 { receive() }
            if status & 0x20 != 0 { return }
            user_pause()
        }
    }

    mutating func put(_ byte: UInt8) {
        waitForTransmitter()
        user_outb(Serial.data, byte)
    }

    /// Prints `tag` and `text` as one line. The scratch register tells the kernel this line is under way;
    /// when a kernel line broke in, this one goes out again whole with its tag, so no part of a client's
    /// text starts an untagged line and no line is split in two (ConsoleProtocol.scratchRegister). The register is read right
    /// before each byte goes out, after the wait for the transmitter, where a preemption is most likely.
    /// While the raw stream is mid-line, its line is erased first and sent again after this one.
    mutating func print(tag: LogLine, _ text: LogLine) {
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.midLine)
        if raw.isMidLine {
            let erase = RawConsoleLine.eraseLine
            put(erase.0); put(erase.1); put(erase.2); put(erase.3)
        }
        // The tag and the text together, from the start again if a kernel line broke in: the console then
        // shows the broken start and, after the kernel's line, the whole line, never a line in two halves.
        putWhole(count: tag.count + text.count) { $0 < tag.count ? tag[$0] : text[$0 - tag.count] }
        put(UInt8(ascii: "\r"))
        put(UInt8(ascii: "\n"))
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.betweenLines)
        redrawRaw()
    }

    /// Sends the raw stream's unfinished line again (after a line of another's took its place), from its
    /// start again if a kernel line broke in meanwhile; leaves the scratch register as the raw stream needs.
    private mutating func redrawRaw() {
        guard raw.isMidLine else { return }
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.midLine)
        let line = raw          // a copy: sending may receive, which changes the driver
        putWhole(count: line.count) { line[$0] }
    }

    /// A raw client's bytes, sent unchanged; the unfinished line is tracked so other lines can make room
    /// for it and a kernel line that broke in is followed by the line again.
    mutating func writeRaw(_ words: (UInt64, UInt64, UInt64, UInt64), count: Int) {
        if tookBrokenLine() { redrawRaw() }
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.midLine)
        for position in 0..<min(count, ConsoleProtocol.chunk) {
            let byte = ConsoleProtocol.byte(words, position)
            waitForTransmitter()
            if tookBrokenLine() { redrawRaw() }
            user_outb(Serial.data, byte)
            raw.append(byte)
        }
        user_outb(ConsoleProtocol.scratchRegister, raw.scratchState)
    }

    /// The tag, from its start again if a kernel line broke in while it was being written.
    private mutating func putTag(_ tag: LogLine) {
        putWhole(count: tag.count) { tag[$0] }
    }

    /// `count` bytes that must appear together on one line (a tag, the raw stream's redrawn line): from the
    /// first again if a kernel line broke in on them.
    /// A preemption between the check and the byte can still put that one byte before the kernel's line
    /// ends, at the start of the line the driver then sends again (seen once in a Bochs run).
    private mutating func putWhole(count: Int, _ byte: (Int) -> UInt8) {
        var index = 0
        while index < count {
            waitForTransmitter()
            if tookBrokenLine() { index = 0 }
            user_outb(Serial.data, byte(index))
            index += 1
        }
    }

    /// Whether a kernel line came in since the last byte; marks the line as under way again.
    private func tookBrokenLine() -> Bool {
        guard user_inb(ConsoleProtocol.scratchRegister) == ConsoleProtocol.lineBroken else { return false }
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.midLine)
        return true
    }

    mutating func client(_ badge: UInt64) -> Int {
        for index in 0..<clientCount where clients[index].badge == badge { return index }
        if clientCount < Serial.maximumClients {
            clients[clientCount] = Client(badge: badge)
            clientCount += 1
            return clientCount - 1
        }
        return Serial.maximumClients - 1        // more clients than slots share the last one
    }

    /// Appends a client's bytes; prints each completed line with the client's name.
    mutating func write(_ badge: UInt64, _ words: (UInt64, UInt64, UInt64, UInt64), count: Int) {
        let index = client(badge)
        for position in 0..<min(count, ConsoleProtocol.chunk) {
            let byte = ConsoleProtocol.byte(words, position)
            if byte == UInt8(ascii: "\n") {
                var tag: LogLine = "["
                appendName(clients[index].name, badge: badge, to: &tag)
                tag.append("] ")
                print(tag: tag, clients[index].line)
                clients[index].line = LogLine()
            } else {
                clients[index].line.append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
            }
        }
    }

    func appendName(_ name: (UInt64, UInt64, UInt64), badge: UInt64, to line: inout LogLine) {
        var any = false
        for index in 0..<24 {
            let word = index < 8 ? name.0 : index < 16 ? name.1 : name.2
            let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
            if byte == 0 { break }
            // The same characters as a kernel task name: nothing can close the tag early.
            line.append(TaskName.allowed(byte) ? byte : UInt8(ascii: "?"))
            any = true
        }
        if !any {
            line.append("task ")
            line.appendDecimal(badge)
        }
    }

    /// Moves what the UART received into the input buffer, unchanged; what does not fit is counted.
    mutating func receive() {
        while user_inb(Serial.lineStatus) & 1 != 0 {
            let byte = user_inb(Serial.data)
            if inputCount < Serial.inputCapacity {
                input[(inputStart + inputCount) % Serial.inputCapacity] = byte
                inputCount += 1
            } else {
                inputDropped &+= 1
            }
        }
    }

    /// Says (once per loss) how much input was dropped, when the reader catches up.
    /// The count is taken before the line goes out: printing waits for the transmitter and takes input
    /// meanwhile, and what it drops then belongs to the next report (it went unreported: 1322 bytes of a
    /// 64 KiB storm on 2026-12-02).
    mutating func reportDroppedInput() {
        let dropped = inputDropped
        guard dropped != inputDroppedReported else { return }
        print(tag: "[serial] ", "\(dropped &- inputDroppedReported) input bytes dropped (input buffer full, no reader kept up)")
        inputDroppedReported = dropped
    }

    /// Up to 32 bytes of input as a read reply.
    mutating func takeInput() -> (MessageTag, (UInt64, UInt64, UInt64, UInt64)) {
        reportDroppedInput()
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let count = min(inputCount, ConsoleProtocol.chunk)
        for index in 0..<count {
            ConsoleProtocol.setByte(&words, index, input[(inputStart + index) % Serial.inputCapacity])
        }
        inputStart = (inputStart + count) % Serial.inputCapacity
        inputCount -= count
        return (MessageTag(label: ConsoleProtocol.label(ConsoleProtocol.read, count: count), words: 4), words)
    }
}

@_cdecl("task_main")
func serialMain(tscKHz: UInt64, utcb: UInt64) {
    var driver = Driver()
    driver.initialize()
    var error = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .bind, (ConsoleProtocol.serviceSlot, 0, 0, 0))
    if error == .ok { error = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .acknowledge) }
    driver.print(tag: "[serial] ", "console service on COM1 (ports 0x3f8-0x3ff, interrupt bound: \(error.name))")

    var message = SystemCall.wait(ConsoleProtocol.serviceSlot)
    while true {
        var reply: (MessageTag, (UInt64, UInt64, UInt64, UInt64))? = nil
        if message.succeeded {
            switch ConsoleProtocol.operation(message.tag.label) {
            case _ where message.tag.label == KernelMessageLabel.interrupt:
                driver.interrupts += 1
                driver.receive()
                _ = SystemCall.interrupt(ConsoleProtocol.interruptSlot, .acknowledge)
                // The line is masked from the interrupt until the acknowledge, and an edge then is lost;
                // the UART's line stays up while it holds a byte, so a byte that came in between would
                // never interrupt again (seen on Bochs: typed input stopped mid-line). Take it now.
                driver.receive()
            case ConsoleProtocol.write:
                driver.write(message.badge, message.words, count: ConsoleProtocol.count(message.tag.label))
                reply = (MessageTag(label: 0), (0, 0, 0, 0))
            case ConsoleProtocol.writeRaw:
                let index = driver.client(message.badge)
                if driver.clients[index].rawAllowed && driver.clients[index].badge == message.badge {
                    driver.writeRaw(message.words, count: ConsoleProtocol.count(message.tag.label))
                    reply = (MessageTag(label: 0), (0, 0, 0, 0))
                } else {
                    reply = (MessageTag(label: ConsoleProtocol.refused), (0, 0, 0, 0))
                }
            case ConsoleProtocol.read:
                if driver.inputCount > 0 {
                    reply = driver.takeInput()
                } else {
                    // Focus moves to this reader; an earlier one that still waits gets an empty answer.
                    if driver.readerWaiting {
                        _ = SystemCall.reply(through: Serial.readerSlot, MessageTag(label: ConsoleProtocol.read))
                    }
                    driver.readerWaiting = SystemCall.saveCaller(into: Serial.readerSlot) == .ok
                }
            case ConsoleProtocol.name where message.badge == 0:
                // Only the root task's capability is unbadged: a client can neither rename another nor
                // give itself the raw stream.
                let index = driver.client(message.words.0)
                driver.clients[index].name = (message.words.1, message.words.2, message.words.3)
                driver.clients[index].rawAllowed = ConsoleProtocol.count(message.tag.label) & ConsoleProtocol.rawAllowed != 0
                    && driver.clients[index].badge == message.words.0
            default:
                reply = (MessageTag(label: 0), (0, 0, 0, 0))
            }
        }
        // Input that came with an interrupt, or while output went out, goes to the reader that waits for it.
        if driver.readerWaiting && driver.inputCount > 0 {
            let (tag, words) = driver.takeInput()
            _ = SystemCall.reply(through: Serial.readerSlot, tag, words)
            driver.readerWaiting = false
        }
        if let (tag, words) = reply {
            message = SystemCall.replyWait(ConsoleProtocol.serviceSlot, tag, words)
        } else {
            message = SystemCall.wait(ConsoleProtocol.serviceSlot)
        }
    }
}
