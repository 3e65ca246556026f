import XCTest
@testable import KernelCore
import SwiftletABI

final class CapabilityTests: XCTestCase {
    func testPackingPutsTypeRightsAndBadgeInTheirBits() {
        let capability = Capability(type: .endpoint, object: 0xFFFF_8000_0012_3000, rights: [.send, .grant], badge: 0x1234)
        XCTAssertEqual(capability.object, 0xFFFF_8000_0012_3000)
        XCTAssertEqual(capability.info, 3 | 0x5 << 8 | 0x1234 << 16)
        XCTAssertEqual(capability.type, .endpoint)
        XCTAssertEqual(capability.rights, [.send, .grant])
        XCTAssertEqual(capability.badge, 0x1234)
        XCTAssertFalse(capability.isEmpty)
        XCTAssertEqual(Capability(object: capability.object, info: capability.info), capability)
    }

    func testEveryTypeAndRightsCombinationRoundTrips() {
        let types: [ObjectType] = [.task, .thread, .endpoint, .factory, .machine]
        for type in types {
            for raw in UInt8(0)...0xF {
                let rights = Rights(rawValue: raw)
                let capability = Capability(type: type, object: 0x1000, rights: rights, badge: Capability.maximumBadge)
                XCTAssertEqual(capability.type, type)
                XCTAssertEqual(capability.rights, rights)
                XCTAssertEqual(capability.badge, Capability.maximumBadge)
            }
        }
    }

    func testBadgeIsLimitedTo48BitsAndCannotCorruptTypeOrRights() {
        XCTAssertEqual(Capability.maximumBadge, 0xFFFF_FFFF_FFFF)
        let capability = Capability(type: .thread, object: 1, rights: .control, badge: UInt64.max)
        XCTAssertEqual(capability.badge, Capability.maximumBadge)
        XCTAssertEqual(capability.type, .thread)
        XCTAssertEqual(capability.rights, .control)
        XCTAssertEqual(Capability(type: .endpoint, object: 1, rights: .send, badge: 1 << 48).badge, 0)
    }

    func testEmptyAndUnknownTypesAreEmpty() {
        XCTAssertTrue(Capability.empty.isEmpty)
        XCTAssertEqual(Capability.empty.type, .empty)
        XCTAssertEqual(Capability.empty.rights, [])
        XCTAssertTrue(Capability(object: 0x1000, info: 0xFF).isEmpty, "an undefined type byte names nothing")
        XCTAssertTrue(Capability(type: .empty, object: 0x1000, rights: .all).isEmpty)
        XCTAssertFalse(Capability(type: .machine, object: 0, rights: []).isEmpty, "object 0 and no rights is still a capability")
    }

    func testDerivedOnlyLosesRights() {
        let original = Capability(type: .endpoint, object: 0x5000, rights: [.send, .receive, .grant], badge: 7)
        let derived = original.derived(rights: [.send, .control])
        XCTAssertEqual(derived.rights, .send, "control is not gained, receive and grant are lost")
        XCTAssertEqual(derived.type, .endpoint)
        XCTAssertEqual(derived.object, 0x5000)
        XCTAssertEqual(derived.badge, 7)
        XCTAssertEqual(original.derived(rights: .all), original)
        XCTAssertEqual(original.derived(rights: []).rights, [])

        for have in UInt8(0)...0xF {
            for mask in UInt8(0)...0xF {
                let capability = Capability(type: .thread, object: 0x9000, rights: Rights(rawValue: have))
                let copy = capability.derived(rights: Rights(rawValue: mask))
                XCTAssertEqual(copy.rights.rawValue, have & mask)
                XCTAssertTrue(capability.rights.isSuperset(of: copy.rights))
                XCTAssertEqual(copy.type, .thread)
                XCTAssertEqual(copy.object, 0x9000)
            }
        }
    }

