import KernelPlatform
import SwiftletABI

/// `destroy` (CapabilityOperation.destroy): ends an object and reclaims it. The capability must carry
/// the `destroy` right, which every create gives its creator and which copies can drop — so a task can
/// hand out a thread or task capability with `control` (configure, stop) without the power to free the
/// object, and endpoints, which have no `control` right, get one right that means exactly this.
///
/// Order of every destroy: check (nothing changes on an error), revoke every capability naming the
/// object (its ObjectHeader list: slots in every task, TCB copies, saved replies), take it out of
/// every kernel structure, give its frames to the frame allocator and its charge to its factory.
///
/// A factory is destroyed with everything made from it (its `made` list: objects and child factories,
/// and theirs), children first, then itself; its whole quota goes back to its parent. So a task's owner
/// reclaims all the task made (endpoints the task made from its own factory included) by destroying the
/// factory it gave the task. The walk is iterative (a chain of factories needs no kernel stack) and
/// bounded by the factory's quota: every object in it holds at least one frame of it.
/// Boot-time objects (made by the kernel, with no factory) are `permanentObject`. A VM is a task whose
/// threads are vCPUs: destroying a vCPU clears its VMCS (VMX) and frees it with its VCPU; destroying a
/// VM flushes its EPT's translations (INVEPT) before its tables are freed. Tasks are destroyed
/// with their threads; the other objects a task made belong to the factories it made them from.
extension KernelObjects {
    /// Destroys the object `capability` names for `caller`. Nil when the result register is set
    /// already or gone (the caller destroyed itself).
    static func destroy(_ capability: Capability, by caller: ThreadPointer) -> SyscallError? {
        guard capability.rights.contains(.destroy) else { return .missingRight }
        guard let header = ObjectHeader.header(of: capability), capability.type != .reply else { return .wrongObjectType }
        guard header.pointee.factory != nil else { return .permanentObject }
        let address = UInt(truncatingIfNeeded: capability.object)
        switch capability.type {
        case .endpoint:
            destroyEndpoint(EndpointPointer(bitPattern: address)!)
        case .interrupt:
            destroyInterrupt(InterruptPointer(bitPattern: address)!)
        case .factory:
            // The caller may be among what the factory made; its result is set first for that reason.
            caller.pointee.context.rax = SyscallError.ok.rawValue
            destroyFactory(UnsafeMutablePointer<Factory>(bitPattern: address)!)
            return nil
        case .thread:
            let thread = ThreadPointer(bitPattern: address)!
            let itself = thread == caller
            if !itself { caller.pointee.context.rax = SyscallError.ok.rawValue }
            destroyThread(thread)
            return nil
        case .task:
            let task = TaskPointer(bitPattern: address)!
            let itself = caller.pointee.task == task
            if !itself { caller.pointee.context.rax = SyscallError.ok.rawValue }
            destroyTask(task)
            return nil
        case .empty, .machine, .interruptController, .reply, .physicalMemory, .virtualMachine, .virtualCPU:
            return .wrongObjectType
        }
        return .ok
    }

    /// The last step of every destroy: out of its factory's list, its frame and charge back.
    private static func free<T>(_ object: UnsafeMutablePointer<T>, header: inout ObjectHeader, type: ObjectType) {
        let factory = header.factory
        ObjectHeader.delist(&header)
        KernelMemory.releaseFrame(PhysicalMemory.physicalAddress(of: object))
        refund(factory, type)
    }

    /// A factory and everything made from it. Depth first without recursion: while the current factory
    /// has objects, an object that is a factory with objects of its own becomes the current one, any
    /// other object is destroyed; an empty factory is freed and its parent is current again.
    static func destroyFactory(_ top: UnsafeMutablePointer<Factory>) {
        var current = top
        while true {
            if let made = current.pointee.made {
                let object = made.pointee.object
                switch made.pointee.kind {
                case .factory:
                    current = UnsafeMutablePointer<Factory>(bitPattern: object)!
                case .endpoint:
                    destroyEndpoint(EndpointPointer(bitPattern: object)!)
                case .interrupt:
                    destroyInterrupt(InterruptPointer(bitPattern: object)!)
                case .thread:
                    destroyThread(ThreadPointer(bitPattern: object)!)
                case .task:
                    destroyTask(TaskPointer(bitPattern: object)!)
                case .empty, .machine, .interruptController, .reply, .physicalMemory, .virtualMachine, .virtualCPU:
                    // Never listed (enlist takes only the five kinds above); drop it rather than loop.
                    ObjectHeader.delist(made)
                }
                continue
            }
            // Empty: its whole quota goes back to its parent (what it was given; every charge was refunded).
            let parent = current.pointee.header.factory
            ObjectHeader.revokeAll(&current.pointee.header)
            ObjectHeader.delist(&current.pointee.header)
            let frames = current.pointee.framesLeft &+ Factory.cost(of: .factory)
            KernelMemory.releaseFrame(PhysicalMemory.physicalAddress(of: current))
            parent?.pointee.refundObject(frames)
            guard current != top, let parent else { return }
            current = parent
        }
    }

