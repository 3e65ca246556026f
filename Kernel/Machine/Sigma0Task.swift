import KernelPlatform
import SwiftletABI

/// sigma0, the root pager, and the physical memory it owns. At boot the kernel keeps the memory it needs
/// for kernel objects and hands the rest of RAM over; sigma0 takes frames (and device memory) with
/// `memoryControl`, each at most once ever — the mapping database's roots are the record — and maps them
/// on to the root task, whose page faults it also answers.
enum Sigma0Task {
    static let moduleName: StaticString = "sigma0"

    /// Kernel memory kept back for objects and page tables: a quarter of what is free, at least 16 MiB.
    static func kernelShare(of free: UInt64) -> UInt64 { max(free / 4, 4096) }

    nonisolated(unsafe) private(set) static var ramStart: PhysicalAddress = 0
    nonisolated(unsafe) private(set) static var ramEnd: PhysicalAddress = 0
    /// One bit per frame of [ramStart, ramEnd): set if the frame was handed over.
    nonisolated(unsafe) private static var handedOver = UnsafeMutablePointer<UInt64>(bitPattern: 8)!
    nonisolated(unsafe) private static var memoryMap: MemoryMap?

    /// Loads sigma0, hands it the RAM the kernel does not keep, and returns the capability its clients
    /// (the root task) call it by; nil if there is no sigma0 module.
    static func load(_ bootInfo: Multiboot2Info) -> Capability? {
        let loaded: (task: TaskPointer, thread: ThreadPointer, size: UInt64, entry: UInt64)
        switch RootTask.loadBootTask(bootInfo, named: moduleName, priority: Sigma0.priority) {
        case .success(let result): loaded = result
        case .failure(let error):
            if case .noModule = error { return nil }
            log("sigma0: not started: \(error.description)")
            return nil
        }
        memoryMap = bootInfo.memoryMap
        guard handOver(), case .success(let endpoint) = KernelObjects.newEndpoint(factory: nil),
              let page = KernelMemory.allocateFrame() else {
            log("sigma0: not started: out of memory")
            return nil
        }
        let info = page.adopt()
        PhysicalMemory.zeroFrame(info)
        let words = PhysicalMemory.words(PhysicalRange(start: info, size: 4096))
        words[0] = RootTaskLayout.magic
        words[Sigma0.Word.ramStart] = ramStart
        words[Sigma0.Word.ramEnd] = ramEnd
        words[Sigma0.Word.ramFrames] = handedOverFrames
        guard UserMemory.mapOwned(info, into: loaded.task, at: RootTaskLayout.bootInfo, rights: .read) else { return nil }
        let caps = loaded.task.pointee.capabilities
        _ = caps.insert(Capability(type: .physicalMemory, object: 1, rights: .control), at: Sigma0.physicalMemorySlot)
        _ = caps.insert(KernelObjects.capability(.endpoint, endpoint, rights: .receive), at: Sigma0.endpointSlot)
        log("sigma0: \(loaded.size) bytes, priority \(Sigma0.priority); owns \(handedOverFrames) frames (\((handedOverFrames * 4096) >> 20) MiB) of RAM at \(hex: ramStart)-\(hex: ramEnd) and the device memory")
        System.scheduler.start(loaded.thread)
        return KernelObjects.capability(.endpoint, endpoint, rights: .send)
    }

    nonisolated(unsafe) private(set) static var handedOverFrames: UInt64 = 0

    /// Every free frame above the kernel's share leaves the kernel's allocator for sigma0.
    private static func handOver() -> Bool {
        let keep = kernelShare(of: KernelMemory.freeFrames)
        guard let split = KernelMemory.addressAfterFreeFrames(keep) else { return false }
        ramStart = split
        ramEnd = KernelMemory.physicalLimit
        let frames = (ramEnd - ramStart) / 4096
        let pages = (frames / 8 + 4095) / 4096
        guard let bitmap = KernelMemory.mapFreshKernelPages(pages) else { return false }
        handedOver = bitmap.assumingMemoryBound(to: UInt64.self)
        handedOverFrames = KernelMemory.takeFreeFrames(from: ramStart, to: ramEnd) { frame in
            let index = (frame - ramStart) / 4096
            handedOver[Int(index / 64)] |= 1 << (index % 64)
        }
        return true
    }

    static func isHandedOverRAM(_ frame: PhysicalAddress) -> Bool {
        guard frame >= ramStart && frame < ramEnd else { return false }
        let index = (frame - ramStart) / 4096
        return handedOver[Int(index / 64)] & (1 << (index % 64)) != 0
    }

    /// Device memory: below 4 GiB, not RAM or ACPI tables in the memory map, not the kernel's APICs.
    static func isDevice(_ frame: PhysicalAddress) -> Bool {
        guard frame < 0x1_0000_0000, let memoryMap else { return false }
        if frame == 0xFEE0_0000 || frame == 0xFEC0_0000 { return false }
        for region in memoryMap where region.kind != .reserved && region.range.contains(frame) { return false }
        return frame >= 0xA_0000                            // not the BIOS data below 640 KiB
    }

    /// `memoryControl`: RDI physical-memory capability, RSI operation, MR0 address, MR1 pages, MR2 device.
    static func control(_ thread: ThreadPointer) -> SyscallError {
        let c = thread.pointee.context
        switch thread.pointee.task!.pointee.capabilities.lookup(c.rdi, type: .physicalMemory, rights: .control) {
        case .success: break
        case .failure(let error): return error
        }
        guard MemoryOperation(rawValue: c.rsi) == .take else { return .invalidArgument }
        guard c.r8 <= 1, c.r10 > 0, c.r10 <= 4096 else { return .invalidArgument }
        guard c.rdx & 0xFFF == 0 else { return .unalignedAddress }
        guard c.rdx < KernelAddressSpace.userMappableEnd, c.r10 * 4096 <= KernelAddressSpace.userMappableEnd - c.rdx else {
            return .invalidAddress
        }
        let device = c.r8 == 1
        for page in 0..<c.r10 {
            let frame = c.rdx + page * 4096
            guard device ? isDevice(frame) : isHandedOverRAM(frame) else { return .invalidAddress }
            if UserMemory.database.store.root(of: frame) != nil { return .slotOccupied }
        }
        let task = thread.pointee.task!
        for page in 0..<c.r10 {
            let frame = c.rdx + page * 4096
            if !device { PhysicalMemory.zeroFrame(frame) }
            guard UserMemory.mapOwned(frame, into: task, at: frame, rights: .all, uncached: device) else { return .quotaExceeded }
        }
        return .ok
    }
}
