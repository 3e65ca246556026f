import SwiftletABI
import SwiftletUser
import VMMCore

/// A VM's RAM: pages of this task (at `base`) mapped into the VM at guest-physical 0. The VMM reads and
/// writes guest memory through its own mapping and never learns a host-physical address.
struct GuestMemory {
    let base: UInt64
    let bytes: UInt64

    /// Faults the pages in (the root task pages this task's heap on demand), zeroes them, and maps them
    /// into `machine` readable, writable and executable.
    func give(to machine: UInt64) -> SyscallError {
        let pages = bytes / 4096
        for page in 0..<pages {
            UnsafeMutableRawPointer(bitPattern: UInt(base + page * 4096))!.initializeMemory(as: UInt64.self, repeating: 0, count: 512)
        }
        return SystemCall.task(machine, .mapPages, (base, 0, pages, 3))
    }

    func contains(_ physical: UInt64, _ length: UInt64) -> Bool {
        physical < bytes && length <= bytes - physical
    }

    func pointer(_ physical: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(base + physical))!
    }

    func load64(_ physical: UInt64) -> UInt64? {
        guard contains(physical, 8) else { return nil }
        return pointer(physical).loadUnaligned(as: UInt64.self)
    }

    func store64(_ physical: UInt64, _ value: UInt64) {
        pointer(physical).storeBytes(of: value, as: UInt64.self)
    }

    func copy(_ image: UnsafePointer<UInt8>, size: UInt64, to physical: UInt64) -> Bool {
        guard contains(physical, size) else { return false }
        pointer(physical).copyMemory(from: image, byteCount: Int(size))
        return true
    }

    func load8(_ physical: UInt64) -> UInt8? {
        guard contains(physical, 1) else { return nil }
        return pointer(physical).load(as: UInt8.self)
    }

    /// The `count` bytes of the guest's instruction at `rip`, fetched through its page tables.
    func fetchInstruction(_ count: Int, at rip: UInt64, cr3: UInt64, into buffer: UnsafeMutablePointer<UInt8>) -> Bool {
        GuestPageWalk.fetch(count, at: rip, cr3: cr3, into: buffer, load: { load64($0) }, loadByte: { load8($0) })
    }
}
