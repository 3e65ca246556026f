import XCTest
@testable import KernelCore
import SwiftletABI

/// Nodes from the heap, roots in a dictionary; counts what is alive so leaks show.
final class HeapMappingStore: MappingStore {
    var roots: [PhysicalAddress: MappingPointer] = [:]
    var live = Set<MappingPointer>()
    var budget = Int.max

    func allocateNode() -> MappingPointer? {
        guard budget > 0 else { return nil }
        budget -= 1
        let node = MappingPointer.allocate(capacity: 1)
        live.insert(node)
        return node
    }

    func freeNode(_ node: MappingPointer) {
        XCTAssertTrue(live.remove(node) != nil, "freed twice or never allocated")
        node.deallocate()
    }

    func root(of frame: PhysicalAddress) -> MappingPointer? { roots[frame] }
    func setRoot(_ node: MappingPointer?, of frame: PhysicalAddress) { roots[frame] = node }
}

final class MappingDatabaseTests: XCTestCase {
    let (sigma0, a, b, c): (UInt64, UInt64, UInt64, UInt64) = (0x10, 0xA0, 0xB0, 0xC0)
    var database = MappingDatabase(store: HeapMappingStore())

    override func setUp() {
        database = MappingDatabase(store: HeapMappingStore())
    }

    func root(_ frame: PhysicalAddress = 0x5000) -> MappingPointer {
        try! database.insertRoot(frame: frame, space: sigma0, virtual: frame, rights: .all).get()
    }

    func testEachFrameHasOneOwner() {
        _ = root()
        XCTAssertEqual(database.insertRoot(frame: 0x5000, space: a, virtual: 0, rights: .all).failure, .alreadyOwned)
        XCTAssertNotNil(try? database.insertRoot(frame: 0x6000, space: a, virtual: 0, rights: .all).get())
    }

    func testDerivedRightsNeverExceedTheParent() {
        let owner = root()
        let readOnly = try! database.map(owner, to: a, at: 0x40_0000, rights: .read).get()
        XCTAssertEqual(database.map(readOnly, to: b, at: 0x1000, rights: [.read, .write]).failure, .rightsExceedParent)
        XCTAssertEqual(database.map(readOnly, to: b, at: 0x1000, rights: [.read, .execute]).failure, .rightsExceedParent)
        let again = try! database.map(readOnly, to: b, at: 0x1000, rights: .read).get()
        XCTAssertEqual(again.pointee.frame, 0x5000)
        XCTAssertEqual(again.pointee.parent, readOnly)
    }

    func testFindLocatesEveryMappingOfAFrame() {
        let owner = root()
        let inA = try! database.map(owner, to: a, at: 0x1000, rights: .all).get()
        let inB = try! database.map(inA, to: b, at: 0x2000, rights: .read).get()
        let inC = try! database.map(owner, to: c, at: 0x3000, rights: .read).get()
        let inC2 = try! database.map(inB, to: c, at: 0x4000, rights: .read).get()
        XCTAssertEqual(database.find(frame: 0x5000, space: sigma0, virtual: 0x5000), owner)
        XCTAssertEqual(database.find(frame: 0x5000, space: a, virtual: 0x1000), inA)
        XCTAssertEqual(database.find(frame: 0x5000, space: b, virtual: 0x2000), inB)
        XCTAssertEqual(database.find(frame: 0x5000, space: c, virtual: 0x3000), inC)
        XCTAssertEqual(database.find(frame: 0x5000, space: c, virtual: 0x4000), inC2)
        XCTAssertNil(database.find(frame: 0x5000, space: c, virtual: 0x5000))
        XCTAssertNil(database.find(frame: 0x6000, space: a, virtual: 0x1000))
        XCTAssertEqual(database.subtreeSize(owner), 5)
        XCTAssertEqual(database.subtreeSize(inA), 3)
    }

    /// A maps to B, B to C: when A's mapping to B is revoked, C loses the page too.
    func testRevocationIsRecursive() {
        let owner = root()
        let inA = try! database.map(owner, to: a, at: 0x1000, rights: .all).get()
        let inB = try! database.map(inA, to: b, at: 0x2000, rights: [.read, .write]).get()
        _ = try! database.map(inB, to: c, at: 0x3000, rights: .read).get()
        _ = try! database.map(inB, to: c, at: 0x7000, rights: .read).get()
        let sibling = try! database.map(inA, to: c, at: 0x9000, rights: .read).get()
        var removed: [(UInt64, UInt64)] = []
        database.revoke(inB, includingSelf: true) { removed.append(($0.space, $0.virtual)) }
        XCTAssertEqual(removed.count, 3)
        XCTAssertEqual(removed.last?.0, b, "children go before their parent")
        XCTAssertEqual(Set(removed.map(\.1)), [0x2000, 0x3000, 0x7000])
        XCTAssertNil(database.find(frame: 0x5000, space: c, virtual: 0x3000))
        XCTAssertNil(database.find(frame: 0x5000, space: b, virtual: 0x2000))
        XCTAssertEqual(database.find(frame: 0x5000, space: c, virtual: 0x9000), sibling, "other branches stay")
        XCTAssertEqual(database.subtreeSize(owner), 3)
        XCTAssertEqual(database.store.live.count, 3)
    }

