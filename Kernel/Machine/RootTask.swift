import KernelPlatform
import SwiftletABI

/// Builds the first user task from the boot module named `roottask`: its ELF segments, stack, UTCB, the
/// boot-information page, the modules (read-only) and a memory pool, plus the initial capabilities
/// (RootTaskLayout). Every later task is created by user code from these.
enum RootTask {
    static let moduleName: StaticString = "roottask"
    static let priority: UInt8 = 200

    enum LoadError: Error {
        case noModule, badELF(ELFError), writableAndExecutable, segmentOutsideUserSpace, outOfMemory

        var description: StaticString {
            switch self {
            case .noModule: return "no boot module named 'roottask'"
            case .badELF(let error): return error.description
            case .writableAndExecutable: return "a segment is both writable and executable (W^X)"
            case .segmentOutsideUserSpace: return "a segment lies outside user space"
            case .outOfMemory: return "out of memory"
            }
        }
    }

    /// A task from the boot module `name`: its ELF segments, a stack and a UTCB (RootTaskLayout's places),
    /// and its thread, ready to start with RDI = the boot-information page and RSI = the UTCB.
    static func loadBootTask(_ bootInfo: Multiboot2Info, named name: StaticString, priority: UInt8)
        -> Result<(task: TaskPointer, thread: ThreadPointer, size: UInt64, entry: UInt64), LoadError> {
        var found: BootModule?
        for module in bootInfo.modules where module.name.equals(name) { found = module }
        guard let module = found else { return .failure(.noModule) }
        let image: ELF64Image
        do throws(ELFError) {
            image = try ELF64Image(validating: PhysicalMemory.bytes(module.range))
        } catch {
            return .failure(.badELF(error))
        }
        let task: TaskPointer
        switch KernelObjects.newTask(factory: nil) {
        case .success(let created): task = created
        case .failure: return .failure(.outOfMemory)
        }
        task.pointee.name = TaskName(name)
        if let error = loadSegments(image, from: module, into: task) { return .failure(error) }
        let stackBase = RootTaskLayout.stackTop - RootTaskLayout.stackPages * 4096
        guard mapFresh(into: task, stackBase, pages: RootTaskLayout.stackPages, rights: [.read, .write]),
              mapFresh(into: task, RootTaskLayout.utcb, pages: 1, rights: [.read, .write]) else { return .failure(.outOfMemory) }
        let thread: ThreadPointer
        switch KernelObjects.newThread(in: task, priority: priority, factory: nil) {
        case .success(let created): thread = created
        case .failure: return .failure(.outOfMemory)
        }
        guard UserMemory.pinUTCB(thread, in: task, at: RootTaskLayout.utcb) else { return .failure(.outOfMemory) }
        thread.pointee.context.rip = image.entry
        thread.pointee.context.rsp = RootTaskLayout.stackTop
        thread.pointee.context.rdi = RootTaskLayout.bootInfo
        thread.pointee.context.rsi = RootTaskLayout.utcb
        let caps = task.pointee.capabilities
        _ = caps.insert(KernelObjects.capability(.task, task, rights: .control), at: RootTaskLayout.taskSlot)
        _ = caps.insert(KernelObjects.capability(.thread, thread, rights: .control), at: RootTaskLayout.threadSlot)
        return .success((task, thread, module.range.size, image.entry))
    }

