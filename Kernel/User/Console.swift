import SwiftletABI
import UserPlatform

/// Prints a line on the kernel console (until the serial driver task exists), in 32-byte chunks.
public func log(_ line: LogLine) {
    var chunk: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var length = 0
    var sent = 0
    func flush(last: Bool) {
        let flags = last ? 0 : Syscall.debugWriteContinues
        _ = SystemCall.invoke(.debugWrite, 0, UInt64(length) | flags, chunk)
        chunk = (0, 0, 0, 0)
        length = 0
    }
    let total = line.count
    for index in 0..<total {
        let shifted = UInt64(line[index]) << (UInt64(length % 8) * 8)
        switch length / 8 {
        case 0: chunk.0 |= shifted
        case 1: chunk.1 |= shifted
        case 2: chunk.2 |= shifted
        default: chunk.3 |= shifted
        }
        length += 1
        sent += 1
        if length == Syscall.debugWriteChunk && sent < total { flush(last: false) }
    }
    flush(last: true)
}

/// The time-stamp counter: instructions under Bochs `sync=none` and QEMU `-icount`, cycles elsewhere.
public func timestamp() -> UInt64 {
    user_rdtsc()
}
