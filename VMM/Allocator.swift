import SwiftletABI

/// The VMM's heap: the boot-time builders in VMMCore (ACPI tables) use arrays, so this task,
/// unlike the others, has an allocator: a bump allocator over the heap the root task maps up front
/// (`TaskLayout.heap`, 1 MiB). Nothing on an exit's path allocates, so nothing is ever given back:
/// `free` keeps the memory, and a request past the heap fails (ENOMEM) instead of faulting.
enum Allocator {
    nonisolated(unsafe) static var next: UInt64 = TaskLayout.heap
    static let end: UInt64 = TaskLayout.heap + TaskLayout.heapPages * 4096
}

@_cdecl("posix_memalign")
func posixMemalign(_ pointer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int) -> Int32 {
    let align = UInt64(max(alignment, 16))
    guard align & (align - 1) == 0, align <= 4096, size >= 0, UInt64(size) <= Allocator.end - TaskLayout.heap else { return 12 }
    let start = (Allocator.next + align - 1) & ~(align - 1)
    guard start <= Allocator.end, UInt64(size) <= Allocator.end - start else { return 12 }
    Allocator.next = start + UInt64(size)
    pointer.pointee = UnsafeMutableRawPointer(bitPattern: UInt(start))
    return 0
}

@_cdecl("free")
func free(_ pointer: UnsafeMutableRawPointer?) {}

extension Allocator {
    /// `bytes` (a power of two, whole pages) of the heap aligned to their size, so they are one flexpage
    /// (a buffer mapped to another task); nil when the heap has no room.
    static func alignedPages(_ bytes: UInt64) -> UInt64? {
        guard bytes >= 4096, bytes & (bytes - 1) == 0 else { return nil }
        let start = (next + bytes - 1) & ~(bytes - 1)
        guard start <= end, bytes <= end - start else { return nil }
        next = start + bytes
        return start
    }
}
