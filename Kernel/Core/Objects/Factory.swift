import SwiftletABI

/// A kernel-memory factory: creates objects, each costing frames, out of its quota. A new factory takes
/// its quota out of its parent's, so no task can use more kernel memory than it was given.
///
/// Quota is exact: every charge is matched by a refund when what it paid for does not come to exist or
/// goes away. A create that fails leaves `framesLeft` as it was (KernelObjects, GuestMode give back
/// what they took); a mapping node is refunded to the factory that paid for it when the node is freed
/// (MappingDatabase records the payer). Page tables charged for a task's mappings stay with the task
/// (an unmap leaves empty tables in place for the next mapping) until the task is destroyed, which
/// refunds them: a loop that maps and unmaps the same place pays for its tables once. A destroyed
/// object refunds exactly its cost (`refundObject`), so create-then-destroy leaves the quota as it was.
public struct Factory {
    /// Its parent (which paid for it and its quota) and the capabilities naming it.
    public var header = ObjectHeader()
    public var framesLeft: UInt64
    /// Objects made from it and not destroyed (child factories included), counted and listed (through
    /// their headers, `ObjectHeader.enlist`): destroying the factory destroys them first.
    public var liveObjects: UInt64 = 0
    public var made: ObjectHeaderPointer?
    /// Mapping-database nodes already paid for and not in use (a frame buys `nodesPerFrame`).
    public var nodeCredits: UInt64 = 0
    /// As many nodes as fit in the frame the kernel carves them from.
    public static let nodesPerFrame = UInt64(4096 / MemoryLayout<Mapping>.stride)

    public init(framesLeft: UInt64) {
        self.framesLeft = framesLeft
    }

    public mutating func charge(_ frames: UInt64) -> Bool {
        guard framesLeft >= frames else { return false }
        framesLeft -= frames
        return true
    }

    /// Pays for an object made from this factory (counted in `liveObjects`).
    public mutating func chargeObject(_ frames: UInt64) -> Bool {
        guard charge(frames) else { return false }
        liveObjects += 1
        return true
    }

    /// The object `chargeObject` paid for is gone (destroyed, or its create failed): the frames come back.
    public mutating func refundObject(_ frames: UInt64) {
        refund(frames)
        liveObjects -= 1
    }

    /// Gives back frames an earlier `charge` took (never more: the sum stays within the original quota).
    public mutating func refund(_ frames: UInt64) {
        framesLeft += frames
    }

    /// Pays for one mapping node (the mappings a task receives are charged to the factory that made it).
    public mutating func chargeNode() -> Bool {
        if nodeCredits == 0 {
            guard charge(1) else { return false }
            nodeCredits = Factory.nodesPerFrame
        }
        nodeCredits -= 1
        return true
    }

    /// A node this factory paid for was freed: once a whole frame's worth is unused, the frame goes back,
    /// so any sequence of charges and refunds that ends with no node alive ends at the starting quota.
    public mutating func refundNode() {
        nodeCredits += 1
        if nodeCredits == Factory.nodesPerFrame {
            nodeCredits = 0
            framesLeft += 1
        }
    }

    /// Frames each object type costs.
    public static func cost(of type: ObjectType) -> UInt64 {
        switch type {
        case .thread: return 1           // TCB + FPU area
        case .task: return 4             // task, PML4 and the two-frame capability space (page tables below are charged as used)
        case .endpoint: return 1
        case .factory: return 1
        case .interrupt: return 1
        case .empty, .machine, .interruptController, .reply, .physicalMemory: return 0
        case .virtualMachine: return 4   // as a task
        case .virtualCPU: return 3       // the TCB, the VCPU and its VMCS/VMCB
        }
    }
}