    func testRevokingOnlyTheChildrenKeepsTheNode() {
        let owner = root()
        let inA = try! database.map(owner, to: a, at: 0x1000, rights: .all).get()
        for index in 0..<50 { _ = try! database.map(inA, to: b, at: UInt64(index) * 0x1000, rights: .read).get() }
        var count = 0
        database.revoke(inA, includingSelf: false) { _ in count += 1 }
        XCTAssertEqual(count, 50)
        XCTAssertNil(inA.pointee.firstChild)
        XCTAssertEqual(database.find(frame: 0x5000, space: a, virtual: 0x1000), inA)
        database.revoke(owner, includingSelf: true) { _ in }
        XCTAssertNil(database.store.root(of: 0x5000))
        XCTAssertTrue(database.store.live.isEmpty, "nothing leaks")
        XCTAssertNotNil(try? database.insertRoot(frame: 0x5000, space: a, virtual: 0, rights: .all).get(),
                        "a fully revoked frame can be owned again")
    }

    func testGrantMovesTheMappingWithItsSubtree() {
        let owner = root()
        let inA = try! database.map(owner, to: a, at: 0x1000, rights: .all).get()
        let derived = try! database.map(inA, to: c, at: 0x3000, rights: .read).get()
        database.grant(inA, to: b, at: 0x8000)
        XCTAssertNil(database.find(frame: 0x5000, space: a, virtual: 0x1000))
        XCTAssertEqual(database.find(frame: 0x5000, space: b, virtual: 0x8000), inA)
        XCTAssertEqual(derived.pointee.parent, inA)
        var removed = 0
        database.revoke(inA, includingSelf: false) { _ in removed += 1 }
        XCTAssertEqual(removed, 1)
    }

    func testRestrictTakesRightsFromDescendantsOnly() {
        let owner = root()
        let inA = try! database.map(owner, to: a, at: 0x1000, rights: [.read, .write]).get()
        let inB = try! database.map(inA, to: b, at: 0x2000, rights: [.read, .write]).get()
        let inC = try! database.map(inB, to: c, at: 0x3000, rights: .read).get()
        var changed: [UInt64] = []
        database.restrict(owner, removing: .write) { changed.append($0.space) }
        XCTAssertEqual(owner.pointee.rights, .all)
        XCTAssertEqual(inA.pointee.rights, .read)
        XCTAssertEqual(inB.pointee.rights, .read)
        XCTAssertEqual(inC.pointee.rights, .read)
        XCTAssertEqual(Set(changed), [a, b], "only mappings that lost a right are reported")
    }

    /// Revocation wins over a pin, from above and from below: the kernel's callback sees which thread
    /// used the page as its UTCB just before the node goes (so it can stop that thread and detach it).
    /// What UserMemory asks before it replaces a destination: is it a mapping the source came from?
    func testAncestorsAreTheMappingsANodeWasDerivedFrom() {
        let owner = root()
        let inA = try! database.map(owner, to: a, at: 0x1000, rights: .all).get()
        let inB = try! database.map(inA, to: b, at: 0x2000, rights: .all).get()
        let sibling = try! database.map(owner, to: c, at: 0x3000, rights: .all).get()
        XCTAssertTrue(database.isAncestor(inA, of: inB))
        XCTAssertTrue(database.isAncestor(owner, of: inB))
        XCTAssertFalse(database.isAncestor(inB, of: inA), "a child is no ancestor")
        XCTAssertFalse(database.isAncestor(inB, of: inB), "nor is the node itself")
        XCTAssertFalse(database.isAncestor(sibling, of: inB))
    }

