import XCTest
@testable import KernelCore
import SwiftletABI

final class SchedulerTests: XCTestCase {
    var fixture: KernelObjectFixture!
    var scheduler = Scheduler(hz: 100)
    override func setUp() {
        fixture = KernelObjectFixture()
        scheduler = Scheduler(hz: 100)
    }
    override func tearDown() { fixture = nil }

    /// Ticks `count` times, waking expired threads without touching their registers; returns them in order.
    @discardableResult
    func tick(_ count: Int = 1) -> [ThreadPointer] {
        var expired: [ThreadPointer] = []
        for _ in 0..<count {
            scheduler.tick { thread, scheduler in
                expired.append(thread)
                scheduler.wake(thread)
            }
        }
        return expired
    }

    func testStartRunsTheThreadWithAFullTimeslice() {
        let a = fixture.thread(priority: 5, timeslice: 7)
        XCTAssertNil(scheduler.current)
        scheduler.start(a)
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(a.pointee.state, .running)
        XCTAssertEqual(a.pointee.ticksLeft, 7)
        XCTAssertNil(scheduler.ready.highestPriority, "the running thread is not in a ready queue")
        XCTAssertEqual(scheduler.hz, 100)
        XCTAssertEqual(scheduler.now, 0)
    }

    func testChooseNextFromIdlePicksTheHighestReadyThread() {
        let (low, high, high2) = (fixture.thread(priority: 1), fixture.thread(priority: 9), fixture.thread(priority: 9))
        scheduler.chooseNext()
        XCTAssertNil(scheduler.current, "nothing ready: idle")
        scheduler.wake(low)
        scheduler.wake(high)
        scheduler.wake(high2)
        XCTAssertNil(scheduler.current, "waking from idle does not switch by itself")
        XCTAssertEqual(high.pointee.state, .ready)
        scheduler.chooseNext()
        XCTAssertEqual(scheduler.current, high)
        XCTAssertEqual(high.pointee.state, .running)
        scheduler.chooseNext()
        XCTAssertEqual(scheduler.current, high, "chooseNext leaves a running thread alone")
        XCTAssertEqual(drain(&scheduler.ready), [high2, low])
    }

    func testWakePreemptsOnlyOnStrictlyHigherPriority() {
        let running = fixture.thread(priority: 10)
        scheduler.start(running)

        let equal = fixture.thread(priority: 10)
        scheduler.wake(equal)
        XCTAssertEqual(scheduler.current, running, "equal priority does not preempt")
        XCTAssertEqual(running.pointee.state, .running)
        XCTAssertEqual(equal.pointee.state, .ready)

        let lower = fixture.thread(priority: 9)
        scheduler.wake(lower)
        XCTAssertEqual(scheduler.current, running, "lower priority does not preempt")
        XCTAssertEqual(lower.pointee.state, .ready)

        let higher = fixture.thread(priority: 11)
        scheduler.wake(higher)
        XCTAssertEqual(scheduler.current, higher)
        XCTAssertEqual(higher.pointee.state, .running)
        XCTAssertEqual(running.pointee.state, .ready, "the preempted thread stays runnable")
        XCTAssertEqual(scheduler.ready.highestPriority, 10)
        XCTAssertEqual(Set(drain(&scheduler.ready)), Set([running, equal, lower]))
    }

    func testWakeRefillsAnEmptyTimesliceOnlyAndLeavesTheTimeoutList() {
        let running = fixture.thread(priority: 10)
        scheduler.start(running)
        let a = fixture.thread(priority: 1, timeslice: 5)
        let b = fixture.thread(priority: 1, timeslice: 5)
        b.pointee.ticksLeft = 2
        scheduler.armTimeout(a, .microseconds(50_000))
        XCTAssertTrue(a.pointee.inTimeoutList)
        scheduler.wake(a)
        scheduler.wake(b)
        XCTAssertEqual(a.pointee.ticksLeft, 5)
        XCTAssertEqual(b.pointee.ticksLeft, 2, "a partly used slice is kept")
        XCTAssertFalse(a.pointee.inTimeoutList)
        XCTAssertNil(scheduler.timeouts.head)
        XCTAssertTrue(tick(10).isEmpty, "a woken thread never expires later")
    }