    func testDerivedKeepsOrReplacesTheBadge() {
        let original = Capability(type: .endpoint, object: 0x5000, rights: .all, badge: 0xAAAA)
        XCTAssertEqual(original.derived(rights: .all).badge, 0xAAAA, "badge 0 keeps the badge")
        XCTAssertEqual(original.derived(rights: .all, badge: 0).badge, 0xAAAA)
        XCTAssertEqual(original.derived(rights: .all, badge: 0xBBBB).badge, 0xBBBB)
        let rebadged = original.derived(rights: .send, badge: 0x1_0000_0000)
        XCTAssertEqual(rebadged.badge, 0x1_0000_0000)
        XCTAssertEqual(rebadged.rights, .send)
        XCTAssertEqual(rebadged.type, .endpoint)
        let unbadged = Capability(type: .endpoint, object: 0x5000, rights: .all)
        XCTAssertEqual(unbadged.derived(rights: .all, badge: 3).badge, 3)
        XCTAssertEqual(original.derived(rights: .all, badge: UInt64.max).badge, Capability.maximumBadge, "truncated to 48 bits")
    }
}

/// The copy operation's rule: a badge only on endpoints, and only on an unbadged capability.
final class CapabilityCopyTests: XCTestCase {
    func testABadgedCapabilityTakesNoOtherBadge() throws {
        let given = Capability(type: .endpoint, object: 0x5000, rights: .send, badge: 3)
        XCTAssertEqual(given.copied(rights: .all, badge: 99), .failure(.missingRight), "a sender cannot pose as another")
        let kept = try given.copied(rights: .all, badge: 0).get()
        XCTAssertEqual(kept.badge, 3, "badge 0 keeps the badge")
        XCTAssertEqual(kept.rights, .send, "rights never grow")
        let owner = Capability(type: .endpoint, object: 0x5000, rights: [.send, .receive, .grant])
        let minted = try owner.copied(rights: .send, badge: 7).get()
        XCTAssertEqual(minted.badge, 7)
        XCTAssertEqual(minted.rights, .send)
        XCTAssertEqual(minted.copied(rights: .send, badge: 8), .failure(.missingRight), "not even by whoever minted it")
        let plainSend = Capability(type: .endpoint, object: 0x5000, rights: .send)
        XCTAssertEqual(try plainSend.copied(rights: .send, badge: 9).get().badge, 9, "an unbadged one may be badged")
        XCTAssertEqual(owner.copied(rights: .send, badge: Capability.maximumBadge + 1), .failure(.invalidArgument))
        let thread = Capability(type: .thread, object: 0x6000, rights: .all)
        XCTAssertEqual(thread.copied(rights: .all, badge: 1), .failure(.invalidArgument), "only endpoints carry badges")
    }
}

final class CapabilitySpaceTests: XCTestCase {
    var fixture: KernelObjectFixture!
    override func setUp() { fixture = KernelObjectFixture() }
    override func tearDown() { fixture = nil }

    let endpoint = Capability(type: .endpoint, object: 0xE000, rights: [.send, .grant], badge: 42)

    func testInitClearsEverySlot() {
        let storage = fixture.capabilityStorage()
        XCTAssertFalse(storage[17].capability.isEmpty, "the fixture hands out dirty storage")
        let space = CapabilitySpace(storage: storage)
        for slot in 0..<CapabilitySpace.slots {
            XCTAssertEqual(storage[slot].capability, .empty)
            XCTAssertNil(storage[slot].next)
        }
        for selector: UInt64 in [0, 1, 128, 255] {
            XCTAssertEqual(space.canInsert(at: selector), selector == 0 ? .selectorOutOfRange : .ok)
        }
    }

    func testLookupChecksRangeFirst() {
        let space = fixture.capabilitySpace()
        for selector: UInt64 in [256, 257, 1 << 32, UInt64.max] {
            XCTAssertEqual(space.lookup(selector, type: .endpoint, rights: .all), .failure(.selectorOutOfRange))
            XCTAssertEqual(space.slot(selector), .failure(.selectorOutOfRange))
        }
    }

    func testLookupChecksPresenceBeforeTypeAndRights() {
        let space = fixture.capabilitySpace()
        XCTAssertEqual(space.lookup(5, type: .thread, rights: .all), .failure(.emptySlot))
        XCTAssertEqual(space.lookup(255, type: .endpoint), .failure(.emptySlot))
        XCTAssertEqual(space.slot(5), .failure(.emptySlot))
    }

    func testLookupChecksTypeBeforeRights() {
        let space = fixture.capabilitySpace()
        XCTAssertEqual(space.insert(endpoint, at: 5), .ok)
        XCTAssertEqual(space.lookup(5, type: .thread, rights: .control), .failure(.wrongObjectType),
                       "wrong type and missing right: the type is reported")
        XCTAssertEqual(space.lookup(5, type: .thread), .failure(.wrongObjectType))
        XCTAssertEqual(space.lookup(5, type: .endpoint, rights: .receive), .failure(.missingRight))
        XCTAssertEqual(space.lookup(5, type: .endpoint, rights: [.send, .receive]), .failure(.missingRight),
                       "all requested rights are needed")
    }

