import SwiftletABI

public typealias MappingPointer = UnsafeMutablePointer<Mapping>

/// One page mapped in one address space, and where it came from. The mappings of a frame form a tree:
/// the root is its first owner (sigma0 for RAM and device memory), each child was mapped from its parent
/// with at most the parent's rights. Revoking a mapping removes its whole subtree: A maps to B maps to C,
/// and C loses the page when A revokes B's.
///
/// Pinned mappings (a thread's UTCB, which the kernel writes messages into) get no exemption here:
/// revocation always wins, from above (the pager that mapped the page) and from below (the owner's own
/// `unmap`), so no task keeps a page its pager took back. Instead the kernel's `removed` callback sees
/// `pinnedBy` just before the node goes, and stops that thread and detaches its UTCB first
/// (UserMemory.releasePin); likewise when `restrict` takes the write right. After that the kernel never
/// writes the frame again. What a pin does prevent: a map or grant never replaces or moves a pinned
/// mapping, and a page pins for one thread at most (UserMemory.pinUTCB).
///
/// Quota: every node a task receives is paid for by a factory, recorded in `payer` and refunded when
/// the node is freed (revoke, a map that fails after allocating), so nodes never leak quota.
public struct Mapping {
    /// The address space (the kernel address of its Task; never 0 for a real space).
    public var space: UInt64
    public var virtual: VirtualAddress
    public var frame: PhysicalAddress
    public var rights: PageRights
    /// The thread (its kernel address) whose UTCB this page is, or 0. Nothing may be mapped over it.
    public var pinnedBy: UInt64 = 0
    public var pinned: Bool { pinnedBy != 0 }
    /// The factory charged for this node, refunded when it is freed (nil: a boot-time or sigma0 mapping).
    public var payer: UnsafeMutablePointer<Factory>?
    public var parent: MappingPointer?
    public var firstChild: MappingPointer?
    public var nextSibling: MappingPointer?
    public var previousSibling: MappingPointer?

    public init(space: UInt64, virtual: VirtualAddress, frame: PhysicalAddress, rights: PageRights) {
        self.space = space
        self.virtual = virtual
        self.frame = frame
        self.rights = rights
    }
}

/// Where mapping nodes live, and the table that finds a frame's root node. The kernel keeps nodes in
/// slab frames and the roots in a per-frame array; host tests use ordinary memory.
public protocol MappingStore {
    mutating func allocateNode() -> MappingPointer?
    mutating func freeNode(_ node: MappingPointer)
    func root(of frame: PhysicalAddress) -> MappingPointer?
    mutating func setRoot(_ node: MappingPointer?, of frame: PhysicalAddress)
}

public enum MappingDatabaseError: Error, Equatable {
    /// The frame already has an owner (sigma0 hands each frame out once).
    case alreadyOwned
    /// A derived mapping asked for rights its parent does not have.
    case rightsExceedParent
    case outOfMemory
    /// The paying factory has no quota left for another node.
    case quotaExceeded
}

public struct MappingDatabase<Store: MappingStore> {
    public var store: Store

    public init(store: Store) {
        self.store = store
    }

    /// Makes `space` the first owner of `frame`.
    public mutating func insertRoot(frame: PhysicalAddress, space: UInt64, virtual: VirtualAddress,
                                    rights: PageRights) -> Result<MappingPointer, MappingDatabaseError> {
        guard store.root(of: frame) == nil else { return .failure(.alreadyOwned) }
        guard let node = store.allocateNode() else { return .failure(.outOfMemory) }
        node.initialize(to: Mapping(space: space, virtual: virtual, frame: frame, rights: rights))
        store.setRoot(node, of: frame)
        return .success(node)
    }

    /// Maps `parent`'s frame into `space` at `virtual` with `rights`, which must be a subset of the parent's.
    /// The node is charged to `payer` (if given) and refunded to it when freed.
    public mutating func map(_ parent: MappingPointer, to space: UInt64, at virtual: VirtualAddress,
                             rights: PageRights, payer: UnsafeMutablePointer<Factory>? = nil)
        -> Result<MappingPointer, MappingDatabaseError> {
        guard parent.pointee.rights.isSuperset(of: rights) else { return .failure(.rightsExceedParent) }
        if let payer, !payer.pointee.chargeNode() { return .failure(.quotaExceeded) }
        guard let node = store.allocateNode() else {
            payer?.pointee.refundNode()
            return .failure(.outOfMemory)
        }
        node.initialize(to: Mapping(space: space, virtual: virtual, frame: parent.pointee.frame, rights: rights))
        node.pointee.payer = payer
        node.pointee.parent = parent
        node.pointee.nextSibling = parent.pointee.firstChild
        parent.pointee.firstChild?.pointee.previousSibling = node
        parent.pointee.firstChild = node
        return .success(node)
    }

