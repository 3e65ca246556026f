import XCTest
@testable import KernelCore
import SwiftletABI

/// The properties Spin proves of Kernel/Core/Memory/MappingDatabase.pml, checked on the Swift code: a seeded
/// random walk of map (as UserMemory.map does it: a mapping in the way is revoked unless it is an ancestor of
/// the source), grant, unmap, restrict and destroying a task (every mapping of the task revoked with what
/// was derived from it), audited after every step.
final class MappingDatabasePropertyTests: XCTestCase {
    let spaces: [UInt64] = [0x10, 0xA0, 0xB0, 0xC0]    // sigma0 first
    let frame: PhysicalAddress = 0x5000
    var database = MappingDatabase(store: HeapMappingStore())
    var destroyed: Set<UInt64> = []

    /// The live nodes in a fixed order (by page, which names one node), so a seed replays the same walk.
    var nodes: [MappingPointer] {
        database.store.live.sorted { ($0.pointee.space, $0.pointee.virtual) < ($1.pointee.space, $1.pointee.virtual) }
    }

    func node(in space: UInt64, at virtual: VirtualAddress) -> MappingPointer? {
        nodes.first { $0.pointee.space == space && $0.pointee.virtual == virtual }
    }

    func descendants(of top: MappingPointer) -> Set<MappingPointer> {
        Set(nodes.filter { database.isAncestor(top, of: $0) })
    }

    /// Revokes and checks that exactly `top`'s descendants (and `top` with includingSelf) went.
    func revoke(_ top: MappingPointer, includingSelf: Bool, _ step: String) {
        let doomed = descendants(of: top).union(includingSelf ? [top] : [])
        let before = Set(nodes)
        var reported = 0
        database.revoke(top, includingSelf: includingSelf) { _ in reported += 1 }
        XCTAssertEqual(before.subtracting(nodes), doomed, "a revoke removes every derived mapping and only those (\(step))")
        XCTAssertEqual(reported, doomed.count, step)
    }

    /// UserMemory.map with replace: the rights check, then whatever is in the way (unless derived-from).
    func map(_ source: MappingPointer, to space: UInt64, at virtual: VirtualAddress, rights: PageRights, _ step: String) {
        guard !rights.isEmpty, source.pointee.rights.isSuperset(of: rights) else {
            if !rights.isEmpty {
                XCTAssertEqual(database.map(source, to: space, at: virtual, rights: rights).failure, .rightsExceedParent,
                               "more rights than the parent are refused (\(step))")
            }
            return
        }
        if let existing = node(in: space, at: virtual) {
            if existing == source || database.isAncestor(existing, of: source) { return }
            revoke(existing, includingSelf: true, step)
        }
        XCTAssertTrue(database.store.live.contains(source), "a map never revokes its own source (\(step))")
        _ = database.map(source, to: space, at: virtual, rights: rights)
    }

    func grant(_ moving: MappingPointer, to space: UInt64, at virtual: VirtualAddress, _ step: String) {
        if let existing = node(in: space, at: virtual) {
            if existing == moving || database.isAncestor(existing, of: moving) { return }
            revoke(existing, includingSelf: true, step)
        }
        database.grant(moving, to: space, at: virtual)
    }

    func audit(_ root: MappingPointer, _ step: String) {
        var pages = Set<[UInt64]>()
        for node in nodes {
            let mapping = node.pointee
            XCTAssertFalse(destroyed.contains(mapping.space), "no mapping is left in a destroyed task (\(step))")
            XCTAssertTrue(pages.insert([mapping.space, mapping.virtual]).inserted, "one mapping per page (\(step))")
            if let parent = mapping.parent {
                XCTAssertTrue(database.store.live.contains(parent), "no dangling parent (\(step))")
                XCTAssertTrue(parent.pointee.rights.isSuperset(of: mapping.rights), "rights never grow along a chain (\(step))")
                XCTAssertTrue(database.isAncestor(root, of: node), "every chain reaches the root (\(step))")
            } else {
                XCTAssertEqual(node, root, step)
            }
        }
        XCTAssertEqual(database.subtreeSize(root), nodes.count, "every node is in the tree: none leaks (\(step))")
    }

    func testRandomMappingOperationsKeepTheTreeSound() {
        let rightsChoices: [PageRights] = [.read, [.read, .write], .all, .write, .execute, []]
        var random = ReplyWordGenerator(seed: 0x5eed)
        var steps = 0, revokedNodes = 0, destroys = 0
        for walk in 0..<100 {
            database = MappingDatabase(store: HeapMappingStore())
            destroyed = []
            let root = try! database.insertRoot(frame: frame, space: spaces[0], virtual: 0, rights: .all).get()
            for step in 0..<200 {
                let live = nodes
                let source = live[Int(random.next() % UInt64(live.count))]
                let space = spaces[Int(random.next() % UInt64(spaces.count))]
                let virtual = (random.next() % 2) * 0x1000
                let rights = rightsChoices[Int(random.next() % UInt64(rightsChoices.count))]
                let name = "walk \(walk) step \(step)"
                let before = live.count
                switch random.next() % 6 {
                case 0, 1: if !destroyed.contains(space) { map(source, to: space, at: virtual, rights: rights, "\(name): map") }
                case 2: if source != root && !destroyed.contains(space) { grant(source, to: space, at: virtual, "\(name): grant") }
                case 3: revoke(source, includingSelf: source != root && random.next() % 2 == 0, "\(name): unmap")
                case 4: database.restrict(source, removing: rights) { _ in }
                default:
                    // Destroying a task (issue 12): its mappings go with everything derived from them.
                    guard space != spaces[0], !destroyed.contains(space) else { break }
                    while let mapping = nodes.first(where: { $0.pointee.space == space }) {
                        revoke(mapping, includingSelf: true, "\(name): destroy")
                    }
                    destroyed.insert(space)
                    destroys += 1
                }
                revokedNodes += max(0, before - nodes.count)
                audit(root, name)
                steps += 1
                if testRun!.failureCount > 0 { return }
            }
            database.revoke(root, includingSelf: true) { _ in }
            XCTAssertTrue(database.store.live.isEmpty, "nothing leaks")
        }
        XCTAssertEqual(steps, 100 * 200)
        print("mapping database random walk: \(steps) steps audited, \(revokedNodes) nodes revoked, \(destroys) tasks destroyed")
    }
}
