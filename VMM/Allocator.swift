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