    func testRevokingAPinnedMappingReportsItsThreadFromAboveAndBelow() {
        let owner = root()
        let pager = try! database.map(owner, to: a, at: 0x1000, rights: .all).get()
        let utcb = try! database.map(pager, to: b, at: 0x2000, rights: [.read, .write]).get()
        utcb.pointee.pinnedBy = 0x7777_0000
        _ = try! database.map(utcb, to: c, at: 0x3000, rights: .read).get()
        var pins: [UInt64] = []
        database.revoke(pager, includingSelf: false) { if $0.pinned { pins.append($0.pinnedBy) } }
        XCTAssertEqual(pins, [0x7777_0000], "from above: the pager's revoke reaches the pinned page")
        XCTAssertNil(database.find(frame: 0x5000, space: b, virtual: 0x2000))
        XCTAssertEqual(database.store.live.count, 2)

        let again = try! database.map(pager, to: b, at: 0x2000, rights: [.read, .write]).get()
        again.pointee.pinnedBy = 0x8888_0000
        pins = []
        database.revoke(again, includingSelf: true) { if $0.pinned { pins.append($0.pinnedBy) } }
        XCTAssertEqual(pins, [0x8888_0000], "from below: the owner's own unmap removes it too")
        XCTAssertNil(database.find(frame: 0x5000, space: b, virtual: 0x2000))
    }

    /// A pinned page that loses write is reported in place, so the kernel can unpin it.
    func testRestrictLetsTheCallerUnpinAMappingThatLostWrite() {
        let owner = root()
        let utcb = try! database.map(owner, to: b, at: 0x2000, rights: [.read, .write]).get()
        utcb.pointee.pinnedBy = 0x7777_0000
        var seen: [UInt64] = []
        database.restrict(owner, removing: .write) { mapping in
            seen.append(mapping.pinnedBy)
            mapping.pinnedBy = 0
        }
        XCTAssertEqual(seen, [0x7777_0000])
        XCTAssertFalse(utcb.pointee.pinned)
        XCTAssertEqual(utcb.pointee.rights, .read)
    }

    /// Each node is paid by the receiver's factory and refunded when freed: 100,000 map/unmap cycles
    /// end with the quota where it started (before, every 64 cycles cost a frame for good).
    func testMappingNodesAreRefundedToTheFactoryThatPaid() {
        let owner = root()
        let factory = UnsafeMutablePointer<Factory>.allocate(capacity: 1)
        defer { factory.deallocate() }
        factory.initialize(to: Factory(framesLeft: 6))
        for cycle in 0..<100_000 {
            guard case .success(let node) = database.map(owner, to: a, at: 0x1000, rights: .read, payer: factory) else {
                return XCTFail("map failed in cycle \(cycle) with \(factory.pointee.framesLeft) frames left")
            }
            XCTAssertEqual(node.pointee.payer, factory)
            database.revoke(node, includingSelf: true) { _ in }
        }
        XCTAssertEqual(factory.pointee.framesLeft, 6)
        XCTAssertEqual(factory.pointee.nodeCredits, 0)

        // Many alive at once: one frame per `nodesPerFrame` nodes, all back once they go.
        let count = Int(Factory.nodesPerFrame) * 2 + 1
        for index in 0..<count {
            _ = try! database.map(owner, to: b, at: UInt64(index) * 0x1000, rights: .read, payer: factory).get()
        }
        XCTAssertEqual(factory.pointee.framesLeft, 3)
        database.revoke(owner, includingSelf: false) { _ in }
        XCTAssertEqual(factory.pointee.framesLeft, 6)
        XCTAssertTrue(database.store.live.count == 1, "only the root is left")
    }

    /// A map the factory cannot pay for, or that finds no node, takes nothing.
    func testAFailedMapKeepsTheQuota() {
        let owner = root()
        let factory = UnsafeMutablePointer<Factory>.allocate(capacity: 1)
        defer { factory.deallocate() }
        factory.initialize(to: Factory(framesLeft: 0))
        XCTAssertEqual(database.map(owner, to: a, at: 0, rights: .read, payer: factory).failure, .quotaExceeded)
        factory.pointee.framesLeft = 1
        database.store.budget = 0
        XCTAssertEqual(database.map(owner, to: a, at: 0, rights: .read, payer: factory).failure, .outOfMemory)
        XCTAssertEqual(factory.pointee.framesLeft, 1)
        XCTAssertEqual(factory.pointee.nodeCredits, 0)
    }

    func testOutOfNodesIsAnError() {
        let owner = root()
        database.store.budget = 0
        XCTAssertEqual(database.map(owner, to: a, at: 0, rights: .read).failure, .outOfMemory)
        XCTAssertEqual(database.insertRoot(frame: 0x9000, space: a, virtual: 0, rights: .read).failure, .outOfMemory)
    }

