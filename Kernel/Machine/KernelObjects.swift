import SwiftletABI

/// Creation and destruction of kernel objects. Each object takes whole frames from the frame allocator,
/// charged to the factory that creates it (recorded in its ObjectHeader, and counted in the factory's
/// `liveObjects`); `destroy` gives the frames back to the allocator and the charge back to that factory,
/// so the quota is exactly where it was before the create.
enum KernelObjects {
    // Every create charges first and, if anything after that fails, gives back the frames it took and
    // refunds the charge: a failed create leaves the quota and the frame allocator as they were.

    static func charge(_ factory: UnsafeMutablePointer<Factory>?, _ type: ObjectType) -> Bool {
        guard let factory else { return true }       // boot-time objects
        return factory.pointee.chargeObject(Factory.cost(of: type))
    }

    static func refund(_ factory: UnsafeMutablePointer<Factory>?, _ type: ObjectType) {
        factory?.pointee.refundObject(Factory.cost(of: type))
    }

    /// A zeroed frame holding `value`, or nil when the kernel's frames are exhausted.
    private static func frameFor<T>(_ value: T) -> UnsafeMutablePointer<T>? {
        guard let frame = KernelMemory.allocateFrame() else { return nil }
        return place(value, in: frame.adopt())
    }

    private static func place<T>(_ value: T, in address: PhysicalAddress) -> UnsafeMutablePointer<T> {
        PhysicalMemory.zeroFrame(address)
        let object = PhysicalMemory.object(at: address, as: T.self)
        object.initialize(to: value)
        return object
    }

    /// Lists a new object in the factory that made it (ObjectHeader.enlist), so destroying the factory
    /// finds it. Every create that succeeds calls this once.
    static func enlist<T>(_ header: inout ObjectHeader, _ kind: ObjectType, _ object: UnsafeMutablePointer<T>,
                          _ factory: UnsafeMutablePointer<Factory>?) {
        ObjectHeader.enlist(&header, kind: kind, object: UInt(bitPattern: object), factory: factory)
    }

    /// The header of a thread (its `header` field), for the list operations.
    static func header(of thread: ThreadPointer) -> ObjectHeaderPointer {
        withUnsafeMutablePointer(to: &thread.pointee.header) { $0 }
    }

    /// Gives a frame back to the allocator (a create that failed after taking it).
    static func release(_ frame: PhysicalAddress?) {
        if let frame { KernelMemory.releaseFrame(frame) }
    }

    static func newThread(in task: TaskPointer, priority: UInt8, factory: UnsafeMutablePointer<Factory>?) -> Result<ThreadPointer, SyscallError> {
        guard charge(factory, .thread) else { return .failure(.quotaExceeded) }
        guard let thread = frameFor(Thread()) else {
            refund(factory, .thread)
            return .failure(.quotaExceeded)
        }
        thread.pointee.task = task
        thread.pointee.priority = priority
        thread.pointee.context.cs = UInt64(Selector.userCode)
        thread.pointee.context.ss = UInt64(Selector.userData)
        thread.pointee.context.rflags = UserContext.userFlags
        FPU.prepare(thread)
        enlist(&thread.pointee.header, .thread, thread, factory)
        Task.attach(thread, to: task)
        return .success(thread)
    }

    /// Undoes `newThread` for a create that failed later (the thread never ran and nothing names it).
    static func discardNewThread(_ thread: ThreadPointer, factory: UnsafeMutablePointer<Factory>?) {
        ObjectHeader.delist(header(of: thread))
        Task.detach(thread, from: thread.pointee.task!)
        KernelMemory.releaseFrame(PhysicalMemory.physicalAddress(of: thread))
        refund(factory, .thread)
    }

    /// A task; `guestPhysical`: a VM, whose page tables are EPT/NPT and hold nothing of the kernel.
    static func newTask(factory: UnsafeMutablePointer<Factory>?, guestPhysical: Bool = false) -> Result<TaskPointer, SyscallError> {
        guard charge(factory, .task) else { return .failure(.quotaExceeded) }
        let root = guestPhysical ? AddressSpace.createEmpty() : AddressSpace.create()
        let slots = KernelMemory.allocatePair()
        let record = KernelMemory.allocateFrame()?.adopt()
        guard let root, let slots, let record else {
            release(root)
            if let slots { releasePair(slots) }
            release(record)
            refund(factory, .task)
            return .failure(.quotaExceeded)
        }
        let storage = PhysicalMemory.object(at: slots, as: CapabilityNode.self)
        let task = place(Task(pageTableRoot: root, capabilities: CapabilitySpace(storage: storage)), in: record)
        task.pointee.factory = factory
        enlist(&task.pointee.header, .task, task, factory)
        task.pointee.isVirtualMachine = guestPhysical
        return .success(task)
    }

    static func newEndpoint(factory: UnsafeMutablePointer<Factory>?) -> Result<EndpointPointer, SyscallError> {
        guard charge(factory, .endpoint) else { return .failure(.quotaExceeded) }
        guard let endpoint = frameFor(Endpoint()) else {
            refund(factory, .endpoint)
            return .failure(.quotaExceeded)
        }
        enlist(&endpoint.pointee.header, .endpoint, endpoint, factory)
        return .success(endpoint)
    }

    /// A factory with a quota of `frames` (a user value: its sum with the factory's own cost is checked).
    static func newFactory(frames: UInt64, from parent: UnsafeMutablePointer<Factory>?) -> Result<UnsafeMutablePointer<Factory>, SyscallError> {
        let (total, overflow) = frames.addingReportingOverflow(Factory.cost(of: .factory))
        guard !overflow else { return .failure(.quotaExceeded) }
        if let parent, !parent.pointee.chargeObject(total) { return .failure(.quotaExceeded) }
        guard let factory = frameFor(Factory(framesLeft: frames)) else {
            parent?.pointee.refundObject(total)
            return .failure(.quotaExceeded)
        }
        enlist(&factory.pointee.header, .factory, factory, parent)
        return .success(factory)
    }

    static func releasePair(_ address: PhysicalAddress) {
        KernelMemory.releaseFrame(address)
        KernelMemory.releaseFrame(address + 4096)
    }

    static func capability<T>(_ type: ObjectType, _ object: UnsafeMutablePointer<T>, rights: Rights) -> Capability {
        Capability(type: type, object: UInt64(UInt(bitPattern: object)), rights: rights)
    }
}
