import Foundation

/// An advisory lock on a file, held across processes.
///
/// Two swiftlet processes (say, a test run and an interactive `swiftlet run`) may build the same image
/// at the same time; the lock makes them take turns on the shared ISO tree instead of interleaving.
struct FileLock {
    let url: URL

    func withLock<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        let descriptor = open(url.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SwiftletError.hostFailure("cannot open lock file \(url.path): errno \(errno)")
        }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw SwiftletError.hostFailure("cannot lock \(url.path): errno \(errno)")
            }
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}
