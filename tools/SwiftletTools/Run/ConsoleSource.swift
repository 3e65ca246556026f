import Foundation

/// Where a running emulator's serial console can be read from without blocking.
protocol ConsoleSource {
    /// Whatever arrived since the last call; empty if nothing did.
    mutating func read() -> Data
}

/// Reads what the emulator sends through a pseudo-terminal's master (Bochs's COM1 in `term` mode) and
/// keeps a copy in the run folder's `com1.out`: the serial port's own record, beside the transcript.
struct PseudoTerminalReader: ConsoleSource {
    let terminal: PseudoTerminal
    let copy: FileHandle

    mutating func read() -> Data {
        let data = FileDescriptorReading.readAvailable(terminal.master)
        if !data.isEmpty { copy.write(data) }
        return data
    }
}

/// Reads from the parent's end of a pipe the emulator writes into (QEMU's stdio serial port).
struct PipeReader: ConsoleSource {
    let descriptor: Int32

    /// Takes ownership of `descriptor` and makes it non-blocking.
    init(descriptor: Int32) {
        self.descriptor = descriptor
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    mutating func read() -> Data {
        FileDescriptorReading.readAvailable(descriptor)
    }

    func close() {
        Glibc.close(descriptor)
    }
}

enum FileDescriptorReading {
    /// Reads until the descriptor has nothing more right now (end of file, or EAGAIN on a non-blocking
    /// pipe or pseudo-terminal master; EIO on a master whose slave nobody holds).
    static func readAvailable(_ descriptor: Int32) -> Data {
        var collected = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                collected.append(contentsOf: buffer[0..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return collected
            }
        }
    }
}
