import XCTest
@testable import KernelCore
import SwiftletABI

/// Quota bookkeeping: whatever a charge took, the matching refund gives back exactly.
final class FactoryTests: XCTestCase {
    func testAChargeThatDoesNotFitTakesNothing() {
        var factory = Factory(framesLeft: 2)
        XCTAssertFalse(factory.charge(3))
        XCTAssertEqual(factory.framesLeft, 2)
        XCTAssertTrue(factory.charge(2))
        XCTAssertEqual(factory.framesLeft, 0)
        factory.refund(2)
        XCTAssertEqual(factory.framesLeft, 2, "a create that failed after its charge leaves the quota as it was")
    }

    func testNodeChargesAndRefundsInAnyOrderEndWhereTheyStarted() {
        var factory = Factory(framesLeft: 10)
        var alive = 0
        // Grow to 3 frames' worth, shrink to 1 node, grow again, then free all.
        for step in [3 * Int(Factory.nodesPerFrame), -(3 * Int(Factory.nodesPerFrame) - 1), 100, -101] {
            for _ in 0..<abs(step) {
                if step > 0 { XCTAssertTrue(factory.chargeNode()); alive += 1 } else { factory.refundNode(); alive -= 1 }
                let framesInUse = (UInt64(alive) + Factory.nodesPerFrame - 1) / Factory.nodesPerFrame
                XCTAssertEqual(factory.framesLeft, 10 - framesInUse, "one frame per started group of nodes")
            }
        }
        XCTAssertEqual(factory.framesLeft, 10)
        XCTAssertEqual(factory.nodeCredits, 0)
    }

    func testANodeCannotBeChargedWithoutQuota() {
        var factory = Factory(framesLeft: 0)
        XCTAssertFalse(factory.chargeNode())
        XCTAssertEqual(factory.nodeCredits, 0)
    }

    func testNodesPerFrameMatchesTheNodeSize() {
        XCTAssertEqual(Factory.nodesPerFrame, UInt64(4096 / MemoryLayout<Mapping>.stride))
        XCTAssertGreaterThan(Factory.nodesPerFrame, 0)
        XCTAssertEqual(Factory.cost(of: .virtualCPU), 3, "TCB, VCPU, VMCS/VMCB")
    }
}
