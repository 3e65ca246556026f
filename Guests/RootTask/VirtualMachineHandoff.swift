import SwiftletABI
import SwiftletUser

/// Hands a VMM task the VM its `vm@0` node describes, before the VMM starts (VirtualMachineDescription):
/// the kernel and initrd modules read-only, the guest RAM from the root task's pool, zeroed and mapped in
/// bulk (one `mapPages` of up to 4096 pages per run: 8 calls for 128 MiB, not 32768 page faults), and the
/// description page read-only. A VM the pool or the VMM's kernel memory cannot hold is refused naming its node.
enum VirtualMachineHandoff {
    /// The most pages one `mapPages` maps (the kernel's limit).
    static let pagesPerCall: UInt64 = 4096

    /// Pool pages the VM takes: its RAM and the description page.
    static func poolPages(_ vm: SystemConfiguration.VirtualMachine) -> UInt64 { vm.ramPages + 1 }

    /// Pages the modules take in the VMM's module window.
    static func modulePages(_ vm: SystemConfiguration.VirtualMachine, _ info: BootInformation) -> UInt64 {
        var pages: UInt64 = 0
        if let kernel = module(vm.kernel, info) { pages += span(kernel.bytes).pages }
        if vm.initrd.bytes.count > 0, let initrd = module(vm.initrd, info) { pages += span(initrd.bytes).pages }
        for index in 0..<vm.moduleCount {
            if let extra = module(vm.modules[index], info) { pages += span(extra.bytes).pages }
        }
        return pages
    }

    /// Kernel memory (factory frames) a mapping of `pages` pages into one address space costs: a mapping
    /// node per page (80 bytes, 51 to a frame), a page table per 512 pages, and the upper table levels
    /// (a directory per GiB, a PDPT and a PML4 entry's worth for each 512 GiB, and one more of each for a
    /// run that straddles a boundary). A mapping is charged to the factory the receiving task was created
    /// from: the root task's for what it maps into the VMM here, the VMM's own for the VMM's mapping of
    /// the RAM into its VM (EPT/NPT tables and nodes alike).
    static func mappingFrames(_ pages: UInt64) -> UInt64 {
        (pages + 50) / 51 + (pages + 511) / 512 + 2 * ((pages >> 18) + 2) + 2
    }

    /// Kernel memory the VMM needs for this VM on top of its node's `kernel-memory`: its mapping of the
    /// RAM into the VM (mappingFrames of the RAM's pages), and 16 frames for the VM's own objects (the
    /// VM task, its vCPU's state and exit endpoint). For 128 MiB: 643 + 64 + 6 + 16 = 729 frames.
    /// Measured with `identify` on the VMM's factory (a one-off run that created a VM from it and mapped
    /// the 32768 pages at guest-physical 0, as the VMM will): the VM took 3 frames, the mapping 709
    /// (mappingFrames: 713); the mapping into the VMM, logged on every handoff, 794 for 36486 pages (800).
    static func kernelFrames(ramPages: UInt64) -> UInt64 {
        mappingFrames(ramPages) + 16
    }

    static func module(_ name: ByteString, _ info: BootInformation) -> BootInformation.Module? {
        for index in 0..<info.moduleCount where info.module(index).name.equals(name) { return info.module(index) }
        return nil
    }

    /// The pages a module's bytes cover in the root task's space (modules start on a page, but the
    /// address word says exactly where).
    static func span(_ bytes: UnsafeRawBufferPointer) -> (first: UInt64, pages: UInt64, offset: UInt64) {
        let address = UInt64(UInt(bitPattern: bytes.baseAddress))
        let first = address & ~0xFFF
        let end = (address + UInt64(bytes.count) + 0xFFF) & ~0xFFF
        return (first, (end - first) / 4096, address - first)
    }

    enum Failure {
        case missingModule, poolTooSmall(UInt64), mapping(SyscallError)
    }

    /// Maps `pages` pages from `source` (the root task's) to `destination` in `task`, 4096 at a time.
    static func map(_ task: UInt64, from source: UInt64, to destination: UInt64, pages: UInt64, rights: UInt64,
                    calls: inout UInt64) -> SyscallError {
        var done: UInt64 = 0
        while done < pages {
            let run = min(pages - done, pagesPerCall)
            let error = SystemCall.task(task, .mapPages, (source + done * 4096, destination + done * 4096, run, rights))
            guard error == .ok else { return error }
            calls += 1
            done += run
        }
        return .ok
    }

