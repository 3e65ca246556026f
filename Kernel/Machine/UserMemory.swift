import KernelPlatform
import SwiftletABI

/// User memory: every page mapped into a task is recorded in the mapping database, so it can be revoked
/// recursively. Page-table entries and database nodes change together, here and only here.
enum UserMemory {
    nonisolated(unsafe) static var database = MappingDatabase(store: KernelMappingStore())

    static func space(_ task: TaskPointer) -> UInt64 { UInt64(UInt(bitPattern: task)) }
    static func task(_ space: UInt64) -> TaskPointer { TaskPointer(bitPattern: UInt(space))! }

    enum Failure {
        case notMapped, rightsExceeded, occupied, quotaExceeded
        var error: SyscallError {
            switch self {
            case .notMapped, .rightsExceeded: return .invalidAddress
            case .occupied: return .slotOccupied
            case .quotaExceeded: return .quotaExceeded
            }
        }
    }

    /// Gives `task` a page it is the first owner of (boot-time mappings: the root task's image, stack,
    /// pool; modules): a new tree in the database.
    static func mapOwned(_ frame: PhysicalAddress, into task: TaskPointer, at virtual: VirtualAddress, rights: PageRights,
                         uncached: Bool = false) -> Bool {
        guard case .success = database.insertRoot(frame: frame, space: space(task), virtual: virtual, rights: rights) else {
            return false
        }
        return AddressSpace.map(in: task.pointee.pageTableRoot, virtual, to: frame, access: access(rights), uncached: uncached) == nil
    }

    /// The database node behind `task`'s page at `virtual`.
    static func mapping(in task: TaskPointer, at virtual: VirtualAddress) -> MappingPointer? {
        guard let found = AddressSpace.translate(in: task.pointee.pageTableRoot, virtual) else { return nil }
        return database.find(frame: alignDown(found.physical, 4096), space: space(task), virtual: virtual)
    }

    /// Carries out a map or grant item of an IPC (installed as `IPC.transferMemory` at boot). Only the pages
    /// the sender has mapped are passed on, so the cost follows what is mapped, not the flexpage's size.
    static func transfer(kind: UInt64, placement: MemoryPlacement, rights: PageRights, sender: ThreadPointer,
                         receiver: ThreadPointer) -> Bool {
        let source = sender.pointee.task!, target = receiver.pointee.task!
        // MemoryPlacement keeps both ranges inside user space (below 2^47), so these cannot overflow; the
        // destination must also stay off the top page, which user mappings never reach.
        let end = placement.source + placement.pages * 4096
        guard placement.destination < KernelAddressSpace.userMappableEnd,
              placement.pages * 4096 <= KernelAddressSpace.userMappableEnd - placement.destination else { return false }
        var succeeded = true
        forEachMapping(in: source, from: placement.source, to: end) { node in
            let destination = placement.destination + (node.pointee.virtual - placement.source)
            let failure: Failure?
            if kind == TypedItem.grantKind {
                failure = grant(from: source, at: node.pointee.virtual, to: target, at: destination)
            } else {
                failure = map(from: source, at: node.pointee.virtual, to: target, at: destination,
                              rights: rights.intersection(node.pointee.rights), replace: true)
            }
            if failure != nil { succeeded = false }
        }
        return succeeded
    }

    /// Calls `body` with the database node of every page `task` has mapped in [start, end). Each entry is
    /// read just before its `body` runs; `body` may unmap (entries it cleared meanwhile are skipped).
    static func forEachMapping(in task: TaskPointer, from start: VirtualAddress, to end: VirtualAddress,
                               _ body: (MappingPointer) -> Void) {
        let tables = PageTableBuilder(root: task.pointee.pageTableRoot, memory: DirectMappedPageTables())
        tables.forEachPage(from: start, to: end) { virtual, entry in
            // Revoking only ever clears entries below this one in other spaces, or this one: safe to go on.
            if let node = database.find(frame: entry.address, space: space(task), virtual: virtual) { body(node) }
        }
    }

    /// Checks that `source`'s page at `from` may be passed on with `rights`.
    static func checkSource(_ source: TaskPointer, at from: VirtualAddress, rights: PageRights) -> Failure? {
        guard let node = mapping(in: source, at: from) else { return .notMapped }
        return node.pointee.rights.isSuperset(of: rights) ? nil : .rightsExceeded
    }

