import KernelPlatform
import SwiftletABI

/// The kernel console: COM1, a 16550 UART at 115200 8N1, polled. The kernel owns the port only until a
/// user-level serial driver takes it over; kernel messages stay polled so they work in any state.
enum SerialPort {
    static let base: UInt16 = 0x3F8
    private static let lineStatus: UInt16 = base + 5
    private static let transmitEmpty: UInt8 = 0x20
    private static let transmitterIdle: UInt8 = 0x40

    static func initialize() {
        x86_outb(base + 1, 0x00)          // no UART interrupts
        x86_outb(base + 3, 0x80)          // DLAB: divisor follows
        x86_outb(base + 0, 0x01)          // 115200 baud (emulators model the rate: slower would cost time)
        x86_outb(base + 1, 0x00)
        x86_outb(base + 3, 0x03)          // 8 data bits, no parity, 1 stop bit
        x86_outb(base + 2, 0xC7)          // FIFOs on and cleared
        x86_outb(base + 4, 0x03)          // DTR, RTS
        x86_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.betweenLines)
    }

    /// Before a kernel line: if the serial driver is in the middle of one, end it first and tell the
    /// driver, which then tags the rest of its line again (ConsoleProtocol.scratchRegister).
    static func startLine() {
        guard x86_inb(ConsoleProtocol.scratchRegister) == ConsoleProtocol.midLine else { return }
        write(UInt8(ascii: "\r"))
        write(UInt8(ascii: "\n"))
        x86_outb(ConsoleProtocol.scratchRegister, ConsoleProtocol.lineBroken)
    }

    /// TSC ticks spent waiting for the transmitter, so boot measurements can leave the UART's speed out.
    nonisolated(unsafe) private(set) static var waitTicks: UInt64 = 0

    static func write(_ byte: UInt8) {
        if x86_inb(lineStatus) & transmitEmpty == 0 {
            let start = x86_rdtsc()
            while x86_inb(lineStatus) & transmitEmpty == 0 { x86_pause() }
            waitTicks += x86_rdtsc() - start
        }
        x86_outb(base, byte)
    }

    /// Waits until the last bit has left the wire (before power-off, so nothing is lost).
    static func flush() {
        while x86_inb(lineStatus) & transmitterIdle == 0 { x86_pause() }
    }
}

/// Prints one line on the kernel console.
func log(_ line: LogLine) {
    SerialPort.startLine()
    line.forEachByte(SerialPort.write)
    SerialPort.write(UInt8(ascii: "\r"))
    SerialPort.write(UInt8(ascii: "\n"))
}
