import KernelPlatform
import SwiftletABI

/// User address spaces: a PML4 per task whose upper half is the kernel's (shared, so entering the kernel
/// needs no CR3 switch) and whose lower half maps what the task was given.
enum AddressSpace {
    /// A new PML4 with the kernel half copied in. The kernel never adds PML4 entries after boot
    /// (`prepareKernelHalf`), so the copies stay complete.
    static func create() -> PhysicalAddress? {
        guard let frame = KernelMemory.allocateFrame() else { return nil }
        let root = frame.adopt()
        PhysicalMemory.zeroFrame(root)
        let tables = DirectMappedPageTables()
        for index in 256..<512 {
            tables.setEntry(in: root, at: index, to: tables.entry(in: KernelMemory.kernelRoot, at: index))
        }
        return root
    }

    /// An empty root: a VM's guest-physical space (the kernel half would give a guest the kernel's memory).
    static func createEmpty() -> PhysicalAddress? {
        guard let frame = KernelMemory.allocateFrame() else { return nil }
        let root = frame.adopt()
        PhysicalMemory.zeroFrame(root)
        return root
    }

    /// Maps one user page; new page tables are charged to `factory` if one is given.
    static func map(in root: PhysicalAddress, _ virtual: VirtualAddress, to physical: PhysicalAddress,
                    access: MemoryAccess, uncached: Bool = false,
                    chargingTo factory: UnsafeMutablePointer<Factory>? = nil) -> MappingError? {
        guard virtual < KernelAddressSpace.userMappableEnd else { return .nonCanonical }
        var tables = PageTableBuilder(root: root, memory: DirectMappedPageTables(factory: factory))
        do throws(MappingError) {
            try tables.map(virtual, to: physical, size: .size4K,
                           attributes: MappingAttributes(access: access, user: true, cache: uncached ? .uncached : .writeBack))
        } catch {
            return error
        }
        return nil
    }

    static func translate(in root: PhysicalAddress, _ virtual: VirtualAddress) -> (physical: PhysicalAddress, attributes: MappingAttributes)? {
        guard virtual < KernelAddressSpace.userSpaceEnd else { return nil }
        guard let found = PageTableBuilder(root: root, memory: DirectMappedPageTables()).translate(virtual),
              found.attributes.user else { return nil }
        return (found.physical, found.attributes)
    }

    static func activate(_ root: PhysicalAddress) {
        if x86_read_cr3() != root { x86_write_cr3(root) }
    }
}