    /// Maps `source`'s page at `from` into `target` at `to` with `rights` (a subset of the source's), as a
    /// child of the source's mapping. An existing mapping at `to` is an error unless `replace`, in which
    /// case it is revoked first.
    static func map(from source: TaskPointer, at from: VirtualAddress, to target: TaskPointer, at to: VirtualAddress,
                    rights: PageRights, replace: Bool) -> Failure? {
        guard let parent = mapping(in: source, at: from) else { return .notMapped }
        // No rights is no mapping: a page table cannot say "present but unreadable", so it would be read.
        guard !rights.isEmpty, parent.pointee.rights.isSuperset(of: rights) else { return .rightsExceeded }
        if let existing = mapping(in: target, at: to) {
            guard replace, !existing.pointee.pinned else { return .occupied }
            if existing == parent { return nil }            // mapping a page onto itself changes nothing
            // A page onto one it was derived from: revoking that would take the source away midway.
            guard !database.isAncestor(existing, of: parent) else { return .occupied }
            revoke(existing, includingSelf: true)
        } else if AddressSpace.translate(in: target.pointee.pageTableRoot, to) != nil {
            return .occupied                                // a page the database does not know: leave it
        }
        // The node is charged to the receiver's factory and refunded to it when freed (also just below).
        guard case .success(let node) = database.map(parent, to: space(target), at: to, rights: rights,
                                                     payer: target.pointee.factory) else {
            return .quotaExceeded
        }
        if AddressSpace.map(in: target.pointee.pageTableRoot, to, to: parent.pointee.frame, access: access(rights),
                            chargingTo: target.pointee.factory) != nil {
            database.revoke(node, includingSelf: true) { _ in }
            return .quotaExceeded
        }
        return nil
    }

    /// Moves `source`'s page at `from` to `target` at `to` (the source loses it; what was derived from it stays).
    static func grant(from source: TaskPointer, at from: VirtualAddress, to target: TaskPointer, at to: VirtualAddress) -> Failure? {
        guard let node = mapping(in: source, at: from), !node.pointee.pinned else { return .notMapped }
        if let existing = mapping(in: target, at: to) {
            guard !existing.pointee.pinned else { return .occupied }
            if existing == node { return nil }
            guard !database.isAncestor(existing, of: node) else { return .occupied }
            revoke(existing, includingSelf: true)
        } else if AddressSpace.translate(in: target.pointee.pageTableRoot, to) != nil {
            return .occupied
        }
        if AddressSpace.map(in: target.pointee.pageTableRoot, to, to: node.pointee.frame, access: access(node.pointee.rights),
                            chargingTo: target.pointee.factory) != nil {
            return .quotaExceeded
        }
        clear(node.pointee)
        database.grant(node, to: space(target), at: to)
        return nil
    }

    /// Revokes what was derived from `node` (and `node` itself if `includingSelf`), clearing the entries.
    /// A UTCB among them is detached from its thread first (see `releasePin`).
    static func revoke(_ node: MappingPointer, includingSelf: Bool) {
        database.revoke(node, includingSelf: includingSelf) { mapping in
            releasePin(mapping.pinnedBy)
            clear(mapping)
        }
    }

    /// `task` is being destroyed: every page it holds is unmapped, and everything derived from its pages
    /// in other tasks too (the mapping database's subtrees); the nodes go back to their payers.
    static func revokeAll(in task: TaskPointer) {
        forEachMapping(in: task, from: 0, to: KernelAddressSpace.userSpaceEnd) { node in
            revoke(node, includingSelf: true)
        }
    }

    /// Takes `rights` from the mappings derived from `node`. A UTCB that loses write is detached.
    static func restrict(_ node: MappingPointer, removing rights: PageRights) {
        database.restrict(node, removing: rights) { mapping in
            if mapping.pinned && !mapping.rights.contains(.write) {
                releasePin(mapping.pinnedBy)
                mapping.pinnedBy = 0
            }
            let holder = task(mapping.space)
            if mapping.rights.isEmpty {
                clearEntry(holder, mapping.virtual)
            } else {
                var tables = PageTableBuilder(root: holder.pointee.pageTableRoot, memory: DirectMappedPageTables())
                _ = tables.protect(mapping.virtual, attributes: MappingAttributes(access: access(mapping.rights), user: true))
                flush(holder, mapping.virtual)
            }
        }
    }

    /// Makes `thread`'s UTCB the page its task has at `address`, pinned for it; false if the page is not
    /// writable and known to the database, or is the UTCB of a thread that may still run. A page pins for
    /// one thread: a new thread takes over the page of one that is stopped or never started, which loses it.
    static func pinUTCB(_ thread: ThreadPointer, in task: TaskPointer, at address: VirtualAddress) -> Bool {
        guard let node = mapping(in: task, at: address), node.pointee.rights.contains(.write) else { return false }
        if let holder = ThreadPointer(bitPattern: UInt(node.pointee.pinnedBy)) {
            guard holder.pointee.state == .stopped || holder.pointee.state == .inactive else { return false }
            releasePin(node.pointee.pinnedBy)
        }
        node.pointee.pinnedBy = UInt64(UInt(bitPattern: thread))
        thread.pointee.utcb = PhysicalMemory.object(at: node.pointee.frame, as: UInt64.self)
        thread.pointee.utcbAddress = address
        return true
    }

    /// `thread` is being destroyed: its UTCB page is no longer pinned by it.
    static func unpinUTCB(_ thread: ThreadPointer) {
        guard thread.pointee.utcb != nil, let task = thread.pointee.task,
              let node = mapping(in: task, at: thread.pointee.utcbAddress),
              node.pointee.pinnedBy == UInt64(UInt(bitPattern: thread)) else { return }
        node.pointee.pinnedBy = 0
    }