    func testFlexpageEncoding() {
        let page = Flexpage(base: 0x40_0000, order: 21, rights: [.read, .write])
        XCTAssertEqual(page.base, 0x40_0000)
        XCTAssertEqual(page.size, 0x20_0000)
        XCTAssertEqual(page.pages, 512)
        XCTAssertEqual(page.rights, [.read, .write])
        XCTAssertTrue(page.isValid)
        XCTAssertFalse(Flexpage(base: 0x40_1000, order: 21, rights: .read).isValid, "not aligned to its size")
        XCTAssertFalse(Flexpage(base: 0, order: 11, rights: .read).isValid, "smaller than a page")
        XCTAssertFalse(Flexpage(base: 0, order: 48, rights: .read).isValid, "larger than user space")
        XCTAssertEqual(Flexpage(raw: page.raw), page)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Where the pages of a map or grant item land in the receive window.
final class MemoryPlacementTests: XCTestCase {
    func page(_ base: UInt64, _ order: Int) -> Flexpage { Flexpage(base: base, order: order, rights: .all) }

    func testASmallerSendPageGoesWhereTheHotSpotPointsInTheWindow() {
        // 4 KiB into a 2 MiB window, hot spot 0x13_5678 → the page containing window + 0x13_5000.
        XCTAssertEqual(MemoryPlacement(send: page(0x7000, 12), window: page(0x4000_0000, 21), hotSpot: 0x13_5678),
                       MemoryPlacement(source: 0x7000, destination: 0x4013_5000, pages: 1))
        // 64 KiB into 2 MiB: aligned to 64 KiB within the window.
        XCTAssertEqual(MemoryPlacement(send: page(0x10_0000, 16), window: page(0x4000_0000, 21), hotSpot: 0x1F_FFFF),
                       MemoryPlacement(source: 0x10_0000, destination: 0x401F_0000, pages: 16))
        // Same size: the whole window.
        XCTAssertEqual(MemoryPlacement(send: page(0x20_0000, 21), window: page(0x4000_0000, 21), hotSpot: 0x12_3456),
                       MemoryPlacement(source: 0x20_0000, destination: 0x4000_0000, pages: 512))
    }

    func testALargerSendPageGivesOnlyTheWindowSizedPartAroundTheHotSpot() {
        XCTAssertEqual(MemoryPlacement(send: page(0x4000_0000, 30), window: page(0x7000, 12), hotSpot: 0x1234_5678),
                       MemoryPlacement(source: 0x5234_5000, destination: 0x7000, pages: 1))
    }

    /// A send page that is valid (aligned, order 12) but ends at 2^64 used to overflow `source + pages *
    /// 4096` in the kernel. Placement now refuses any flexpage not wholly inside user space, sent or window.
    func testPagesOutsideUserSpacePlaceNothing() {
        let top = Flexpage(base: 0xFFFF_FFFF_FFFF_F000, order: 12, rights: .all)
        XCTAssertTrue(top.isValid)
        XCTAssertFalse(top.isUserRange)
        XCTAssertNil(MemoryPlacement(send: top, window: page(0x4000_0000, 21), hotSpot: 0))
        XCTAssertNil(MemoryPlacement(send: top, window: page(0, 47), hotSpot: 0xFFFF_FFFF_FFFF_F000), "the pager's reply")
        XCTAssertNil(MemoryPlacement(send: page(0x1000, 12), window: top, hotSpot: 0))
        XCTAssertNil(MemoryPlacement(send: page(0x8000_0000_0000, 12), window: page(0, 47), hotSpot: 0), "just past user space")
        XCTAssertNil(MemoryPlacement(send: page(0xFFFF_8000_0000_0000, 47), window: page(0, 47), hotSpot: 0), "the kernel half")
        // Inside user space, whatever the hot spot, the ranges stay below 2^47.
        let last = page(0x7FFF_FFFF_F000, 12)
        XCTAssertTrue(last.isUserRange)
        XCTAssertEqual(last.end, Flexpage.userSpaceEnd)
        for hotSpot: UInt64 in [0, 0xFFF, 0x7FFF_FFFF_FFFF, UInt64.max] {
            for (send, window) in [(page(0, 47), last), (last, page(0, 47)), (page(0x4000_0000_0000, 46), page(0, 30))] {
                guard let placed = MemoryPlacement(send: send, window: window, hotSpot: hotSpot) else { return XCTFail() }
                XCTAssertLessThanOrEqual(placed.source + placed.pages * 4096, Flexpage.userSpaceEnd)
                XCTAssertLessThanOrEqual(placed.destination + placed.pages * 4096, Flexpage.userSpaceEnd)
            }
        }
        XCTAssertEqual(Flexpage.userSpaceEnd, KernelAddressSpace.userSpaceEnd)
    }

    func testInvalidPagesPlaceNothing() {
        XCTAssertNil(MemoryPlacement(send: Flexpage(base: 0x1000, order: 13, rights: .all), window: page(0, 21), hotSpot: 0))
        XCTAssertNil(MemoryPlacement(send: page(0x1000, 12), window: Flexpage(raw: 0), hotSpot: 0))
    }
}
