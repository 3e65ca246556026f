import KernelPlatform
import SwiftletABI

/// Physical memory and the kernel's own address space: the frame allocator built from the boot memory
/// map, and page tables with W^X that replace the boot tables.
enum KernelMemory {
    /// The boot-time singleton allocator (set once by `initialize`, used only with interrupts off for now).
    nonisolated(unsafe) private static var frames = FrameAllocator()
    /// PML4 of the kernel address space; every address space shares its upper half.
    nonisolated(unsafe) private(set) static var kernelRoot: PhysicalAddress = 0
    nonisolated(unsafe) private static var nextDeviceAddress: VirtualAddress = KernelAddressSpace.deviceWindowBase
    /// Highest RAM address + 1 (what the direct map covers).
    nonisolated(unsafe) private(set) static var physicalLimit: PhysicalAddress = 0

    static func allocateFrame() -> Frame? {
        frames.allocate()
    }

    /// Gives back a frame taken with `allocateFrame` and adopted (a create that failed halfway).
    static func releaseFrame(_ address: PhysicalAddress) {
        frames.release(address)
    }

    static var freeFrames: UInt64 { frames.freeFrames }

    /// Two physically adjacent frames (a capability space), adopted, or nil.
    static func allocatePair() -> PhysicalAddress? {
        frames.allocatePair()
    }

    /// `count` physically contiguous frames (boot time: the SVM permission maps), or nil.
    static func allocateContiguous(_ count: UInt64) -> PhysicalAddress? {
        var start: PhysicalAddress = 0, run: UInt64 = 0
        for _ in 0..<64 {
            guard let frame = frames.allocate() else { return nil }
            let address = frame.adopt()
            if run > 0 && address == start + run * 4096 {
                run += 1
            } else {
                // Not adjacent: give back the run so far and start again here.
                for index in 0..<run { frames.release(start + index * 4096) }
                start = address
                run = 1
            }
            if run == count { return start }
        }
        for index in 0..<run { frames.release(start + index * 4096) }
        return nil
    }

    /// The address above the lowest `count` free frames (where the kernel's share of RAM ends).
    static func addressAfterFreeFrames(_ count: UInt64) -> PhysicalAddress? {
        var seen: UInt64 = 0
        var frame: PhysicalAddress = 0
        while frame < physicalLimit {
            if frames.isFree(address: frame) {
                seen += 1
                if seen == count { return frame + 4096 }
            }
            frame += 4096
        }
        return nil
    }

    /// Takes every free frame in [start, end) out of the allocator for good, calling `body` with each.
    static func takeFreeFrames(from start: PhysicalAddress, to end: PhysicalAddress, _ body: (PhysicalAddress) -> Void) -> UInt64 {
        var taken: UInt64 = 0
        var frame = start
        while frame < end {
            if frames.isFree(address: frame) {
                frames.reserve(PhysicalRange(start: frame, size: 4096))
                body(frame)
                taken += 1
            }
            frame += 4096
        }
        return taken
    }

    enum InitializationError {
        case noUsableMemory, tooManyReservedRanges, noRoomForBitmap

        var description: StaticString {
            switch self {
            case .noUsableMemory: return "the memory map lists no usable RAM"
            case .tooManyReservedRanges: return "too many boot modules (at most 60)"
            case .noRoomForBitmap: return "no free memory below 4 GiB for the frame bitmap"
            }
        }
    }