    /// The root task. With a sigma0 (`pager` set) its memory pool comes from sigma0 on request;
    /// without one the kernel maps the pool itself.
    static func load(_ bootInfo: Multiboot2Info, timerHz: UInt64, tscKHz: UInt64, wallClock: UInt64 = 0,
                     pager: Capability? = nil) -> LoadError? {
        let loaded: (task: TaskPointer, thread: ThreadPointer, size: UInt64, entry: UInt64)
        switch loadBootTask(bootInfo, named: moduleName, priority: priority) {
        case .success(let result): loaded = result
        case .failure(let error): return error
        }
        let (task, thread) = (loaded.task, loaded.thread)
        let poolPages = memoryPoolPages(sigma0: pager != nil)
        // The pool carries every right, so the root task can hand out code pages to the tasks it starts.
        let poolStart = x86_rdtsc()
        if pager == nil {
            guard mapPool(into: task, pages: poolPages) else { return .outOfMemory }
        }
        let poolTicks = x86_rdtsc() &- poolStart
        let frames = factoryQuota(keepingFor: pager != nil ? poolPages : 0)
        guard mapModules(bootInfo, into: task),
              let info = bootInformationPage(bootInfo, timerHz: timerHz, tscKHz: tscKHz, wallClock: wallClock,
                                                     poolPages: poolPages, factoryFrames: frames),
              UserMemory.mapOwned(info, into: task, at: RootTaskLayout.bootInfo, rights: .read) else { return .outOfMemory }
        if let pager {
            Thread.setPager(thread, pager)
            _ = task.pointee.capabilities.insert(pager, at: RootTaskLayout.sigma0Slot)
        }

        guard case .success(let factory) = KernelObjects.newFactory(frames: frames, from: nil) else { return .outOfMemory }
        let caps = task.pointee.capabilities
        _ = caps.insert(KernelObjects.capability(.factory, factory, rights: .control), at: RootTaskLayout.factorySlot)
        _ = caps.insert(Capability(type: .machine, object: 1, rights: .control), at: RootTaskLayout.machineSlot)
        _ = caps.insert(Capability(type: .interruptController, object: 1, rights: .control), at: RootTaskLayout.interruptControllerSlot)
        guard IOPorts.grantAll(to: task) else { return .outOfMemory }

        log("roottask: \(loaded.size) bytes, entry \(hex: loaded.entry), priority \(priority), \(frames) frames of kernel memory in its factory, a memory pool of up to \(poolPages) pages (\(poolPages >> 8) MiB; \(poolTicks) TSC ticks mapping it)")
        System.scheduler.start(thread)
        return nil
    }

    /// The root task's memory pool: all RAM the kernel does not keep for its objects (so a VM's guest RAM
    /// fits), at least RootTaskLayout.memoryPoolPages. With a sigma0 it is what sigma0 can give (less 2 MiB
    /// left for the root task's own page faults), and the root task takes only what its plan needs;
    /// without one the kernel maps it here, the same share sigma0 would get.
    private static func memoryPoolPages(sigma0: Bool) -> UInt64 {
        let run: UInt64 = 512
        let pages: UInt64
        if sigma0 {
            pages = Sigma0Task.handedOverFrames > run ? alignDown(Sigma0Task.handedOverFrames - run, run) : 0
        } else {
            let free = KernelMemory.freeFrames, keep = Sigma0Task.kernelShare(of: free)
            pages = free > keep ? alignDown(free - keep, run) : 0
        }
        return max(pages, RootTaskLayout.memoryPoolPages)
    }

    /// The pool without sigma0: fresh frames, not zeroed here — the root task zeroes every pool page before
    /// it hands it out (PagePool.allocate), so zeroing the whole pool at boot would only cost time.
    private static func mapPool(into task: TaskPointer, pages: UInt64) -> Bool {
        for page in 0..<pages {
            guard let frame = KernelMemory.allocateFrame() else { return false }
            if !UserMemory.mapOwned(frame.adopt(), into: task, at: RootTaskLayout.memoryPool + page * 4096, rights: .all) { return false }
        }
        return true
    }

    /// Kernel memory the root task may spend on objects: what is free, less a reserve for page tables, and
    /// less what mapping a pool of `poolPages` from sigma0 will take outside any quota later (a mapping node
    /// in sigma0's space and one in the root task's per page, 51 to a frame, and their page tables).
    private static func factoryQuota(keepingFor poolPages: UInt64) -> UInt64 {
        let reserve: UInt64 = 1024 + 2 * (poolPages / 51 + poolPages / 512 + 8)
        return KernelMemory.freeFrames > reserve ? KernelMemory.freeFrames - reserve : 0
    }

