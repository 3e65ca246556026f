import SwiftletABI

public typealias CapabilityNodePointer = UnsafeMutablePointer<CapabilityNode>
public typealias ObjectHeaderPointer = UnsafeMutablePointer<ObjectHeader>

/// A place that holds a capability: a capability-space slot, or one of the copies a TCB keeps (its
/// exception handler and pager). Every node holding a capability to a destroyable object is linked into
/// that object's list, so destroying the object finds and empties every capability to it in O(number of
/// capabilities), with no scan of all tasks and no generation counter. 32 bytes: a slot index is still
/// a shift, and a 256-slot capability space fills two frames.
public struct CapabilityNode {
    public var capability = Capability.empty
    public var next: CapabilityNodePointer?
    public var previous: CapabilityNodePointer?

    public init() {}
}

/// The header every destroyable object (task, thread, endpoint, factory, interrupt) carries: the
/// factory that paid for it (nil for boot-time objects, which cannot be destroyed), the head of the
/// doubly linked list of the capability nodes naming it, and its place in that factory's list of what
/// it made (`Factory.made`), so destroying a factory finds everything made from it. Reply capabilities
/// are linked to the caller's thread, so a saved reply dies with the thread it would answer.
///
/// Linking (insert, copy, transfer through IPC, TCB copies) and unlinking (delete) are O(1) and go
/// through `fill` and `clear`; nothing else writes a node's capability. `enlist` and `delist` keep the
/// factory's list, also O(1).
///
/// Invariant: a header is in its factory's `made` list exactly while the object exists and `factory`
/// is not nil; `kind` and `object` then say what and where the object is.
public struct ObjectHeader {
    public var capabilities: CapabilityNodePointer?
    public var factory: UnsafeMutablePointer<Factory>?
    /// What the object is (.task for VMs too, .thread for vCPUs) and its address.
    public var kind: ObjectType = .empty
    public var object: UInt = 0
    /// Neighbours in the factory's `made` list.
    public var nextMade: ObjectHeaderPointer?
    public var previousMade: ObjectHeaderPointer?

    public init(factory: UnsafeMutablePointer<Factory>? = nil) {
        self.factory = factory
    }

    /// Records a new object as made from `factory` (nil: a boot-time object, in no list). O(1).
    public static func enlist(_ header: ObjectHeaderPointer, kind: ObjectType, object: UInt, factory: UnsafeMutablePointer<Factory>?) {
        header.pointee.factory = factory
        header.pointee.kind = kind
        header.pointee.object = object
        header.pointee.previousMade = nil
        header.pointee.nextMade = nil
        guard let factory else { return }
        header.pointee.nextMade = factory.pointee.made
        factory.pointee.made?.pointee.previousMade = header
        factory.pointee.made = header
    }

    /// Takes a destroyed object out of its factory's list. O(1).
    public static func delist(_ header: ObjectHeaderPointer) {
        guard let factory = header.pointee.factory else { return }
        if let previous = header.pointee.previousMade {
            previous.pointee.nextMade = header.pointee.nextMade
        } else if factory.pointee.made == header {
            factory.pointee.made = header.pointee.nextMade
        }
        header.pointee.nextMade?.pointee.previousMade = header.pointee.previousMade
        header.pointee.nextMade = nil
        header.pointee.previousMade = nil
    }

    /// Finds the header of the object a capability names, or nil for capabilities that name nothing
    /// destroyable (machine, interrupt controller, physical memory, a dead reply). Set by the kernel at
    /// boot to `header(of:)`; host tests of capability semantics with made-up object addresses leave it nil.
    nonisolated(unsafe) public static var locate: ((Capability) -> ObjectHeaderPointer?)?

    /// Where the header of the object `capability` names lives (the objects are the kernel's structs).
    public static func header(of capability: Capability) -> ObjectHeaderPointer? {
        let address = UInt(truncatingIfNeeded: capability.object)
        switch capability.type {
        case .thread, .reply:
            guard let thread = ThreadPointer(bitPattern: address) else { return nil }
            return withUnsafeMutablePointer(to: &thread.pointee.header) { $0 }
        case .task:
            guard let task = TaskPointer(bitPattern: address) else { return nil }
            return withUnsafeMutablePointer(to: &task.pointee.header) { $0 }
        case .endpoint:
            guard let endpoint = EndpointPointer(bitPattern: address) else { return nil }
            return withUnsafeMutablePointer(to: &endpoint.pointee.header) { $0 }
        case .factory:
            guard let factory = UnsafeMutablePointer<Factory>(bitPattern: address) else { return nil }
            return withUnsafeMutablePointer(to: &factory.pointee.header) { $0 }
        case .interrupt:
            guard let interrupt = InterruptPointer(bitPattern: address) else { return nil }
            return withUnsafeMutablePointer(to: &interrupt.pointee.header) { $0 }
        case .empty, .machine, .interruptController, .physicalMemory, .virtualMachine, .virtualCPU:
            return nil
        }
    }

    /// Puts `capability` into the empty `node` and links the node to its object. O(1).
    public static func fill(_ node: CapabilityNodePointer, with capability: Capability) {
        node.pointee.capability = capability
        node.pointee.previous = nil
        node.pointee.next = nil
        guard let header = locate?(capability) else { return }
        node.pointee.next = header.pointee.capabilities
        header.pointee.capabilities?.pointee.previous = node
        header.pointee.capabilities = node
    }

    /// Empties `node` and unlinks it from its object's list. O(1).
    public static func clear(_ node: CapabilityNodePointer) {
        if let header = locate?(node.pointee.capability) {
            if let previous = node.pointee.previous {
                previous.pointee.next = node.pointee.next
            } else if header.pointee.capabilities == node {
                header.pointee.capabilities = node.pointee.next
            }
            node.pointee.next?.pointee.previous = node.pointee.previous
        }
        node.pointee = CapabilityNode()
    }

    /// Empties every node naming the object (destroy). A saved reply becomes a reply capability that
    /// names nobody, so the server replying through it learns `noCaller` instead of finding its slot
    /// silently empty. Returns how many nodes it emptied.
    @discardableResult
    public static func revokeAll(_ header: ObjectHeaderPointer) -> Int {
        var count = 0
        while let node = header.pointee.capabilities {
            header.pointee.capabilities = node.pointee.next
            let wasReply = node.pointee.capability.type == .reply
            node.pointee = CapabilityNode()
            if wasReply { node.pointee.capability = Capability.deadReply }
            count += 1
        }
        return count
    }

    /// The number of nodes naming the object (tests and checks).
    public static func count(_ header: ObjectHeaderPointer) -> Int {
        var count = 0
        var cursor = header.pointee.capabilities
        while let node = cursor {
            count += 1
            cursor = node.pointee.next
        }
        return count
    }
}

extension Capability {
    /// A saved reply whose caller was destroyed: it names nothing, replying through it answers `noCaller`.
    public static let deadReply = Capability(type: .reply, object: 0, rights: .send)
}
