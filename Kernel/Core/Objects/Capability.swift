import SwiftletABI

/// A capability: the object it names (the kernel address of the object), its type, its rights and, for
/// endpoints, a badge the receiver sees. 16 bytes, so one 4 KiB frame holds a 256-slot capability space.
public struct Capability: Equatable, Sendable {
    public var object: UInt64
    /// Bits 0-7 type, 8-15 rights, 16-63 badge.
    public var info: UInt64

    public static let empty = Capability(object: 0, info: 0)
    public static let maximumBadge: UInt64 = (1 << 48) - 1

    public init(object: UInt64, info: UInt64) {
        self.object = object
        self.info = info
    }

    public init(type: ObjectType, object: UInt64, rights: Rights, badge: UInt64 = 0) {
        self.object = object
        self.info = UInt64(type.rawValue) | UInt64(rights.rawValue) << 8 | (badge & Capability.maximumBadge) << 16
    }

    public var type: ObjectType { ObjectType(rawValue: UInt8(truncatingIfNeeded: info)) ?? .empty }
    public var rights: Rights { Rights(rawValue: UInt8(truncatingIfNeeded: info >> 8)) }
    public var badge: UInt64 { info >> 16 }
    public var isEmpty: Bool { type == .empty }

    /// The `copy` operation's result: at most `mask` of the rights and, if `badge` is non-zero, that badge.
    /// Only endpoints carry badges, and only an unbadged capability may be given one (as in seL4): a task
    /// given a badged send right cannot re-badge it to pose as another sender.
    public func copied(rights mask: Rights, badge newBadge: UInt64) -> Result<Capability, SyscallError> {
        guard newBadge <= Capability.maximumBadge else { return .failure(.invalidArgument) }
        guard newBadge == 0 || type == .endpoint else { return .failure(.invalidArgument) }
        guard newBadge == 0 || badge == 0 else { return .failure(.missingRight) }
        return .success(derived(rights: mask, badge: newBadge))
    }

    /// A copy with at most `mask` of the rights and, if `badge` is non-zero, that badge.
    public func derived(rights mask: Rights, badge newBadge: UInt64 = 0) -> Capability {
        Capability(type: type, object: object, rights: rights.intersection(mask), badge: newBadge != 0 ? newBadge : badge)
    }
}

/// A task's capability space: a fixed array of slots, each a `CapabilityNode` (the capability and its
/// links in the list of capabilities naming the same object), in two physically contiguous frames.
/// Selector 0 is always empty (so a zero selector means "none"); every lookup checks range, presence,
/// type and rights, in that order. Every write of a slot goes through `ObjectHeader.fill`/`clear`, so
/// the slot is linked to its object while it names it.
public struct CapabilitySpace {
    public static let slots = 256
    /// The frames the slots fill (allocated as one contiguous pair).
    public static let frames: UInt64 = UInt64(slots * MemoryLayout<CapabilityNode>.stride / 4096)
    public let storage: CapabilityNodePointer

    /// `storage` must hold `slots` nodes; they are cleared (not unlinked: it is fresh memory).
    public init(storage: CapabilityNodePointer) {
        self.storage = storage
        storage.initialize(repeating: CapabilityNode(), count: CapabilitySpace.slots)
    }

    public func lookup(_ selector: UInt64, type: ObjectType, rights: Rights = []) -> Result<Capability, SyscallError> {
        let capability: Capability
        switch slot(selector) {
        case .success(let found): capability = found
        case .failure(let error): return .failure(error)
        }
        guard capability.type == type else { return .failure(.wrongObjectType) }
        guard capability.rights.isSuperset(of: rights) else { return .failure(.missingRight) }
        return .success(capability)
    }

    /// The fast path's lookup: the capability if `selector` holds one of `type` with `rights`, else nil
    /// (the general path then finds out which check failed). The links beside the capability are not
    /// read: the same loads as with bare 16-byte slots, only the stride differs.
    @inline(__always)
    public func fastLookup(_ selector: UInt64, type: ObjectType, rights: Rights) -> Capability? {
        guard selector < UInt64(CapabilitySpace.slots) else { return nil }
        let capability = storage[Int(selector)].capability
        let wanted = UInt64(type.rawValue) | UInt64(rights.rawValue) << 8
        guard capability.info & 0xFF == UInt64(type.rawValue), capability.info & wanted == wanted else { return nil }
        return capability
    }

    /// The capability in `selector`, which must be in range and not empty.
    public func slot(_ selector: UInt64) -> Result<Capability, SyscallError> {
        guard selector < UInt64(CapabilitySpace.slots) else { return .failure(.selectorOutOfRange) }
        let capability = storage[Int(selector)].capability
        guard !capability.isEmpty, selector != 0 else { return .failure(.emptySlot) }
        return .success(capability)
    }

    /// The node of `selector`, which the caller has checked is in range.
    public func node(_ selector: UInt64) -> CapabilityNodePointer {
        storage + Int(selector)
    }

    /// Places `capability` in the empty slot `selector` and links it to its object.
    public func insert(_ capability: Capability, at selector: UInt64) -> SyscallError {
        guard selector < UInt64(CapabilitySpace.slots), selector != 0 else { return .selectorOutOfRange }
        guard storage[Int(selector)].capability.isEmpty else { return .slotOccupied }
        ObjectHeader.fill(node(selector), with: capability)
        return .ok
    }

    /// Checks that `selector` could take a new capability, without placing one.
    public func canInsert(at selector: UInt64) -> SyscallError {
        guard selector < UInt64(CapabilitySpace.slots), selector != 0 else { return .selectorOutOfRange }
        return storage[Int(selector)].capability.isEmpty ? .ok : .slotOccupied
    }

    public func delete(_ selector: UInt64) -> SyscallError {
        switch slot(selector) {
        case .failure(let error): return error
        case .success: ObjectHeader.clear(node(selector))
        }
        return .ok
    }

    /// Empties every slot (the task is being destroyed): each capability is unlinked from its object.
    public func clearAll() {
        for selector in 1..<CapabilitySpace.slots where !storage[selector].capability.isEmpty {
            ObjectHeader.clear(node(UInt64(selector)))
        }
    }
}
