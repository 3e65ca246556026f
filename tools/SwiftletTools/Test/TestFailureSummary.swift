/// The failures of a `swift test` run, gathered from XCTest's output as it streams past, so the command
/// can repeat them after the suite's last line: a log shown by its tail (CI's) then says what failed and,
/// for a system test, how its last run ended and what its console printed last.
public struct TestFailureSummary: Sendable {
    /// One failing test.
    public struct Failure: Sendable, Equatable {
        public var test: String
        /// Its first `messagesKept` failure messages.
        public var messages: [String]
        public var count: Int
        /// The summary line of the test's last run (`--- swiftlet: ... after 45.1 s (bochs)`), if it booted one.
        public var run: String?
        /// The console's last lines before that summary.
        public var consoleTail: [String]
    }

    /// Failing tests in the order of their first failure.
    public private(set) var failures: [Failure] = []
    /// All failures counted, several per test among them.
    public private(set) var count = 0
    /// The bytes after the last newline: a chunk may end inside a line, or inside a character.
    private var pending: [UInt8] = []
    /// The test running now, from XCTest's `Test Case '...' started` line.
    private var current: String?
    /// The current test's last lines, and its last run with the lines before it.
    private var recent: [String] = []
    private var lastRun: (line: String, tail: [String])?

    public init() {}

    /// A message or line is cut to this many characters: the full text is in the log above.
    static let messageLimit = 240
    static let messagesKept = 4
    static let tailLines = 10
    /// Console tails are shown for this many failing tests: the summary must stay within a log's tail.
    static let testsWithTails = 3

    /// Takes the next bytes of the output.
    public mutating func consume(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                take(line: Substring(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
    }

    mutating func take(line: Substring) {
        if let name = line.firstMatch(of: /^Test Case '([^']+)' started/)?.1 {
            current = String(name)
            recent.removeAll()
            lastRun = nil
            return
        }
        if line.hasPrefix("--- swiftlet: ") {
            lastRun = (Self.cut(line.dropFirst(4)), recent)
            recent.removeAll()
            attachRun()
            return
        }
        if takeFailure(line) { return }
        recent.append(Self.cut(line))
        if recent.count > Self.tailLines { recent.removeFirst() }
    }

    /// XCTest on Linux: `/path/File.swift:24: error: Suite.testName : XCTAssertEqual failed: ...`.
    private mutating func takeFailure(_ line: Substring) -> Bool {
        guard let marker = line.range(of: ": error: ") else { return false }
        let rest = line[marker.upperBound...]
        guard let separator = rest.range(of: " : ") else { return false }
        let test = String(rest[..<separator.lowerBound])
        guard test.contains("."), !test.contains(" ") else { return false }
        count += 1
        let message = Self.cut(rest[separator.upperBound...])
        if let index = failures.firstIndex(where: { $0.test == test }) {
            failures[index].count += 1
            if failures[index].messages.count < Self.messagesKept { failures[index].messages.append(message) }
        } else {
            failures.append(Failure(test: test, messages: [message], count: 1, run: nil, consoleTail: []))
        }
        attachRun()
        return true
    }

    /// The current test's last run goes with its failures (a failure is reported after the run it judges).
    private mutating func attachRun() {
        guard let current, let lastRun, let index = failures.firstIndex(where: { $0.test == current }) else { return }
        failures[index].run = lastRun.line
        failures[index].consoleTail = lastRun.tail
    }

    /// A line as the summary shows it: control characters (a console's escapes, carriage returns) as `?`, cut.
    static func cut(_ line: Substring) -> String {
        var text = String(line.unicodeScalars.map { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F ? "?" : Character($0) })
        if text.count > messageLimit { text = String(text.prefix(messageLimit)) + "..." }
        return text
    }

    /// The lines printed after the run; empty when nothing failed.
    public var report: [String] {
        guard !failures.isEmpty else { return [] }
        let failed = count == 1 ? "1 failure" : "\(count) failures"
        let tests = failures.count == 1 ? "1 test" : "\(failures.count) tests"
        var lines = ["swiftlet: \(failed) in \(tests) (the full output is above):"]
        for (index, failure) in failures.enumerated() {
            let shown = failure.messages.count < failure.count ? " (the first \(failure.messages.count) of \(failure.count))" : ""
            lines.append("  \(failure.test)\(shown):")
            lines += failure.messages.map { "    \($0)" }
            guard let run = failure.run else { continue }
            lines.append("    its last run: \(run)")
            if index < Self.testsWithTails, !failure.consoleTail.isEmpty {
                lines.append("    the console's last lines:")
                lines += failure.consoleTail.map { "    | \($0)" }
            }
        }
        return lines
    }
}