    /// Builds the frame allocator: usable RAM from the memory map, minus the low 1 MiB (firmware), the
    /// kernel image, the boot information and every module.
    static func initialize(bootInfo: Multiboot2Info, bootInfoAddress: PhysicalAddress) -> InitializationError? {
        let image = kernel_image_layout()
        var reserved = ReservedRanges()
        reserved.add(PhysicalRange(start: 0, end: 0x10_0000))
        reserved.add(PhysicalRange(start: image.physicalStart, end: image.physicalEnd))
        reserved.add(PhysicalRange(start: bootInfoAddress, size: UInt64(bootInfo.totalSize)))
        for module in bootInfo.modules {
            guard reserved.add(PhysicalRange(start: alignDown(module.range.start, 4096), end: module.range.end)) else {
                return .tooManyReservedRanges
            }
        }

        var limit: PhysicalAddress = 0
        for region in bootInfo.memoryMap where region.kind == .usable { limit = max(limit, region.range.end) }
        guard limit > 0 else { return .noUsableMemory }
        physicalLimit = alignUp(limit, PageSize.size2M.bytes)

        let frameLimit = alignDown(limit, FrameAllocator.frameSize) / FrameAllocator.frameSize
        let bitmapBytes = alignUp(UInt64(FrameAllocator.bitmapWords(forFrames: frameLimit)) * 8, FrameAllocator.frameSize)
        // Below 4 GiB: the boot page tables map only that much of the direct map.
        guard let bitmapStart = reserved.findFree(size: bitmapBytes, alignment: FrameAllocator.frameSize, floor: 0x10_0000,
                                                  ceiling: 0x1_0000_0000, in: bootInfo.memoryMap) else {
            return .noRoomForBitmap
        }
        let bitmapRange = PhysicalRange(start: bitmapStart, size: bitmapBytes)
        var allocator = FrameAllocator(bitmap: PhysicalMemory.words(bitmapRange), frameLimit: frameLimit)
        for region in bootInfo.memoryMap where region.kind == .usable { allocator.addFree(region.range) }
        for index in 0..<reserved.count { allocator.reserve(reserved[index]) }
        allocator.reserve(bitmapRange)
        frames = consume allocator
        return nil
    }

    /// Replaces the boot page tables: kernel text r-x, read-only data r--, data and stacks rw- (NX), a guard
    /// page under the kernel stack, all RAM in the direct map rw- (NX), and nothing in the lower half.
    static func activateKernelPageTables() -> MappingError? {
        guard let rootFrame = allocateFrame() else { return .outOfMemory }
        PhysicalMemory.zeroFrame(rootFrame.address)
        let root = rootFrame.adopt()
        var tables = PageTableBuilder(root: root, memory: DirectMappedPageTables())
        let image = kernel_image_layout()
        func physical(_ virtual: UInt64) -> PhysicalAddress { virtual - KernelAddressSpace.imageBase }
        func mapImage(_ start: UInt64, _ end: UInt64, _ attributes: MappingAttributes) throws(MappingError) {
            try tables.mapRange(start, to: physical(start), length: end - start, attributes: attributes, largestPage: .size4K)
        }
        do throws(MappingError) {
            try mapImage(image.textStart, image.textEnd, .kernelText)
            try mapImage(image.rodataStart, image.rodataEnd, .kernelReadOnly)
            try mapImage(image.dataStart, image.dataEnd, .kernelData)
            try mapImage(image.stackBottom, image.interruptStackTop, .kernelData)
            try tables.mapRange(KernelAddressSpace.directMapBase, to: 0, length: physicalLimit,
                                attributes: .kernelData, largestPage: .size2M)
        } catch {
            return error
        }
        kernelRoot = root
        x86_write_cr4(x86_read_cr4() | (1 << 7))   // PGE: kernel mappings are global
        x86_write_cr3(root)
        return nil
    }

    /// `pages` fresh, zeroed frames mapped read-write (NX) one after another in the kernel's window.
    static func mapFreshKernelPages(_ pages: UInt64) -> UnsafeMutableRawPointer? {
        var tables = PageTableBuilder(root: kernelRoot, memory: DirectMappedPageTables())
        let virtual = nextDeviceAddress
        for page in 0..<pages {
            guard let frame = allocateFrame() else { return nil }
            let physical = frame.adopt()
            PhysicalMemory.zeroFrame(physical)
            do throws(MappingError) {
                try tables.map(virtual + page * 4096, to: physical, size: .size4K, attributes: .kernelData)
            } catch {
                return nil
            }
        }
        nextDeviceAddress += pages * 4096
        return UnsafeMutableRawPointer(bitPattern: UInt(virtual))
    }

    /// Maps `size` bytes of device registers at `physical` uncached and returns their virtual address.
    static func mapDevice(_ physical: PhysicalAddress, size: UInt64) -> VirtualAddress? {
        let start = alignDown(physical, 4096)
        let length = alignUp(physical + size, 4096) - start
        var tables = PageTableBuilder(root: kernelRoot, memory: DirectMappedPageTables())
        let virtual = nextDeviceAddress
        do throws(MappingError) {
            try tables.mapRange(virtual, to: start, length: length, attributes: .kernelDevice, largestPage: .size4K)
        } catch {
            return nil
        }
        nextDeviceAddress += length
        return virtual + (physical - start)
    }
}