    static func destroyEndpoint(_ endpoint: EndpointPointer) {
        ObjectHeader.revokeAll(&endpoint.pointee.header)
        Interrupts.unbindAll(from: endpoint)
        IPC.abortAll(on: endpoint, scheduler: &System.scheduler)
        endpoint.pointee.pendingInterrupts = nil
        endpoint.pointee.pendingInterruptsTail = nil
        free(endpoint, header: &endpoint.pointee.header, type: .endpoint)
    }

    static func destroyInterrupt(_ interrupt: InterruptPointer) {
        ObjectHeader.revokeAll(&interrupt.pointee.header)
        Interrupts.retire(interrupt)
        free(interrupt, header: &interrupt.pointee.header, type: .interrupt)
    }

    /// A thread, whatever its state: out of every queue and relation (IPC.remove), its own capability
    /// copies unlinked, its UTCB unpinned, forgotten by the FPU; then its frame and charge go back.
    static func destroyThread(_ thread: ThreadPointer) {
        let factory = thread.pointee.header.factory
        ObjectHeader.revokeAll(withUnsafeMutablePointer(to: &thread.pointee.header) { $0 })
        IPC.remove(thread, scheduler: &System.scheduler)
        if let vcpu = thread.pointee.vcpu {
            // A vCPU: out of guest mode already (this is another thread's system call); its VCPU and
            // VMCS/VMCB go, and the part of its charge beyond the TCB.
            thread.pointee.vcpu = nil
            GuestMode.retire(vcpu)
            factory?.pointee.refund(Factory.cost(of: .virtualCPU) - Factory.cost(of: .thread))
        }
        Thread.setExceptionHandler(thread, .empty)
        Thread.setPager(thread, .empty)
        UserMemory.unpinUTCB(thread)
        FPU.forget(thread)
        Task.detach(thread, from: thread.pointee.task!)
        free(thread, header: &thread.pointee.header, type: .thread)
    }

    /// A task: its threads destroyed (the caller's too, if it is one of them), every capability it held
    /// unlinked from its object, its mappings revoked through the mapping database (with everything
    /// derived from them in other tasks), its I/O bitmap, page tables, capability space and record
    /// freed; the page tables and bitmap are refunded to the factory they were charged to (its own),
    /// the task's cost to the factory that made it.
    static func destroyTask(_ task: TaskPointer) {
        ObjectHeader.revokeAll(withUnsafeMutablePointer(to: &task.pointee.header) { $0 })
        while let thread = task.pointee.threadList { destroyThread(thread) }
        task.pointee.capabilities.clearAll()
        UserMemory.revokeAll(in: task)
        IOPorts.release(task)
        let root = task.pointee.pageTableRoot
        if x86_read_cr3() == root { AddressSpace.activate(KernelMemory.kernelRoot) }   // never run on freed tables
        if task.pointee.isVirtualMachine { GuestMode.retire(machine: task) }
        // A VM's root is all guest-physical (EPT/NPT); a task's upper half is the kernel's, shared.
        let entries = task.pointee.isVirtualMachine ? 0..<512 : 0..<256
        var tables: UInt64 = 0
        PageTableBuilder(root: root, memory: DirectMappedPageTables()).forEachTable(underRootEntries: entries) { table in
            KernelMemory.releaseFrame(table)
            tables += 1
        }
        task.pointee.factory?.pointee.refund(tables)
        KernelMemory.releaseFrame(root)
        releasePair(PhysicalMemory.physicalAddress(of: task.pointee.capabilities.storage))
        free(task, header: &task.pointee.header, type: .task)
    }
}