    func testYieldIsRoundRobinWithinAPriority() {
        let (a, b, c) = (fixture.thread(priority: 4), fixture.thread(priority: 4), fixture.thread(priority: 4))
        let low = fixture.thread(priority: 3)
        scheduler.start(a)
        scheduler.wake(b)
        scheduler.wake(c)
        scheduler.wake(low)
        var order: [ThreadPointer] = []
        for _ in 0..<6 {
            order.append(scheduler.current!)
            scheduler.yield()
        }
        XCTAssertEqual(order, [a, b, c, a, b, c], "the lower priority never runs")
        XCTAssertEqual(low.pointee.state, .ready)
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(b.pointee.state, .ready)
    }

    func testYieldRefillsTheTimeslice() {
        let (a, b) = (fixture.thread(priority: 4, timeslice: 3), fixture.thread(priority: 4, timeslice: 3))
        scheduler.start(a)
        scheduler.wake(b)
        tick()
        XCTAssertEqual(a.pointee.ticksLeft, 2)
        scheduler.yield()
        XCTAssertEqual(scheduler.current, b)
        XCTAssertEqual(a.pointee.ticksLeft, 3)
    }

    func testYieldAloneOrAboveEveryoneKeepsRunning() {
        let (a, low) = (fixture.thread(priority: 4), fixture.thread(priority: 3))
        scheduler.start(a)
        scheduler.yield()
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(a.pointee.state, .running)
        scheduler.wake(low)
        scheduler.yield()
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(a.pointee.state, .running)
        XCTAssertEqual(drain(&scheduler.ready), [low], "the yielder is not left in a ready queue")
    }

    func testYieldFromIdleRunsTheBestReadyThread() {
        let a = fixture.thread(priority: 2)
        scheduler.wake(a)
        scheduler.yield()
        XCTAssertEqual(scheduler.current, a)
    }

    func testTimesliceExpiryRotatesEqualPriority() {
        let (a, b) = (fixture.thread(priority: 6, timeslice: 3), fixture.thread(priority: 6, timeslice: 3))
        scheduler.start(a)
        scheduler.wake(b)
        tick(2)
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(a.pointee.ticksLeft, 1)
        tick()
        XCTAssertEqual(scheduler.now, 3)
        XCTAssertEqual(scheduler.current, b, "a's slice is used up")
        XCTAssertEqual(a.pointee.state, .ready)
        XCTAssertEqual(a.pointee.ticksLeft, 3, "refilled for its next turn")
        XCTAssertEqual(b.pointee.ticksLeft, 3)
        tick(2)
        XCTAssertEqual(scheduler.current, b)
        tick()
        XCTAssertEqual(scheduler.current, a)
    }

    func testTimesliceExpiryDoesNotRotateALoneHigherPriorityThread() {
        let (high, low) = (fixture.thread(priority: 9, timeslice: 2), fixture.thread(priority: 5, timeslice: 2))
        scheduler.start(high)
        scheduler.wake(low)
        for _ in 0..<5 {
            tick()
            XCTAssertEqual(scheduler.current, high)
            XCTAssertEqual(high.pointee.state, .running)
        }
        XCTAssertEqual(high.pointee.ticksLeft, 1, "refilled at expiry, then charged again")
        XCTAssertEqual(low.pointee.state, .ready)
    }

    func testTimesliceExpiryOfTheOnlyThread() {
        let a = fixture.thread(priority: 0, timeslice: 1)
        scheduler.start(a)
        tick(4)
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(a.pointee.ticksLeft, 1)
    }

    func testTickFromIdleRunsAReadyThread() {
        let a = fixture.thread(priority: 1)
        scheduler.wake(a)
        tick()
        XCTAssertEqual(scheduler.current, a)
        XCTAssertEqual(scheduler.now, 1)
    }

    func testArmTimeout() {
        let (a, b, c, d) = (fixture.thread(), fixture.thread(), fixture.thread(), fixture.thread())
        tick(5)
        scheduler.armTimeout(a, .infinite)
        XCTAssertFalse(a.pointee.inTimeoutList, "infinite waits are not in the list")
        // The clock (microseconds by default) stands at 5 ticks of 10 ms; deadlines are not rounded to ticks.
        XCTAssertEqual(scheduler.clock, 50_000)
        scheduler.armTimeout(b, .microseconds(25_000))
        XCTAssertEqual(b.pointee.wakeupTime, 75_000)
        scheduler.armTimeout(c, .microseconds(1))
        XCTAssertEqual(c.pointee.wakeupTime, 50_001)
        scheduler.armTimeout(d, .microseconds(10_000))
        XCTAssertEqual(d.pointee.wakeupTime, 60_000)
        XCTAssertEqual(members(of: scheduler.timeouts), [c, d, b])
    }

