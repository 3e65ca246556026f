import SwiftletABI
import SwiftletUser
import VMMCore

extension GuestMemory {
    /// The test guests' RAM: faults the pages in (the root task pages this task's heap on demand), zeroes
    /// them, and maps them into `machine` readable, writable and executable.
    func give(to machine: UInt64) -> SyscallError {
        let pages = bytes / 4096
        for page in 0..<pages {
            UnsafeMutableRawPointer(bitPattern: UInt(base + page * 4096))!.initializeMemory(as: UInt64.self, repeating: 0, count: 512)
        }
        return SystemCall.task(machine, .mapPages, (base, 0, pages, 3))
    }
}
