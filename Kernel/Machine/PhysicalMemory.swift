import KernelPlatform
import SwiftletABI
import _Volatile

// The audited unsafe corner of the kernel: the only file that turns physical or device addresses into
// pointers. Everything goes through the direct map (KernelAddressSpace.directMapBase), which boot.S sets
// up for the first 4 GiB and the kernel page tables extend to all of RAM.

enum PhysicalMemory {
    static func pointer(_ address: PhysicalAddress) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(KernelAddressSpace.directMapBase + address))!
    }

    /// Read-only view of physical memory (boot information, modules).
    static func bytes(_ range: PhysicalRange) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer(range.start), count: Int(range.size))
    }

    static func words(_ range: PhysicalRange) -> UnsafeMutableBufferPointer<UInt64> {
        UnsafeMutableBufferPointer(start: pointer(range.start).assumingMemoryBound(to: UInt64.self), count: Int(range.size / 8))
    }

    /// A kernel object living at the start of the frame at `address`.
    static func object<T>(at address: PhysicalAddress, as type: T.Type) -> UnsafeMutablePointer<T> {
        pointer(address).assumingMemoryBound(to: type)
    }

    /// The frame a direct-mapped kernel pointer lies in.
    static func physicalAddress(of pointer: UnsafeRawPointer) -> PhysicalAddress {
        UInt64(UInt(bitPattern: pointer)) - KernelAddressSpace.directMapBase
    }

    /// A kernel object from the address a capability stores (its direct-map address).
    static func object<T>(fromCapabilityAddress address: UInt64, as type: T.Type) -> UnsafeMutablePointer<T> {
        UnsafeMutablePointer<T>(bitPattern: UInt(address))!
    }

    static func copy(from source: UnsafeRawBufferPointer, toFrame frame: PhysicalAddress, offset: Int) {
        precondition(offset >= 0 && offset + source.count <= Int(FrameAllocator.frameSize))
        guard let base = source.baseAddress, source.count > 0 else { return }
        (pointer(frame) + offset).copyMemory(from: base, byteCount: source.count)
    }

    static func zeroFrame(_ address: PhysicalAddress) {
        pointer(address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(FrameAllocator.frameSize))
    }
}

/// One page of kernel data structures addressed by 64-bit word (GDT, TSS, IDT).
struct KernelPage {
    let physical: PhysicalAddress

    var virtual: VirtualAddress { KernelAddressSpace.directMapBase + physical }

    func store(_ value: UInt64, atWord index: Int) {
        precondition(index >= 0 && index < 512)
        PhysicalMemory.pointer(physical).storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self)
    }

    func store(_ value: UInt32, atByte offset: Int) {
        precondition(offset >= 0 && offset + 4 <= 4096)
        PhysicalMemory.pointer(physical).storeBytes(of: value, toByteOffset: offset, as: UInt32.self)
    }

    func store(_ value: UInt16, atByte offset: Int) {
        precondition(offset >= 0 && offset + 2 <= 4096)
        PhysicalMemory.pointer(physical).storeBytes(of: value, toByteOffset: offset, as: UInt16.self)
    }
}

/// Page tables reached through the direct map, with new tables taken from the kernel's frames and, when
/// `factory` is set, charged to it one frame each.
struct DirectMappedPageTables: PageTableMemory {
    var factory: UnsafeMutablePointer<Factory>? = nil

    func entry(in table: PhysicalAddress, at index: Int) -> PageTableEntry {
        PageTableEntry(raw: PhysicalMemory.pointer(table).load(fromByteOffset: index * 8, as: UInt64.self))
    }

    func setEntry(in table: PhysicalAddress, at index: Int, to entry: PageTableEntry) {
        PhysicalMemory.pointer(table).storeBytes(of: entry.raw, toByteOffset: index * 8, as: UInt64.self)
    }

    mutating func allocateTable() -> PhysicalAddress? {
        if let factory, !factory.pointee.charge(1) { return nil }
        guard let frame = KernelMemory.allocateFrame() else {
            factory?.pointee.refund(1)
            return nil
        }
        PhysicalMemory.zeroFrame(frame.address)
        return frame.adopt()
    }
}

/// 32-bit memory-mapped device registers (local APIC, IOAPIC), mapped uncached in the device window.
struct DeviceRegisters {
    let base: VirtualAddress

    func read(_ offset: Int) -> UInt32 {
        VolatileMappedRegister<UInt32>(unsafeBitPattern: UInt(base) + UInt(offset)).load()
    }

    func write(_ offset: Int, _ value: UInt32) {
        VolatileMappedRegister<UInt32>(unsafeBitPattern: UInt(base) + UInt(offset)).store(value)
    }
}
