import XCTest
import SwiftletABI

/// The serial driver's view of the raw console stream: what it sends again after another line.
final class RawConsoleLineTests: XCTestCase {
    func bytes(_ line: RawConsoleLine) -> [UInt8] {
        var kept: [UInt8] = []
        line.forEachByte { kept.append($0) }
        return kept
    }

    func append(_ text: String, to line: inout RawConsoleLine) {
        for byte in text.utf8 { line.append(byte) }
    }

    func testTheUnfinishedLineIsKeptWithItsControlBytes() {
        var line = RawConsoleLine()
        XCTAssertFalse(line.isMidLine)
        XCTAssertEqual(line.scratchState, ConsoleProtocol.betweenLines)
        append("boot done\r\n~ # ls\u{8} \u{8}\u{1b}[K", to: &line)
        XCTAssertTrue(line.isMidLine, "a prompt and typing without a line end")
        XCTAssertEqual(line.scratchState, ConsoleProtocol.midLine, "a kernel line must start on its own line")
        XCTAssertEqual(bytes(line), Array("~ # ls\u{8} \u{8}\u{1b}[K".utf8), "everything since the last line end, unchanged")
        line.append(0x0A)
        XCTAssertFalse(line.isMidLine)
        XCTAssertEqual(bytes(line), [])
        XCTAssertEqual(line.scratchState, ConsoleProtocol.betweenLines)
    }

    func testALongLineKeepsItsLast256Bytes() {
        var line = RawConsoleLine()
        let long = (0..<1000).map { UInt8(0x20 + $0 % 90) }
        for byte in long { line.append(byte) }
        XCTAssertEqual(line.count, RawConsoleLine.capacity)
        XCTAssertEqual(bytes(line), Array(long.suffix(256)), "the newest bytes, oldest first")
        XCTAssertEqual(line[0], long[1000 - 256])
        append("\nx", to: &line)
        XCTAssertEqual(bytes(line), [UInt8(ascii: "x")])
    }

    func testTheEraseSequenceIsCarriageReturnAndEraseLine() {
        let erase = RawConsoleLine.eraseLine
        XCTAssertEqual([erase.0, erase.1, erase.2, erase.3], [0x0D, 0x1B, 0x5B, 0x4B])
    }
}
