import Foundation
@testable import SwiftletTools
import XCTest

/// The host side of Bochs's bidirectional COM1, without Bochs: the pseudo-terminal carries every byte
/// unchanged both ways, and the person's terminal is raw while a run lasts and restored after.
final class SerialTerminalTests: XCTestCase {
    /// All 256 byte values, CR, LF and Ctrl-C among them, arrive unchanged in both directions, with no echo,
    /// from the first byte on (before and after the emulator opens the slave as Bochs does: non-blocking).
    func testThePseudoTerminalCarriesEveryByteUnchangedBothWays() throws {
        let terminal = try PseudoTerminal()
        XCTAssertTrue(terminal.slavePath.hasPrefix("/dev/pts/"), terminal.slavePath)
        let everyByte = (0...255).map { UInt8($0) }

        // Typed before the emulator opened the slave: nothing echoes back into the console.
        XCTAssertEqual(write(terminal.master, "early\r", 6), 6)
        let emulator = open(terminal.slavePath, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(emulator, 0, "cannot open \(terminal.slavePath)")
        XCTAssertEqual(Self.readBytes(emulator, count: 6), Array("early\r".utf8))

        // Guest to console, written a byte at a time as Bochs's UART does.
        for byte in everyByte {
            XCTAssertEqual(withUnsafeBytes(of: byte) { write(emulator, $0.baseAddress, 1) }, 1)
        }
        XCTAssertEqual(Self.readBytes(terminal.master, count: 256), everyByte, "guest to console")

        // Console to guest, in one write.
        XCTAssertEqual(everyByte.withUnsafeBytes { write(terminal.master, $0.baseAddress, $0.count) }, 256)
        XCTAssertEqual(Self.readBytes(emulator, count: 256), everyByte, "console to guest")
        usleep(50_000)
        XCTAssertTrue(FileDescriptorReading.readAvailable(terminal.master).isEmpty, "the line echoed input back")

        // The emulator going away leaves the master readable (empty), not failing.
        close(emulator)
        var reader = PseudoTerminalReader(terminal: terminal, copy: FileHandle(forWritingAtPath: "/dev/null")!)
        XCTAssertTrue(reader.read().isEmpty)
    }

    /// The keyboard takes a terminal to raw input for the run (no echo, no line editing, no signal keys;
    /// output settings kept) and gives it back as it was; Ctrl-C is a key for the guest, Ctrl-A x quits.
    func testTheKeyboardIsRawDuringTheRunAndRestoredAfter() throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        XCTAssertEqual(openpty(&master, &slave, nil, nil, nil), 0)
        // The test reads the person's side (the master) to see whether anything was echoed: without waiting.
        XCTAssertEqual(fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK), 0)
        defer {
            close(master)
            close(slave)
        }
        var before = termios()
        XCTAssertEqual(tcgetattr(slave, &before), 0)
        XCTAssertNotEqual(before.c_lflag & tcflag_t(ICANON | ECHO | ISIG), 0, "a fresh terminal is cooked")

        let keyboard = try TerminalKeyboard(descriptor: slave)
        var during = termios()
        XCTAssertEqual(tcgetattr(slave, &during), 0)
        XCTAssertEqual(during.c_lflag & tcflag_t(ICANON | ECHO | ISIG | IEXTEN), 0)
        XCTAssertEqual(during.c_iflag & tcflag_t(ICRNL | IXON | ISTRIP | INLCR), 0)
        XCTAssertEqual(during.c_oflag, before.c_oflag, "output settings are kept")

        XCTAssertEqual(keyboard.read().keys, [], "nothing typed, and the read did not block")
        let typed: [UInt8] = Array("ls\r".utf8) + [0x03, 0x01, 0x01, 0x1b, 0x5b, 0x41, 0x01, UInt8(ascii: "b")]
        XCTAssertEqual(typed.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }, typed.count)
        let keys = Self.collectKeys(keyboard, count: 10)
        XCTAssertEqual(keys.keys, Array("ls\r".utf8) + [0x03, 0x01, 0x1b, 0x5b, 0x41, 0x01, UInt8(ascii: "b")])
        XCTAssertFalse(keys.quit)
        usleep(50_000)
        XCTAssertTrue(FileDescriptorReading.readAvailable(master).isEmpty, "the terminal echoed the keys")

        XCTAssertEqual(write(master, "z\u{01}xmore", 7), 7)
        let quitting = Self.collectKeys(keyboard, count: 1, untilQuit: true)
        XCTAssertEqual(quitting.keys, [UInt8(ascii: "z")])
        XCTAssertTrue(quitting.quit, "Ctrl-A x did not quit")

        keyboard.restore()
        var after = termios()
        XCTAssertEqual(tcgetattr(slave, &after), 0)
        XCTAssertEqual(after.c_lflag, before.c_lflag)
        XCTAssertEqual(after.c_iflag, before.c_iflag)
        XCTAssertEqual(after.c_oflag, before.c_oflag)
        XCTAssertEqual(withUnsafeBytes(of: after.c_cc) { Array($0) }, withUnsafeBytes(of: before.c_cc) { Array($0) })
    }

    /// Ctrl-A x quits, Ctrl-A Ctrl-A types one Ctrl-A, Ctrl-A before another key types both, also when
    /// the two keys come in different reads.
    func testEscapeKeys() {
        var escape = EscapeKeys()
        XCTAssertEqual(escape.filter([0x03, 0x04, 0x1a, 0x0d]).keys, [0x03, 0x04, 0x1a, 0x0d])
        XCTAssertEqual(escape.filter([0x61, 0x01]).keys, [0x61])
        XCTAssertEqual(escape.filter([0x01]).keys, [0x01])
        XCTAssertEqual(escape.filter([0x01]).keys, [])
        XCTAssertEqual(escape.filter([0x62]).keys, [0x01, 0x62])
        let quit = escape.filter([0x63, 0x01, UInt8(ascii: "x"), 0x64])
        XCTAssertEqual(quit.keys, [0x63])
        XCTAssertTrue(quit.quit)
        var fresh = EscapeKeys()
        XCTAssertFalse(fresh.filter([UInt8(ascii: "x")]).quit)
    }

    /// Reads `count` bytes from a non-blocking descriptor, waiting up to a second for the pty to pass them on.
    private static func readBytes(_ descriptor: Int32, count: Int) -> [UInt8] {
        var collected: [UInt8] = []
        let deadline = Date().addingTimeInterval(1)
        while collected.count < count && Date() < deadline {
            collected += FileDescriptorReading.readAvailable(descriptor)
            if collected.count < count { usleep(1_000) }
        }
        return collected
    }

    private static func collectKeys(_ keyboard: TerminalKeyboard, count: Int, untilQuit: Bool = false) -> (keys: [UInt8], quit: Bool) {
        var keys: [UInt8] = []
        var quit = false
        let deadline = Date().addingTimeInterval(1)
        while (keys.count < count || (untilQuit && !quit)) && Date() < deadline {
            let typed = keyboard.read()
            keys += typed.keys
            quit = quit || typed.quit
            usleep(1_000)
        }
        return (keys, quit)
    }
}