    func testLookupSucceedsWithTheRightTypeAndRights() {
        let space = fixture.capabilitySpace()
        XCTAssertEqual(space.insert(endpoint, at: 255), .ok)
        XCTAssertEqual(space.lookup(255, type: .endpoint), .success(endpoint))
        XCTAssertEqual(space.lookup(255, type: .endpoint, rights: .send), .success(endpoint))
        XCTAssertEqual(space.lookup(255, type: .endpoint, rights: [.send, .grant]), .success(endpoint))
        XCTAssertEqual(space.slot(255), .success(endpoint))
    }

    func testSelectorZeroIsAlwaysEmptyAndNeverTakesACapability() {
        let storage = fixture.capabilityStorage()
        let space = CapabilitySpace(storage: storage)
        XCTAssertEqual(space.insert(endpoint, at: 0), .selectorOutOfRange)
        XCTAssertEqual(space.canInsert(at: 0), .selectorOutOfRange)
        XCTAssertEqual(storage[0].capability, .empty)
        XCTAssertEqual(space.slot(0), .failure(.emptySlot))
        XCTAssertEqual(space.lookup(0, type: .endpoint), .failure(.emptySlot))
        XCTAssertEqual(space.delete(0), .emptySlot)

        // Even if slot 0 held something, selector 0 would still mean "none".
        storage[0].capability = endpoint
        XCTAssertEqual(space.slot(0), .failure(.emptySlot))
        XCTAssertEqual(space.lookup(0, type: .endpoint), .failure(.emptySlot))
        XCTAssertEqual(space.delete(0), .emptySlot)
        XCTAssertEqual(storage[0].capability, endpoint, "a failed delete changes nothing")
    }

    func testInsertFillsOnlyEmptySlots() {
        let space = fixture.capabilitySpace()
        let thread = Capability(type: .thread, object: 0x7000, rights: .control)
        XCTAssertEqual(space.canInsert(at: 9), .ok)
        XCTAssertEqual(space.insert(endpoint, at: 9), .ok)
        XCTAssertEqual(space.canInsert(at: 9), .slotOccupied)
        XCTAssertEqual(space.insert(thread, at: 9), .slotOccupied)
        XCTAssertEqual(space.slot(9), .success(endpoint), "the occupant stays")
        XCTAssertEqual(space.insert(thread, at: 10), .ok)
        XCTAssertEqual(space.slot(10), .success(thread))
        XCTAssertEqual(space.slot(9), .success(endpoint))
        XCTAssertEqual(space.insert(thread, at: 256), .selectorOutOfRange)
        XCTAssertEqual(space.canInsert(at: 256), .selectorOutOfRange)
        XCTAssertEqual(space.canInsert(at: UInt64.max), .selectorOutOfRange)
        XCTAssertEqual(space.insert(thread, at: 255), .ok)
    }

    func testDeleteEmptiesTheSlot() {
        let space = fixture.capabilitySpace()
        XCTAssertEqual(space.insert(endpoint, at: 3), .ok)
        XCTAssertEqual(space.insert(endpoint, at: 4), .ok)
        XCTAssertEqual(space.delete(3), .ok)
        XCTAssertEqual(space.slot(3), .failure(.emptySlot))
        XCTAssertEqual(space.canInsert(at: 3), .ok)
        XCTAssertEqual(space.slot(4), .success(endpoint), "the neighbour stays")
        XCTAssertEqual(space.delete(3), .emptySlot, "deleting twice fails")
        XCTAssertEqual(space.delete(300), .selectorOutOfRange)
        XCTAssertEqual(space.insert(endpoint, at: 3), .ok, "the slot can be reused")
    }

    func testSpacesDoNotShareSlots() {
        let first = fixture.capabilitySpace()
        let second = fixture.capabilitySpace()
        XCTAssertEqual(first.insert(endpoint, at: 8), .ok)
        XCTAssertEqual(second.slot(8), .failure(.emptySlot))
        XCTAssertEqual(second.insert(endpoint.derived(rights: .send), at: 8), .ok)
        XCTAssertEqual(first.slot(8), .success(endpoint))
    }
}
