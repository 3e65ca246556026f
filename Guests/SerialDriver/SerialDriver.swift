import SwiftletABI
import SwiftletUser
import UserPlatform

/// The serial driver: the only task with COM1's ports (0x3F8-0x3FF) and its interrupt, offering a
/// console service to the other tasks (ConsoleProtocol). Output is collected per client until a line is
/// complete, then printed as `[name] line`; input comes by interrupt and goes to the latest reader.
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
}

struct Driver {
    var clients = InlineArray<8, Client>(repeating: Client())
    var clientCount = 0
    var input = InlineArray<256, UInt8>(repeating: 0)
    var inputStart = 0, inputCount = 0
    var readerWaiting = false
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

    func waitForTransmitter() {
        while user_inb(Serial.lineStatus) & 0x20 == 0 { user_pause() }
    }

    func put(_ byte: UInt8) {
        waitForTransmitter()
        user_outb(Serial.data, byte)
    }

    /// Prints `tag` and `text` as one line. The scratch register tells the kernel this line is under way;
    /// when a kernel line broke in, the rest of this one goes out with its tag again, so no part of a
    /// client's text starts an untagged line (ConsoleProtocol.scratchRegister). The register is read right
    /// before each byte goes out, after the wait for the transmitter, where a preemption is most likely.
    func print(tag: LogLine, _ text: LogLine) {
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.midLine)
        putTag(tag)
        text.forEachByte { byte in
            while true {
                waitForTransmitter()
                if tookBrokenLine() {
                    putTag(tag)
                    continue
                }
                user_outb(Serial.data, byte)
                break
            }
        }
        put(UInt8(ascii: "\r"))
        put(UInt8(ascii: "\n"))
        user_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.betweenLines)
    }

    /// The tag, from its start again if a kernel line broke in while it was being written.
    private func putTag(_ tag: LogLine) {
        var index = 0
        while index < tag.count {
            waitForTransmitter()
            if tookBrokenLine() { index = 0 }
            user_outb(Serial.data, tag[index])
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
    mutating func reportDroppedInput() {
        guard inputDropped != inputDroppedReported else { return }
        print(tag: "[serial] ", "\(inputDropped &- inputDroppedReported) input bytes dropped (input buffer full, no reader kept up)")
        inputDroppedReported = inputDropped
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
                if driver.readerWaiting && driver.inputCount > 0 {
                    let (tag, words) = driver.takeInput()
                    _ = SystemCall.reply(through: Serial.readerSlot, tag, words)
                    driver.readerWaiting = false
                }
            case ConsoleProtocol.write:
                driver.write(message.badge, message.words, count: ConsoleProtocol.count(message.tag.label))
                reply = (MessageTag(label: 0), (0, 0, 0, 0))
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
            case ConsoleProtocol.name:
                let index = driver.client(message.words.0)
                driver.clients[index].name = (message.words.1, message.words.2, message.words.3)
            default:
                reply = (MessageTag(label: 0), (0, 0, 0, 0))
            }
        }
        if let (tag, words) = reply {
            message = SystemCall.replyWait(ConsoleProtocol.serviceSlot, tag, words)
        } else {
            message = SystemCall.wait(ConsoleProtocol.serviceSlot)
        }
    }
}
