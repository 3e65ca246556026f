import XCTest
@testable import SwiftletABI

/// Task names tag every console line a task writes; a name that could close the tag or end the line
/// would let a task print an untagged line.
final class TaskNameTests: XCTestCase {
    func pack(_ text: String) -> (length: UInt64, low: UInt64, high: UInt64) {
        var words: (UInt64, UInt64) = (0, 0)
        for (index, byte) in text.utf8.enumerated() where index < 16 {
            let shifted = UInt64(byte) << (UInt64(index % 8) * 8)
            if index < 8 { words.0 |= shifted } else { words.1 |= shifted }
        }
        return (UInt64(text.utf8.count), words.0, words.1)
    }

    func name(_ text: String) -> TaskName? {
        let (length, low, high) = pack(text)
        return TaskName(length: length, low, high)
    }

    func testLinesAreTaggedWithTheName() {
        XCTAssertEqual(name("ping")?.tag("ping: hello").string, "[ping] ping: hello")
        XCTAssertEqual(name("uart@3f8,a_b.c+d-e")?.count, nil, "longer than 16 bytes")
        XCTAssertEqual(name("uart@3f8,a_b.c+d")?.tag("x").string, "[uart@3f8,a_b.c+d] x")
        XCTAssertEqual(TaskName().tag("kernel: powering off").string, "[task] kernel: powering off")
        XCTAssertEqual(TaskName("roottask").tag("roottask: done").string, "[roottask] roottask: done")
    }

    func testNamesThatCouldBreakTheTagAreRefused() {
        for bad in ["", "a]b", "[x", "two words", "tab\t", "line\n", "nul\u{0}", "caf\u{e9}", "seventeen-bytes-x"] {
            XCTAssertNil(name(bad), "accepted \(bad.debugDescription)")
        }
        // A length beyond what the two words hold, or one that wraps, is refused before any byte is read.
        XCTAssertNil(TaskName(length: 17, 0x6161_6161_6161_6161, 0x6161_6161_6161_6161))
        XCTAssertNil(TaskName(length: UInt64.max, 0, 0))
        // Bytes past the length do not count.
        XCTAssertEqual(TaskName(length: 2, 0x5D5D_6962, 0)?.tag("").string, "[bi] ")
    }

    func testTheKernelsOwnNamesAreCutAndCleaned() {
        XCTAssertEqual(TaskName("a name with spaces that is long").tag("").string, "[a?name?with?spac] ")
    }
}