    /// The page of a thread's UTCB is being revoked (or made read-only): the kernel must never write its
    /// frame again, so the thread is stopped and loses its UTCB (it can be given a new page only by
    /// creating a new thread; until then its messages are the four register words).
    private static func releasePin(_ pinnedBy: UInt64) {
        guard let thread = ThreadPointer(bitPattern: UInt(pinnedBy)) else { return }
        thread.pointee.utcb = nil
        thread.pointee.utcbAddress = 0
        if thread.pointee.state != .inactive && thread.pointee.state != .stopped {
            IPC.stop(thread, scheduler: &System.scheduler)
        } else {
            thread.pointee.state = .stopped
        }
    }

    private static func clear(_ mapping: Mapping) {
        clearEntry(task(mapping.space), mapping.virtual)
    }

    private static func clearEntry(_ holder: TaskPointer, _ virtual: VirtualAddress) {
        var tables = PageTableBuilder(root: holder.pointee.pageTableRoot, memory: DirectMappedPageTables())
        tables.unmap(virtual)
        flush(holder, virtual)
    }

    /// One CPU: only the active address space can hold the stale translation (others are flushed when
    /// CR3 is loaded; user pages are never global). With more CPUs this is where a shootdown goes. A VM's
    /// guest TLB is flushed by its vCPUs before their next entry (INVEPT, or the VMCB's TLB control).
    private static func flush(_ holder: TaskPointer, _ virtual: VirtualAddress) {
        if holder.pointee.isVirtualMachine {
            holder.pointee.guestTLBGeneration &+= 1
        } else if x86_read_cr3() == holder.pointee.pageTableRoot {
            x86_invlpg(virtual)
        }
    }

    /// The page-table access for held rights. User mappings may be writable and executable at once if the
    /// holder has both rights; W^X is the kernel's rule for its own mappings.
    static func access(_ rights: PageRights) -> MemoryAccess {
        switch (rights.contains(.write), rights.contains(.execute)) {
        case (true, true): return .readWriteExecute
        case (true, false): return .readWrite
        case (false, true): return .readExecute
        case (false, false): return .read
        }
    }
}

/// Mapping nodes carved from frames of kernel memory, and each frame's root node in a
/// two-level table indexed by frame number (a directory of pages, each covering 512 frames).
struct KernelMappingStore: MappingStore {
    nonisolated(unsafe) private static var freeNodes: MappingPointer?
    nonisolated(unsafe) private static var directory = InlineArray<64, UInt64>(repeating: 0)
    static let framesPerLeaf: UInt64 = 512

    mutating func allocateNode() -> MappingPointer? {
        if KernelMappingStore.freeNodes == nil {
            guard let frame = KernelMemory.allocateFrame() else { return nil }
            let base = PhysicalMemory.object(at: frame.adopt(), as: Mapping.self)
            let count = 4096 / MemoryLayout<Mapping>.stride
            for index in 0..<count {
                (base + index).initialize(to: Mapping(space: 0, virtual: 0, frame: 0, rights: []))
                (base + index).pointee.firstChild = KernelMappingStore.freeNodes
                KernelMappingStore.freeNodes = base + index
            }
        }
        let node = KernelMappingStore.freeNodes!
        KernelMappingStore.freeNodes = node.pointee.firstChild
        return node
    }

    mutating func freeNode(_ node: MappingPointer) {
        node.pointee.firstChild = KernelMappingStore.freeNodes
        KernelMappingStore.freeNodes = node
    }

    private func leaf(for frame: PhysicalAddress, create: Bool) -> UnsafeMutablePointer<UInt64>? {
        let number = frame / 4096
        let slot = Int(number / KernelMappingStore.framesPerLeaf / 512)
        guard slot < 64 else { return nil }
        var page = KernelMappingStore.directory[slot]
        if page == 0 {
            guard create, let frame = KernelMemory.allocateFrame() else { return nil }
            page = frame.adopt()
            PhysicalMemory.zeroFrame(page)
            KernelMappingStore.directory[slot] = page
        }
        let leaves = PhysicalMemory.object(at: page, as: UInt64.self)
        let leafIndex = Int((number / KernelMappingStore.framesPerLeaf) % 512)
        if leaves[leafIndex] == 0 {
            guard create, let frame = KernelMemory.allocateFrame() else { return nil }
            leaves[leafIndex] = frame.adopt()
            PhysicalMemory.zeroFrame(leaves[leafIndex])
        }
        return PhysicalMemory.object(at: leaves[leafIndex], as: UInt64.self) + Int(number % KernelMappingStore.framesPerLeaf)
    }

    func root(of frame: PhysicalAddress) -> MappingPointer? {
        guard let slot = leaf(for: frame, create: false) else { return nil }
        return MappingPointer(bitPattern: UInt(slot.pointee))
    }

    mutating func setRoot(_ node: MappingPointer?, of frame: PhysicalAddress) {
        guard let slot = leaf(for: frame, create: node != nil) else { return }
        slot.pointee = node.map { UInt64(UInt(bitPattern: $0)) } ?? 0
    }
}
