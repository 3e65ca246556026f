import Foundation

/// A pseudo-terminal pair on the host that carries an emulator's serial port both ways: the emulator
/// opens the slave by its path (Bochs `com1: mode=term, dev=/dev/pts/N`), we read and write the master.
///
/// The line is raw: no echo, no line editing, no signals, no CR/LF translation in either direction, so
/// what we read is exactly what the guest sent and what we write arrives unchanged (a CR stays a CR, a
/// 0x03 stays a byte instead of becoming SIGINT).
final class PseudoTerminal {
    /// Our end, non-blocking: reads return what the guest sent, writes go to the guest's receiver.
    let master: Int32
    /// The slave's path, for the emulator to open.
    let slavePath: String
    /// Our own descriptor of the slave, held for the whole run: while nobody holds the slave, reading the
    /// master fails with EIO (before the emulator opens it and after it exits), and the raw settings
    /// below must already be in place when the first byte is written, before the emulator opens it.
    private let slave: Int32

    init() throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        // openpty rather than posix_openpt/grantpt/unlockpt, which Swift's Glibc module does not export.
        guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw Self.failure("openpty") }
        do {
            // Neither end may leak into other children (openpty cannot set close-on-exec itself).
            for descriptor in [master, slave] where fcntl(descriptor, F_SETFD, FD_CLOEXEC) != 0 {
                throw Self.failure("fcntl FD_CLOEXEC")
            }
            var name = [CChar](repeating: 0, count: 128)
            guard ttyname_r(slave, &name, name.count) == 0 else { throw Self.failure("ttyname_r") }
            slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // On Linux the settings of a pair are the slave's, whichever end sets them.
            var settings = termios()
            guard tcgetattr(slave, &settings) == 0 else { throw Self.failure("tcgetattr") }
            cfmakeraw(&settings)
            guard tcsetattr(slave, TCSANOW, &settings) == 0 else { throw Self.failure("tcsetattr") }
            guard fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) == 0 else {
                throw Self.failure("fcntl O_NONBLOCK")
            }
        } catch {
            Glibc.close(slave)
            Glibc.close(master)
            throw error
        }
        self.master = master
        self.slave = slave
    }

    deinit {
        Glibc.close(slave)
        Glibc.close(master)
    }

    private static func failure(_ call: String) -> SwiftletError {
        .hostFailure("cannot set up a pseudo-terminal for the serial port: \(call): \(String(cString: strerror(errno)))")
    }
}