    /// Does the handoff into the launched (not yet started) VMM and logs what it handed over; false (after
    /// logging why, naming the node) if it could not.
    static func handOver(_ vm: SystemConfiguration.VirtualMachine, node: ByteString, to launched: TaskLauncher.Launched,
                         info: BootInformation, pool: inout PagePool) -> Bool {
        let path: LogLine = "/tasks/\(node)/vm@0"
        let start = timestamp()
        // What mapping into the VMM costs the root task's factory (the VMM's was created from it), to show
        // that mappingFrames, which sizes the VMM's own half, holds.
        let framesBefore = SystemCall.capability(RootTaskLayout.factorySlot, .identify).words.3
        let kernel = module(vm.kernel, info)
        let initrd = vm.initrd.bytes.count > 0 ? module(vm.initrd, info) : nil
        var modulesThere = true
        for index in 0..<vm.moduleCount where module(vm.modules[index], info) == nil { modulesThere = false }
        guard let kernel, vm.initrd.bytes.count == 0 || initrd != nil, modulesThere else {
            log("roottask: \(node) not started: VM \(path): a module it names is gone")
            return false
        }
        let left = pool.pagesLeft
        guard let ram = pool.allocate(pages: vm.ramPages), let page = pool.allocate(pages: 1) else {
            log("roottask: \(node) not started: VM \(path): \(vm.memoryMiB) MiB of guest RAM is more than the memory pool has left (\(left >> 8) MiB)")
            return false
        }
        let zeroed = timestamp()
        var calls: UInt64 = 0
        var error = map(launched.task, from: ram, to: VirtualMachineDescription.guestRAM, pages: vm.ramPages, rights: 3, calls: &calls)
        let ramCalls = calls
        let description = UnsafeMutablePointer<UInt64>(bitPattern: UInt(page))!
        description[VirtualMachineDescription.Word.magic] = VirtualMachineDescription.magic
        description[VirtualMachineDescription.Word.ramAddress] = VirtualMachineDescription.guestRAM
        description[VirtualMachineDescription.Word.ramBytes] = vm.ramPages * 4096
        var cursor = VirtualMachineDescription.modules
        func mapModule(_ bytes: UnsafeRawBufferPointer, _ addressWord: Int, _ sizeWord: Int) {
            guard error == .ok else { return }
            let (first, pages, offset) = span(bytes)
            description[addressWord] = cursor + offset
            description[sizeWord] = UInt64(bytes.count)
            error = map(launched.task, from: first, to: cursor, pages: pages, rights: 0, calls: &calls)
            cursor += pages * 4096
        }
        mapModule(kernel.bytes, VirtualMachineDescription.Word.kernelAddress, VirtualMachineDescription.Word.kernelBytes)
        if let initrd { mapModule(initrd.bytes, VirtualMachineDescription.Word.initrdAddress, VirtualMachineDescription.Word.initrdBytes) }
        let text = UnsafeMutableRawPointer(bitPattern: UInt(page))!
        description[VirtualMachineDescription.Word.moduleCount] = UInt64(vm.moduleCount)
        description[VirtualMachineDescription.Word.wallClock] = info.wallClock
        for index in 0..<vm.moduleCount {
            guard let extra = module(vm.modules[index], info) else { continue }
            mapModule(extra.bytes, VirtualMachineDescription.Word.modules + 2 * index, VirtualMachineDescription.Word.modules + 2 * index + 1)
            let name = vm.modules[index].bytes
            for byte in 0..<min(name.count, VirtualMachineDescription.moduleNameBytes - 1) {
                text.storeBytes(of: name[byte], toByteOffset: VirtualMachineDescription.moduleNamesOffset
                                + index * VirtualMachineDescription.moduleNameBytes + byte, as: UInt8.self)
            }
        }
        description[VirtualMachineDescription.Word.bootargsBytes] = UInt64(vm.bootargs.bytes.count)
        for index in 0..<vm.bootargs.bytes.count {
            text.storeBytes(of: vm.bootargs.bytes[index], toByteOffset: VirtualMachineDescription.bootargsOffset + index, as: UInt8.self)
        }
        var index = 0
        path.forEachByte { byte in
            if index < VirtualMachineDescription.nameBytes - 1 {
                text.storeBytes(of: byte, toByteOffset: VirtualMachineDescription.Word.name * 8 + index, as: UInt8.self)
            }
            index += 1
        }
        if error == .ok { error = map(launched.task, from: page, to: VirtualMachineDescription.page, pages: 1, rights: 0, calls: &calls) }
        let end = timestamp()
        guard error == .ok else {
            log("roottask: \(node) not started: VM \(path): mapping its memory failed: \(error.name)")
            return false
        }
        // What the VMM got, read back from the kernel: RAM read-write-execute to its last page, the rest read-only.
        let lastRAM = SystemCall.readMapping(launched.task, at: VirtualMachineDescription.guestRAM + (vm.ramPages - 1) * 4096).rights
        let firstRAM = SystemCall.readMapping(launched.task, at: VirtualMachineDescription.guestRAM).rights
        let kernelRights = SystemCall.readMapping(launched.task, at: VirtualMachineDescription.modules).rights
        let pageRights = SystemCall.readMapping(launched.task, at: VirtualMachineDescription.page).rights
        let framesAfter = SystemCall.capability(RootTaskLayout.factorySlot, .identify).words.3
        let vmmFrames = SystemCall.capability(launched.factory, .identify).words.3
        let mappedPages = vm.ramPages + modulePages(vm, info) + 1
        guard firstRAM == .all, lastRAM == .all, kernelRights == .read, pageRights == .read else {
            log("roottask: \(node) not started: VM \(path): the VMM holds other rights than handed over (RAM \(firstRAM.rawValue)/\(lastRAM.rawValue), kernel \(kernelRights.rawValue), description \(pageRights.rawValue))")
            return false
        }
        log("roottask: \(node): VM \(path): \(vm.memoryMiB) MiB of guest RAM in \(ramCalls) mapPages calls, kernel \(kernel.bytes.count) bytes, initrd \(initrd?.bytes.count ?? 0) bytes, \(vm.moduleCount) modules, \(vm.bootargs.bytes.count) bytes of bootargs; RAM rwx, modules and description read-only")
        log("roottask: \(node): VM handoff took \(end &- start) TSC ticks (\(zeroed &- start) zeroing the RAM, \(end &- zeroed) mapping \(mappedPages) pages in \(calls) mapPages calls)")
        log("roottask: \(node): mapping them cost the root task's factory \(framesBefore &- framesAfter) frames (\(mappingFrames(vm.ramPages) + mappingFrames(mappedPages - vm.ramPages)) by mappingFrames); the VMM's factory holds \(vmmFrames) frames for its mapping into the VM")
        return true
    }
}
