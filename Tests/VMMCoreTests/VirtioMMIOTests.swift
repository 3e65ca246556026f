@testable import VMMCore
import XCTest

/// The virtio-mmio register file as Linux's virtio_mmio driver uses it, and as a hostile driver misuses it.
final class VirtioMMIOTests: XCTestCase {
    typealias R = VirtioMMIO.Register
    typealias S = VirtioMMIO.Status
    let ram = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x10000, alignment: 4096)
    var memory: GuestMemory { GuestMemory(base: UInt64(UInt(bitPattern: ram.baseAddress!)), bytes: UInt64(ram.count)) }
    var device = VirtioMMIO(deviceID: 2, deviceFeatures: 1 << 9, queueCount: 1)     // a block device with BLK_SIZE

    override func tearDown() { ram.deallocate() }

    /// Linux's probe and virtio_dev_probe/vm_find_vqs, in order, for queue 0 with `size` entries.
    @discardableResult
    func bringUp(size: UInt32 = 8, features: (UInt32, UInt32) = (1 << 9 | 1 << 28 | 1 << 29, 1)) -> [VirtioMMIO.Effect] {
        var effects: [VirtioMMIO.Effect] = []
        func write(_ offset: Int, _ value: UInt32) { effects.append(device.write(offset, value, memory: memory)) }
        write(R.status, 0)
        write(R.status, S.acknowledge)
        write(R.status, S.acknowledge | S.driver)
        write(R.driverFeaturesSelect, 0)
        write(R.driverFeatures, features.0)
        write(R.driverFeaturesSelect, 1)
        write(R.driverFeatures, features.1)
        write(R.status, S.acknowledge | S.driver | S.featuresOK)
        write(R.queueSelect, 0)
        write(R.queueSize, size)
        write(R.queueDescriptorLow, 0x1000)
        write(R.queueDriverLow, 0x2000)
        write(R.queueDeviceLow, 0x3000)
        write(R.queueReady, 1)
        write(R.status, S.acknowledge | S.driver | S.featuresOK | S.driverOK)
        return effects
    }

    func testTheIdentityRegistersAreWhatLinuxProbesFor() {
        XCTAssertEqual(device.read(R.magic), 0x7472_6976)
        XCTAssertEqual(device.read(R.version), 2)
        XCTAssertEqual(device.read(R.deviceID), 2)
        XCTAssertEqual(device.read(R.vendorID), VirtioMMIO.vendor)
        XCTAssertEqual(device.read(R.deviceFeatures), 1 << 9 | 1 << 28 | 1 << 29, "word 0: BLK_SIZE, INDIRECT_DESC, EVENT_IDX")
        _ = device.write(R.deviceFeaturesSelect, 1, memory: memory)
        XCTAssertEqual(device.read(R.deviceFeatures), 1, "word 1: VERSION_1")
        _ = device.write(R.deviceFeaturesSelect, 7, memory: memory)
        XCTAssertEqual(device.read(R.deviceFeatures), 0)
        XCTAssertEqual(device.read(R.queueSizeMaximum), 256)
    }

    func testNegotiationGivesAReadyQueueAndNotifyReachesIt() throws {
        let effects = bringUp()
        XCTAssertFalse(effects.contains { if case .notify = $0 { return true } else { return false } })
        XCTAssertEqual(device.negotiated, 1 << 9 | 1 << 28 | 1 << 29 | 1 << 32)
        XCTAssertTrue(device.driverReady)
        XCTAssertEqual(device.read(R.queueReady), 1)
        XCTAssertEqual(device.read(R.queueDescriptorLow), 0x1000)
        let queue = try XCTUnwrap(device.withQueue(0) { $0 })
        XCTAssertTrue(queue.eventIndex && queue.indirect)
        XCTAssertEqual(queue.size, 8)
        XCTAssertEqual(device.write(R.queueNotify, 0, memory: memory), .notify(queue: 0))
        XCTAssertEqual(device.write(R.queueNotify, 1, memory: memory), .none, "no queue 1")
    }

    func testTheDriverGetsOnlyFeaturesTheDeviceOffersAndOnlyWhileNegotiating() {
        bringUp(features: (0xFFFF_FFFF, 0xFFFF_FFFF))
        XCTAssertEqual(device.negotiated, 1 << 9 | 1 << 28 | 1 << 29 | 1 << 32)
        _ = device.write(R.driverFeaturesSelect, 0, memory: memory)
        _ = device.write(R.driverFeatures, 0, memory: memory)
        XCTAssertEqual(device.negotiated, 1 << 9 | 1 << 28 | 1 << 29 | 1 << 32, "after FEATURES_OK the features stay")
    }

    func testALegacyDriverWithoutVersion1NeverGetsFeaturesOK() {
        bringUp(features: (1 << 9, 0))
        XCTAssertEqual(device.read(R.status) & S.featuresOK, 0)
        XCTAssertEqual(device.read(R.queueReady), 0, "no queue without FEATURES_OK")
        XCTAssertNil(device.withQueue(0) { _ in true })
    }

    func testABadQueueSetsNeedsResetAndRaisesAConfigurationInterrupt() {
        let effects = bringUp(size: 6)
        XCTAssertTrue(effects.contains(.interrupt(asserted: true)))
        XCTAssertNotEqual(device.read(R.status) & S.needsReset, 0)
        XCTAssertEqual(device.read(R.interruptStatus), 2)
        XCTAssertEqual(device.read(R.queueReady), 0)
        XCTAssertFalse(device.driverReady)
        XCTAssertEqual(device.write(R.queueNotify, 0, memory: memory), .none, "a broken device serves nothing")
        XCTAssertEqual(device.write(R.interruptAcknowledge, 2, memory: memory), .interrupt(asserted: false))
        // The driver resets the device and sets it up again properly.
        XCTAssertEqual(device.write(R.status, 0, memory: memory), .reset)
        XCTAssertEqual(device.read(R.status), 0)
        bringUp()
        XCTAssertTrue(device.driverReady)
    }

    func testRingsOutsideRAMAreABadQueueToo() {
        _ = device.write(R.status, S.acknowledge | S.driver, memory: memory)
        _ = device.write(R.driverFeaturesSelect, 1, memory: memory)
        _ = device.write(R.driverFeatures, 1, memory: memory)
        _ = device.write(R.status, S.acknowledge | S.driver | S.featuresOK, memory: memory)
        _ = device.write(R.queueDescriptorHigh, 0xFFFF_FFFF, memory: memory)
        XCTAssertEqual(device.write(R.queueReady, 1, memory: memory), .interrupt(asserted: true))
        XCTAssertNotEqual(device.read(R.status) & S.needsReset, 0)
    }

    func testAReadyQueueCannotBeMovedAndAQueueOutOfRangeIsIgnored() {
        bringUp()
        _ = device.write(R.queueDescriptorLow, 0x5000, memory: memory)
        _ = device.write(R.queueSize, 4, memory: memory)
        XCTAssertEqual(device.read(R.queueDescriptorLow), 0x1000)
        XCTAssertEqual(device.read(R.queueSize), 8)
        _ = device.write(R.queueSelect, 9, memory: memory)
        XCTAssertEqual(device.read(R.queueSizeMaximum), 0, "no such queue")
        XCTAssertEqual(device.write(R.queueReady, 1, memory: memory), .none)
        XCTAssertEqual(device.write(R.queueSize, 8, memory: memory), .none)
    }

    func testNotifyBeforeDriverOKIsIgnoredAndStatusBitsAreOnlyAdded() {
        _ = device.write(R.status, S.acknowledge | S.driver, memory: memory)
        XCTAssertEqual(device.write(R.queueNotify, 0, memory: memory), .none)
        _ = device.write(R.status, S.acknowledge, memory: memory)
        XCTAssertEqual(device.read(R.status), S.acknowledge | S.driver, "bits are cleared only by a reset")
    }

    func testUsedBufferInterruptsAreRaisedOnceAndAcknowledged() {
        bringUp()
        XCTAssertEqual(device.raise(1), .interrupt(asserted: true))
        XCTAssertEqual(device.raise(1), .none, "already asserted")
        XCTAssertEqual(device.read(R.interruptStatus), 1)
        XCTAssertEqual(device.write(R.interruptAcknowledge, 1, memory: memory), .interrupt(asserted: false))
        XCTAssertEqual(device.write(R.interruptAcknowledge, 1, memory: memory), .none)
    }
}
