import SwiftletABI

/// The serial driver's console service, from a client's side (slot 7 of every task the root task starts).
public enum ConsoleClient {
    /// Writes `line` and ends it: the driver prints it as one `[name] line`.
    public static func write(_ line: LogLine) -> SyscallError {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var count = 0
        func flush() -> SyscallError {
            let answer = SystemCall.call(ConsoleProtocol.clientSlot,
                                         MessageTag(label: ConsoleProtocol.label(ConsoleProtocol.write, count: count), words: 4), words)
            words = (0, 0, 0, 0)
            count = 0
            return answer.error
        }
        for index in 0..<(line.count + 1) {
            ConsoleProtocol.setByte(&words, count, index < line.count ? line[index] : UInt8(ascii: "\n"))
            count += 1
            if count == ConsoleProtocol.chunk || index == line.count {
                let error = flush()
                if error != .ok { return error }
            }
        }
        return .ok
    }

    /// Sends up to 32 bytes (`count`, in four message words) to the console unchanged: the raw stream
    /// (ConsoleProtocol.writeRaw), for a client the configuration allows; others get `.missingRight`.
    public static func writeRaw(_ words: (UInt64, UInt64, UInt64, UInt64), count: Int) -> SyscallError {
        let answer = SystemCall.call(ConsoleProtocol.clientSlot,
                                     MessageTag(label: ConsoleProtocol.label(ConsoleProtocol.writeRaw, count: min(max(count, 0), ConsoleProtocol.chunk)), words: 4), words)
        guard answer.error == .ok else { return answer.error }
        return answer.tag.label == 0 ? .ok : SyscallError(rawValue: answer.tag.label) ?? .invalidArgument
    }

    /// Waits for input typed on the console (while this client has focus) and returns up to 32 bytes.
    public static func read(timeout: Timeout = .infinite) -> (error: SyscallError, bytes: (UInt64, UInt64, UInt64, UInt64), count: Int) {
        let answer = SystemCall.call(ConsoleProtocol.clientSlot, MessageTag(label: ConsoleProtocol.read), timeout: timeout)
        return (answer.error, answer.words, ConsoleProtocol.count(answer.tag.label))
    }
}
