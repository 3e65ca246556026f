/// A 16550A UART as the guest sees it on eight I/O ports: transmit is instant (each byte written to THR
/// is handed to the caller, who passes it to the serial driver task), received bytes wait in the
/// 16-byte FIFO, and the interrupt line follows IER and what is pending, as the 8250 driver expects.
/// A pure state machine: no I/O, no clock; every register value the guest writes is taken as it comes.
public struct UART16550 {
    public static let fifoSize = 16

    // Register offsets from the base port.
    public enum Register {
        public static let data = 0, interruptEnable = 1, interruptIdentity = 2, lineControl = 3
        public static let modemControl = 4, lineStatus = 5, modemStatus = 6, scratch = 7
    }

    public private(set) var interruptEnable: UInt8 = 0
    public private(set) var lineControl: UInt8 = 0x03
    public private(set) var modemControl: UInt8 = 0
    public private(set) var scratch: UInt8 = 0
    /// The baud-rate divisor (115200 / divisor baud); only stored: bytes move at the speed of IPC.
    public private(set) var divisor: UInt16 = 1
    public private(set) var fifoEnabled = false
    /// THR became empty and the guest has not yet read IIR (or written THR) since: the THRE interrupt.
    private var transmitterEmptyPending = false
    private var fifo = InlineArray<16, UInt8>(repeating: 0)
    private var fifoHead = 0
    public private(set) var fifoCount = 0

    public init() {}

    private var divisorLatch: Bool { lineControl & 0x80 != 0 }
    private var loopback: Bool { modemControl & 0x10 != 0 }

    /// What a write does besides changing registers: a byte to transmit.
    public enum Effect: Equatable {
        case none
        case transmit(UInt8)
    }

    public mutating func write(_ offset: Int, _ value: UInt8) -> Effect {
        switch (offset & 7, divisorLatch) {
        case (Register.data, true):
            divisor = divisor & 0xFF00 | UInt16(value)
        case (Register.interruptEnable, true):
            divisor = divisor & 0x00FF | UInt16(value) << 8
        case (Register.data, false):
            transmitterEmptyPending = true          // sent at once: THR is empty again
            if loopback {
                _ = receive(value)
                return .none
            }
            return .transmit(value)
        case (Register.interruptEnable, false):
            // Enabling the THRE interrupt while THR is empty raises it at once (the 8250 driver relies on it).
            if value & 0x02 != 0 && interruptEnable & 0x02 == 0 { transmitterEmptyPending = true }
            interruptEnable = value & 0x0F
        case (Register.interruptIdentity, _):       // FCR
            fifoEnabled = value & 0x01 != 0
            if value & 0x02 != 0 || !fifoEnabled { fifoHead = 0; fifoCount = 0 }
        case (Register.lineControl, _):
            lineControl = value
        case (Register.modemControl, _):
            modemControl = value & 0x1F
        case (Register.scratch, _):
            scratch = value
        default:
            break                                   // LSR and MSR are read-only
        }
        return .none
    }

    public mutating func read(_ offset: Int) -> UInt8 {
        switch (offset & 7, divisorLatch) {
        case (Register.data, true): return UInt8(truncatingIfNeeded: divisor)
        case (Register.interruptEnable, true): return UInt8(truncatingIfNeeded: divisor >> 8)
        case (Register.data, false):
            guard fifoCount > 0 else { return 0 }
            let byte = fifo[fifoHead]
            fifoHead = (fifoHead + 1) % Self.fifoSize
            fifoCount -= 1
            return byte
        case (Register.interruptEnable, false): return interruptEnable
        case (Register.interruptIdentity, _):
            let fifoBits: UInt8 = fifoEnabled ? 0xC0 : 0
            if interruptEnable & 0x01 != 0 && fifoCount > 0 { return fifoBits | 0x04 }
            if interruptEnable & 0x02 != 0 && transmitterEmptyPending {
                transmitterEmptyPending = false      // reading IIR acknowledges THRE
                return fifoBits | 0x02
            }
            return fifoBits | 0x01
        case (Register.lineControl, _): return lineControl
        case (Register.modemControl, _): return modemControl
        case (Register.lineStatus, _):
            return 0x60 | (fifoCount > 0 ? 0x01 : 0)  // THR and transmitter always empty; DR
        case (Register.modemStatus, _):
            guard loopback else { return 0xB0 }      // DCD, DSR, CTS: a cable with someone at the other end
            // Loopback: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD.
            let m = modemControl
            return (m & 0x01) << 5 | (m & 0x02) << 3 | (m & 0x04) << 4 | (m & 0x08) << 4
        default: return scratch
        }
    }

    /// A byte from the outside; false if the FIFO is full (the caller keeps it and offers it again later).
    public mutating func receive(_ byte: UInt8) -> Bool {
        guard fifoCount < Self.fifoSize else { return false }
        fifo[(fifoHead + fifoCount) % Self.fifoSize] = byte
        fifoCount += 1
        return true
    }

    /// Whether the UART asserts its interrupt: an enabled condition is pending and OUT2 lets it out
    /// (on a PC, OUT2 gates the UART's IRQ line).
    public var interruptAsserted: Bool {
        guard modemControl & 0x08 != 0 else { return false }
        return (interruptEnable & 0x01 != 0 && fifoCount > 0) || (interruptEnable & 0x02 != 0 && transmitterEmptyPending)
    }
}
