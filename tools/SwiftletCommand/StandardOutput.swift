import Foundation
import SwiftletTools

/// Where `swiftlet run` streams the guest's console.
enum StandardOutput {
    /// Writes console bytes to stdout as they come. If stdout is closed (the reader of a pipe went
    /// away), nobody is watching any more: the run is asked to stop.
    static func sink(stoppingOnClose request: StopRequest) -> @Sendable (Data) -> Void {
        { data in
            let complete = data.withUnsafeBytes { buffer -> Bool in
                var offset = 0
                while offset < buffer.count {
                    let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    offset += written
                }
                return true
            }
            if !complete { request.raise() }
        }
    }
}
