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
/// Factories are destroyed only when empty: `liveObjects` (objects and child factories made from it
/// and not destroyed) must be zero, else `objectInUse`. Destroying the objects with it would need a
/// list of them per factory and an unbounded kernel operation; a parent can destroy the children first.
/// Boot-time objects (made by the kernel, with no factory) are `permanentObject`. A VM is a task whose
/// threads are vCPUs: destroying a vCPU clears its VMCS (VMX) and frees it with its VCPU; destroying a
/// VM flushes its EPT's translations (INVEPT) before its tables are freed. Tasks are destroyed
/// with their threads; the objects a task made from factories it holds belong to those factories and
/// live on (their holders, or the factory's owner, destroy them).
extension KernelObjects {
    /// Destroys the object `capability` names for `caller`. Nil when the result register is set
    /// already or gone (the caller destroyed itself).
    static func destroy(_ capability: Capability, by caller: ThreadPointer) -> SyscallError? {
        guard capability.rights.contains(.destroy) else { return .missingRight }
        guard let header = ObjectHeader.header(of: capability), capability.type != .reply else { return .wrongObjectType }
        guard let factory = header.pointee.factory else { return .permanentObject }
        let address = UInt(truncatingIfNeeded: capability.object)
        switch capability.type {
        case .endpoint:
            let endpoint = EndpointPointer(bitPattern: address)!
            ObjectHeader.revokeAll(header)
            Interrupts.unbindAll(from: endpoint)
            IPC.abortAll(on: endpoint, scheduler: &System.scheduler)
            endpoint.pointee.pendingInterrupts = nil
            endpoint.pointee.pendingInterruptsTail = nil
            free(endpoint, factory: factory, type: .endpoint)
        case .interrupt:
            let interrupt = InterruptPointer(bitPattern: address)!
            ObjectHeader.revokeAll(header)
            Interrupts.retire(interrupt)
            free(interrupt, factory: factory, type: .interrupt)
        case .factory:
            let object = UnsafeMutablePointer<Factory>(bitPattern: address)!
            guard object.pointee.liveObjects == 0 else { return .objectInUse }
            ObjectHeader.revokeAll(header)
            // Its whole quota goes back: what it was given, minus nothing (every object is gone).
            let frames = object.pointee.framesLeft &+ Factory.cost(of: .factory)
            KernelMemory.releaseFrame(PhysicalMemory.physicalAddress(of: object))
            factory.pointee.refundObject(frames)
        case .thread:
            let thread = ThreadPointer(bitPattern: address)!
            let itself = thread == caller
            if !itself { caller.pointee.context.rax = SyscallError.ok.rawValue }
            destroyThread(thread, factory: factory)
            return nil
        case .task:
            let task = TaskPointer(bitPattern: address)!
            let itself = caller.pointee.task == task
            if !itself { caller.pointee.context.rax = SyscallError.ok.rawValue }
            destroyTask(task, factory: factory)
            return nil
        case .empty, .machine, .interruptController, .reply, .physicalMemory, .virtualMachine, .virtualCPU:
            return .wrongObjectType
        }
        return .ok
    }

    private static func free<T>(_ object: UnsafeMutablePointer<T>, factory: UnsafeMutablePointer<Factory>?, type: ObjectType) {
        KernelMemory.releaseFrame(PhysicalMemory.physicalAddress(of: object))
        refund(factory, type)
    }

    /// A thread, whatever its state: out of every queue and relation (IPC.remove), its own capability
    /// copies unlinked, its UTCB unpinned, forgotten by the FPU; then its frame and charge go back.
    static func destroyThread(_ thread: ThreadPointer, factory: UnsafeMutablePointer<Factory>?) {
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
        free(thread, factory: factory, type: .thread)
    }

    /// A task: its threads destroyed (the caller's too, if it is one of them), every capability it held
    /// unlinked from its object, its mappings revoked through the mapping database (with everything
    /// derived from them in other tasks), its I/O bitmap, page tables, capability space and record
    /// freed; the page tables and bitmap are refunded to the factory they were charged to (its own),
    /// the task's cost to the factory that made it.
    static func destroyTask(_ task: TaskPointer, factory: UnsafeMutablePointer<Factory>) {
        ObjectHeader.revokeAll(withUnsafeMutablePointer(to: &task.pointee.header) { $0 })
        while let thread = task.pointee.threadList { destroyThread(thread, factory: thread.pointee.header.factory) }
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
        free(task, factory: factory, type: .task)
    }
}