    /// Moves `node` to another space and address (a grant): the sender loses the page, the receiver holds
    /// it in the same place of the tree, so whatever was derived from it stays valid.
    public mutating func grant(_ node: MappingPointer, to space: UInt64, at virtual: VirtualAddress) {
        node.pointee.space = space
        node.pointee.virtual = virtual
    }

    /// Removes every mapping derived from `node`, children before their parents, and `node` too when
    /// `includingSelf`. `removed` sees each mapping just before it goes (to clear its page-table entry).
    public mutating func revoke(_ node: MappingPointer, includingSelf: Bool, removed: (Mapping) -> Void) {
        // Post-order walk without recursion: descend to a leaf, remove it, continue with its parent.
        while let child = node.pointee.firstChild {
            var leaf = child
            while let deeper = leaf.pointee.firstChild { leaf = deeper }
            unlinkAndFree(leaf, removed: removed)
        }
        if includingSelf { unlinkAndFree(node, removed: removed) }
    }

    /// Takes `rights` away from every mapping derived from `node` (not from `node` itself); `changed` sees
    /// each mapping whose rights shrank, in place (it may unpin it).
    public mutating func restrict(_ node: MappingPointer, removing rights: PageRights, changed: (inout Mapping) -> Void) {
        var cursor = node.pointee.firstChild
        while let current = cursor {
            if !current.pointee.rights.isDisjoint(with: rights) {
                current.pointee.rights.subtract(rights)
                changed(&current.pointee)
            }
            cursor = current.pointee.firstChild ?? successor(of: current, within: node)
        }
    }

    /// The mapping of `frame` in `space` at `virtual`, if there is one.
    public func find(frame: PhysicalAddress, space: UInt64, virtual: VirtualAddress) -> MappingPointer? {
        guard let root = store.root(of: frame) else { return nil }
        var cursor: MappingPointer? = root
        while let current = cursor {
            if current.pointee.space == space && current.pointee.virtual == virtual { return current }
            cursor = current.pointee.firstChild ?? successor(of: current, within: root)
        }
        return nil
    }

    /// Whether `candidate` is `node`'s parent, grandparent, ... (a mapping `node` was derived from).
    /// Replacing such a mapping with one derived from `node` would revoke `node` itself midway.
    public func isAncestor(_ candidate: MappingPointer, of node: MappingPointer) -> Bool {
        var cursor = node.pointee.parent
        while let current = cursor {
            if current == candidate { return true }
            cursor = current.pointee.parent
        }
        return false
    }

    /// The number of mappings in `node`'s subtree, itself included.
    public func subtreeSize(_ node: MappingPointer) -> Int {
        var count = 1
        var cursor = node.pointee.firstChild
        while let current = cursor {
            count += 1
            cursor = current.pointee.firstChild ?? successor(of: current, within: node)
        }
        return count
    }

    /// The next node of a pre-order walk of `top`'s subtree after finishing `node`'s own subtree.
    private func successor(of node: MappingPointer, within top: MappingPointer) -> MappingPointer? {
        var cursor = node
        while cursor != top {
            if let sibling = cursor.pointee.nextSibling { return sibling }
            guard let parent = cursor.pointee.parent else { return nil }
            cursor = parent
        }
        return nil
    }

    private mutating func unlinkAndFree(_ node: MappingPointer, removed: (Mapping) -> Void) {
        removed(node.pointee)
        if let previous = node.pointee.previousSibling {
            previous.pointee.nextSibling = node.pointee.nextSibling
        } else if let parent = node.pointee.parent {
            parent.pointee.firstChild = node.pointee.nextSibling
        } else {
            store.setRoot(nil, of: node.pointee.frame)
        }
        node.pointee.nextSibling?.pointee.previousSibling = node.pointee.previousSibling
        let payer = node.pointee.payer
        store.freeNode(node)
        payer?.pointee.refundNode()
    }
}
