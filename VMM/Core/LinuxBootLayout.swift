import SwiftletABI

/// Where a Linux guest's boot pieces go in guest-physical memory, decided before anything is copied, so a
/// configuration the VMM cannot honour is refused with the reason and the VM never starts half-built.
///
/// The low megabyte follows what PC firmware leaves (and what Firecracker uses): the zero page
/// (`boot_params`) at 0x7000, the command line at 0x20000, the ACPI tables in the BIOS area at 0xE0000.
/// The kernel goes to its preferred address (16 MiB for Debian's), the initrd to the top of RAM below
/// the kernel's `initrd_addr_max`, page-aligned.
public struct LinuxBootLayout {
    public static let zeroPage: UInt64 = 0x7000
    public static let commandLine: UInt64 = 0x2_0000
    public static let commandLineSpace: UInt64 = 0x1_0000
    public static let acpiTables: UInt64 = 0xE_0000
    /// Conventional memory ends here; the EBDA, video memory and BIOS area above it are reserved.
    public static let lowMemoryEnd: UInt64 = 0x9_FC00
    public static let highMemoryStart: UInt64 = 0x10_0000

    public let memorySize: UInt64
    public let kernelAddress: UInt64
    /// The 64-bit entry point: the load address + 0x200 (boot protocol, "64-bit boot protocol").
    public var entry: UInt64 { kernelAddress &+ 0x200 }
    public let initrdAddress: UInt64
    public let initrdSize: UInt64
    public let commandLineLength: UInt64

    public enum Failure: Error, Equatable {
        /// The kernel's load address + init_size does not fit in RAM (or leaves no room for the initrd).
        case tooLittleMemory(neededMiB: UInt64)
        case commandLineTooLong(limit: UInt64)
        case kernelNotAtPreferredAddress
        case initrdTooLarge

        public var description: StaticString {
            switch self {
            case .tooLittleMemory: return "too little guest memory for the kernel's init_size and the initrd"
            case .commandLineTooLong: return "the command line is longer than the kernel's cmdline_size"
            case .kernelNotAtPreferredAddress: return "the kernel is not relocatable and its address is not in RAM"
            case .initrdTooLarge: return "the initrd does not fit below the kernel's initrd_addr_max"
            }
        }
    }

    /// Plans a guest of `memorySize` bytes of RAM starting at guest-physical 0.
    public init(memorySize: UInt64, kernel: LinuxKernelImage, initrdSize: UInt64, commandLineLength: UInt64) throws(Failure) {
        guard commandLineLength <= kernel.commandLineLimit, commandLineLength < Self.commandLineSpace else {
            throw .commandLineTooLong(limit: min(kernel.commandLineLimit, Self.commandLineSpace - 1))
        }
        // A relocatable kernel that asks for an address in the low megabyte (none does) goes to 16 MiB.
        var address = kernel.preferredAddress
        if address < Self.highMemoryStart {
            guard kernel.relocatable else { throw .kernelNotAtPreferredAddress }
            address = alignUp(0x100_0000, kernel.alignment)
        }
        // Every value below is bounded: addresses < 2^52 and sizes < 2^32, so none of the sums wraps.
        guard address < 1 << 52, initrdSize < 1 << 32 else { throw .tooLittleMemory(neededMiB: UInt64.max >> 20) }
        let kernelEnd = address + kernel.initSize
        let initrdSpace = alignUp(initrdSize, 4096)
        let needed = kernelEnd + initrdSpace
        guard memorySize >= needed else { throw .tooLittleMemory(neededMiB: (needed + 0xF_FFFF) >> 20) }

        // The initrd's last byte may be at initrd_addr_max at most.
        let ceiling = min(memorySize, kernel.initrdAbove4G ? memorySize : kernel.initrdAddressMax + 1)
        guard ceiling >= kernelEnd + initrdSpace else { throw .initrdTooLarge }
        self.memorySize = memorySize
        kernelAddress = address
        initrdAddress = initrdSize == 0 ? 0 : (ceiling - initrdSpace) & ~0xFFF
        self.initrdSize = initrdSize
        self.commandLineLength = commandLineLength
    }

    /// The guest's memory map (e820 type 1 RAM, 2 reserved), in address order: `memoryMapEntries` entries.
    /// One at a time, so building the zero page allocates nothing (it runs again at every guest reset).
    public static let memoryMapEntries = 3

    public func memoryMapEntry(_ index: Int) -> (address: UInt64, size: UInt64, type: UInt32) {
        switch index {
        case 0: return (0, Self.lowMemoryEnd, 1)
        case 1: return (Self.lowMemoryEnd, Self.highMemoryStart - Self.lowMemoryEnd, 2)
        default: return (Self.highMemoryStart, memorySize - Self.highMemoryStart, 1)
        }
    }
}

/// `value` rounded up to a multiple of `alignment` (a power of two); callers keep `value` far from 2^64.
@inline(__always)
func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
    (value &+ alignment &- 1) & ~(alignment &- 1)
}
