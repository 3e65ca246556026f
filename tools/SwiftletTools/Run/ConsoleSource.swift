import Foundation

/// Where a running emulator's serial console can be read from without blocking.
protocol ConsoleSource {
    /// Whatever arrived since the last call; empty if nothing did.
    mutating func read() -> Data
}

/// Reads the bytes a file gains while another process appends to it (Bochs writes COM1 to a file).
struct GrowingFile: ConsoleSource {
    let url: URL
    private var descriptor: Int32 = -1

    init(url: URL) {
        self.url = url
    }

    mutating func read() -> Data {
        if descriptor < 0 {
            // The emulator creates the file when it starts; until then there is nothing to read.
            descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
            if descriptor < 0 { return Data() }
        }
        return FileDescriptorReading.readAvailable(descriptor)
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
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
    /// Reads until the descriptor has nothing more right now (end of file, or EAGAIN on a pipe).
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
