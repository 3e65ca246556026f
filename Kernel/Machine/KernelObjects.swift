import SwiftletABI

/// Creation of kernel objects. Each object takes whole frames from the frame allocator, charged to the
/// factory that creates it; objects are not reclaimed yet (deleting a capability only empties its slot).
enum KernelObjects {
    static func charge(_ factory: UnsafeMutablePointer<Factory>?, _ type: ObjectType) -> Bool {
        guard let factory else { return true }       // boot-time objects
        return factory.pointee.charge(Factory.cost(of: type))
    }

    private static func frameFor<T>(_ value: T) -> UnsafeMutablePointer<T>? {
        guard let frame = KernelMemory.allocateFrame() else { return nil }
        let address = frame.adopt()
        PhysicalMemory.zeroFrame(address)
        let object = PhysicalMemory.object(at: address, as: T.self)
        object.initialize(to: value)
        return object
    }

    static func newThread(in task: TaskPointer, priority: UInt8, factory: UnsafeMutablePointer<Factory>?) -> Result<ThreadPointer, SyscallError> {
        guard charge(factory, .thread) else { return .failure(.quotaExceeded) }
        guard let thread = frameFor(Thread()) else { return .failure(.quotaExceeded) }
        thread.pointee.task = task
        thread.pointee.priority = priority
        thread.pointee.context.cs = UInt64(Selector.userCode)
        thread.pointee.context.ss = UInt64(Selector.userData)
        thread.pointee.context.rflags = UserContext.userFlags
        FPU.prepare(thread)
        task.pointee.threads += 1
        return .success(thread)
    }

    /// A task; `guestPhysical`: a VM, whose page tables are EPT/NPT and hold nothing of the kernel.
    static func newTask(factory: UnsafeMutablePointer<Factory>?, guestPhysical: Bool = false) -> Result<TaskPointer, SyscallError> {
        guard charge(factory, .task) else { return .failure(.quotaExceeded) }
        guard let root = guestPhysical ? AddressSpace.createEmpty() : AddressSpace.create(),
              let slots = KernelMemory.allocateFrame() else { return .failure(.quotaExceeded) }
        let storage = PhysicalMemory.object(at: slots.adopt(), as: Capability.self)
        guard let task = frameFor(Task(pageTableRoot: root, capabilities: CapabilitySpace(storage: storage))) else {
            return .failure(.quotaExceeded)
        }
        task.pointee.factory = factory
        task.pointee.isVirtualMachine = guestPhysical
        return .success(task)
    }

    static func newEndpoint(factory: UnsafeMutablePointer<Factory>?) -> Result<EndpointPointer, SyscallError> {
        guard charge(factory, .endpoint), let endpoint = frameFor(Endpoint()) else { return .failure(.quotaExceeded) }
        return .success(endpoint)
    }

    static func newFactory(frames: UInt64, from parent: UnsafeMutablePointer<Factory>?) -> Result<UnsafeMutablePointer<Factory>, SyscallError> {
        if let parent {
            let (total, overflow) = frames.addingReportingOverflow(Factory.cost(of: .factory))
            guard !overflow, parent.pointee.charge(total) else { return .failure(.quotaExceeded) }
        }
        guard let factory = frameFor(Factory(framesLeft: frames)) else { return .failure(.quotaExceeded) }
        return .success(factory)
    }

    static func capability<T>(_ type: ObjectType, _ object: UnsafeMutablePointer<T>, rights: Rights) -> Capability {
        Capability(type: type, object: UInt64(UInt(bitPattern: object)), rights: rights)
    }
}