    private static func loadSegments(_ image: ELF64Image, from module: BootModule, into task: TaskPointer) -> LoadError? {
        let file = PhysicalMemory.bytes(module.range)
        for segment in image.segments where segment.type == ELF64Image.loadSegment && segment.memorySize > 0 {
            guard !(segment.isWritable && segment.isExecutable) else { return .writableAndExecutable }
            let start = alignDown(segment.virtualAddress, 4096)
            let end = alignUp(segment.virtualAddress + segment.memorySize, 4096)
            guard end <= KernelAddressSpace.userSpaceEnd, start >= 4096 else { return .segmentOutsideUserSpace }
            let rights: PageRights = segment.isWritable ? [.read, .write] : segment.isExecutable ? [.read, .execute] : .read
            var page = start
            while page < end {
                guard let frame = KernelMemory.allocateFrame() else { return .outOfMemory }
                let physical = frame.adopt()
                PhysicalMemory.zeroFrame(physical)
                // The part of the file image that falls in this page.
                let fileStart = max(page, segment.virtualAddress)
                let fileEnd = min(page + 4096, segment.virtualAddress + segment.fileSize)
                if fileEnd > fileStart {
                    let offset = Int(segment.fileOffset + (fileStart - segment.virtualAddress))
                    let bytes = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + Int(fileEnd - fileStart))])
                    PhysicalMemory.copy(from: bytes, toFrame: physical, offset: Int(fileStart - page))
                }
                if !UserMemory.mapOwned(physical, into: task, at: page, rights: rights) { return .segmentOutsideUserSpace }
                page += 4096
            }
        }
        return nil
    }

    /// Allocates, zeroes and gives the task `pages` fresh frames at `virtual`.
    static func mapFresh(into task: TaskPointer, _ virtual: VirtualAddress, pages: UInt64, rights: PageRights) -> Bool {
        for page in 0..<pages {
            guard let frame = KernelMemory.allocateFrame() else { return false }
            let physical = frame.adopt()
            PhysicalMemory.zeroFrame(physical)
            if !UserMemory.mapOwned(physical, into: task, at: virtual + page * 4096, rights: rights) { return false }
        }
        return true
    }

    /// Modules appear one after another at RootTaskLayout.modules, each starting on a page.
    private static func mapModules(_ bootInfo: Multiboot2Info, into task: TaskPointer) -> Bool {
        var virtual = RootTaskLayout.modules
        for module in bootInfo.modules {
            let first = alignDown(module.range.start, 4096)
            let end = alignUp(module.range.end, 4096)
            var physical = first
            while physical < end {
                if !UserMemory.mapOwned(physical, into: task, at: virtual, rights: .read) { return false }
                virtual += 4096
                physical += 4096
            }
        }
        return true
    }

    private static func bootInformationPage(_ bootInfo: Multiboot2Info, timerHz: UInt64, tscKHz: UInt64, wallClock: UInt64,
                                            poolPages: UInt64,
                                            factoryFrames: UInt64) -> PhysicalAddress? {
        guard let frame = KernelMemory.allocateFrame() else { return nil }
        let page = frame.adopt()
        PhysicalMemory.zeroFrame(page)
        let words = PhysicalMemory.words(PhysicalRange(start: page, size: 4096))
        words[RootTaskLayout.Word.magic] = RootTaskLayout.magic
        words[RootTaskLayout.Word.memoryPoolBase] = RootTaskLayout.memoryPool
        words[RootTaskLayout.Word.memoryPoolPages] = poolPages
        words[RootTaskLayout.Word.timerHz] = timerHz
        words[RootTaskLayout.Word.factoryFrames] = factoryFrames
        words[RootTaskLayout.Word.tscKHz] = tscKHz
        words[RootTaskLayout.Word.wallClock] = wallClock
        var count = 0
        var virtual = RootTaskLayout.modules
        for module in bootInfo.modules where count < RootTaskLayout.maximumModules {
            let record = RootTaskLayout.Word.modules + count * RootTaskLayout.moduleRecordWords
            words[record] = virtual + (module.range.start & 0xFFF)
            words[record + 1] = module.range.size
            let nameBytes = min(module.name.bytes.count, RootTaskLayout.moduleNameBytes - 1)
            for index in 0..<nameBytes {
                let word = record + 2 + index / 8
                words[word] |= UInt64(module.name.bytes[index]) << (UInt64(index % 8) * 8)
            }
            virtual += alignUp(module.range.end, 4096) - alignDown(module.range.start, 4096)
            count += 1
        }
        words[RootTaskLayout.Word.moduleCount] = UInt64(count)
        return page
    }
}