    func testExpiredTimeoutsArePassedToTheCallbackOnTheirTick() {
        let idle = fixture.thread(priority: 0)
        scheduler.start(idle)
        let (a, b, c) = (fixture.thread(priority: 1), fixture.thread(priority: 1), fixture.thread(priority: 1))
        scheduler.armTimeout(a, .microseconds(20_000))   // tick 2: the first at or after its deadline
        scheduler.armTimeout(b, .microseconds(30_000))   // tick 3
        scheduler.armTimeout(c, .microseconds(20_000))   // tick 2, after a
        XCTAssertEqual(tick(), [])
        XCTAssertEqual(tick(), [a, c])
        XCTAssertFalse(a.pointee.inTimeoutList)
        XCTAssertEqual(members(of: scheduler.timeouts), [b])
        XCTAssertEqual(tick(), [b])
        XCTAssertEqual(tick(10), [])
        XCTAssertNil(scheduler.timeouts.head)
    }

    func testAnExpiredHigherPriorityThreadPreemptsInTheSameTick() {
        let low = fixture.thread(priority: 1, timeslice: 10)
        scheduler.start(low)
        let high = fixture.thread(priority: 8, timeslice: 10)
        scheduler.armTimeout(high, .microseconds(15_000))
        XCTAssertEqual(tick(), [])
        XCTAssertEqual(tick(), [high])
        XCTAssertEqual(scheduler.current, high)
        XCTAssertEqual(low.pointee.state, .ready)
    }

    func testCurrentBlockedRunsTheNextBestOrIdles() {
        let (a, b) = (fixture.thread(priority: 5), fixture.thread(priority: 3))
        scheduler.start(a)
        scheduler.wake(b)
        a.pointee.state = .receiving
        scheduler.currentBlocked()
        XCTAssertEqual(scheduler.current, b)
        XCTAssertEqual(a.pointee.state, .receiving, "the blocked thread's state is the caller's business")
        b.pointee.state = .receiving
        scheduler.currentBlocked()
        XCTAssertNil(scheduler.current)
    }

    func testSwitchDirectlyHandsTheCPUToTheTarget() {
        let (source, target) = (fixture.thread(priority: 5), fixture.thread(priority: 2, timeslice: 4))
        let lower = fixture.thread(priority: 1)
        scheduler.start(source)
        scheduler.wake(lower)
        target.pointee.state = .receiving
        scheduler.armTimeout(target, .microseconds(100_000))
        source.pointee.state = .waitingForReply
        scheduler.switchDirectly(to: target)
        XCTAssertEqual(scheduler.current, target, "a lower-priority ready thread does not stop the switch")
        XCTAssertEqual(target.pointee.state, .running)
        XCTAssertEqual(target.pointee.ticksLeft, 4)
        XCTAssertFalse(target.pointee.inTimeoutList)
        XCTAssertEqual(drain(&scheduler.ready), [lower], "the switch touches no ready queue")
    }

    func testSwitchDirectlyToEqualPriorityOfTheBestReadyThread() {
        let (source, target, peer) = (fixture.thread(priority: 5), fixture.thread(priority: 3), fixture.thread(priority: 3))
        scheduler.start(source)
        scheduler.wake(peer)
        target.pointee.state = .receiving
        target.pointee.ticksLeft = 1
        source.pointee.state = .waitingForReply
        scheduler.switchDirectly(to: target)
        XCTAssertEqual(scheduler.current, target)
        XCTAssertEqual(target.pointee.ticksLeft, 1, "a partly used slice is kept")
        XCTAssertEqual(peer.pointee.state, .ready)
    }

    func testSwitchDirectlyQueuesTheTargetWhenAHigherPriorityThreadIsReady() {
        let (source, target, better) = (fixture.thread(priority: 9), fixture.thread(priority: 2), fixture.thread(priority: 5))
        scheduler.start(source)
        scheduler.wake(better)
        XCTAssertEqual(scheduler.current, source)
        target.pointee.state = .receiving
        scheduler.armTimeout(target, .microseconds(100_000))
        source.pointee.state = .waitingForReply
        scheduler.switchDirectly(to: target)
        XCTAssertEqual(scheduler.current, better)
        XCTAssertEqual(better.pointee.state, .running)
        XCTAssertEqual(target.pointee.state, .ready)
        XCTAssertFalse(target.pointee.inTimeoutList)
        XCTAssertEqual(source.pointee.state, .waitingForReply)
        XCTAssertEqual(drain(&scheduler.ready), [target])
    }
}
