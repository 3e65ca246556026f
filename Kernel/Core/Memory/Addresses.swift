import SwiftletABI

/// Physical and virtual address arithmetic shared by the boot code, the frame allocator and the page
/// tables. Plain integers underneath; the names say which address space a value belongs to.

public typealias PhysicalAddress = UInt64
public typealias VirtualAddress = UInt64

public enum PageSize: UInt64 {
    case size4K = 0x1000
    case size2M = 0x20_0000
    case size1G = 0x4000_0000

    public var bytes: UInt64 { rawValue }
    /// Page-table level whose entry maps a page of this size (1 = PT, 2 = PD, 3 = PDPT).
    public var level: Int {
        switch self {
        case .size4K: return 1
        case .size2M: return 2
        case .size1G: return 3
        }
    }
}

@inline(__always) public func alignDown(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
    value & ~(alignment - 1)
}

/// Rounds up; saturates at the highest aligned value instead of wrapping past 2^64.
@inline(__always) public func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
    let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
    return overflow ? alignDown(UInt64.max, alignment) : alignDown(sum, alignment)
}

/// A half-open range of physical memory [start, end).
public struct PhysicalRange: Equatable, Sendable {
    public var start: PhysicalAddress
    public var end: PhysicalAddress

    public init(start: PhysicalAddress, end: PhysicalAddress) {
        self.start = start
        self.end = max(start, end)
    }

    public init(start: PhysicalAddress, size: UInt64) {
        self.init(start: start, end: start &+ size < start ? UInt64.max : start + size)
    }

    public var size: UInt64 { end - start }
    public var isEmpty: Bool { start >= end }

    public func overlaps(_ other: PhysicalRange) -> Bool {
        !isEmpty && !other.isEmpty && start < other.end && other.start < end
    }

    public func contains(_ address: PhysicalAddress) -> Bool {
        address >= start && address < end
    }
}

/// Virtual-address layout of the kernel (the higher half; user space owns the lower half).
public enum KernelAddressSpace {
    /// All physical memory, mapped read-write and never executable, at this offset.
    public static let directMapBase: VirtualAddress = 0xFFFF_8000_0000_0000
    /// Uncached device registers (local APIC, IOAPIC) are mapped page by page from here.
    public static let deviceWindowBase: VirtualAddress = 0xFFFF_FF00_0000_0000
    /// The kernel image: virtual = this + physical.
    public static let imageBase: VirtualAddress = 0xFFFF_FFFF_8000_0000
    /// The first address above user space.
    public static let userSpaceEnd: VirtualAddress = 0x0000_8000_0000_0000
    /// The first address user mappings may not reach: the top page of user space stays unmapped, so no
    /// SYSCALL can sit in its last bytes and leave a non-canonical return address for SYSRET (which
    /// would fault in ring 0 on Intel CPUs).
    public static let userMappableEnd: VirtualAddress = userSpaceEnd - 0x1000

    public static func isCanonical(_ address: VirtualAddress) -> Bool {
        address < userSpaceEnd || address >= 0xFFFF_8000_0000_0000
    }
}
