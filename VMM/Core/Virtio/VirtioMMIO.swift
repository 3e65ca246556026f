/// The virtio-mmio transport, version 2 (virtio spec 1.2, 4.2.2): the register window a driver finds
/// through the DSDT's LNRO0005 device, feature negotiation, device status, and up to `maximumQueues`
/// split virtqueues. The device type (block, console) is a `VirtioDevice` that says its ID, features and
/// configuration space and serves the queues; this transport is only the register file and the state
/// machine the spec gives it. Every value comes from the guest: a write the spec does not allow in the
/// current state is ignored, and a queue the guest set up wrongly (or a ring it corrupts later) sets
/// DEVICE_NEEDS_RESET rather than stopping the VMM.
public struct VirtioMMIO {
    public static let windowSize: UInt64 = 0x200
    public static let maximumQueues = 2
    public static let magic: UInt32 = 0x7472_6976       // "virt"
    public static let vendor: UInt32 = 0x5357_4C54      // "TLWS": Swiftlet, as a virtio vendor ID

    /// Device status bits (2.1).
    public enum Status {
        public static let acknowledge: UInt32 = 1, driver: UInt32 = 2, driverOK: UInt32 = 4, featuresOK: UInt32 = 8
        public static let needsReset: UInt32 = 64, failed: UInt32 = 128
    }

    /// Feature bits the transport itself offers (6): VERSION_1 (the modern interface, required for
    /// version 2), INDIRECT_DESC and EVENT_IDX.
    public enum Feature {
        public static let indirect: UInt64 = 1 << 28, eventIndex: UInt64 = 1 << 29, version1: UInt64 = 1 << 32
        public static let transport: UInt64 = indirect | eventIndex | version1
    }

    /// Register offsets (4.2.2).
    public enum Register {
        public static let magic = 0x000, version = 0x004, deviceID = 0x008, vendorID = 0x00C
        public static let deviceFeatures = 0x010, deviceFeaturesSelect = 0x014
        public static let driverFeatures = 0x020, driverFeaturesSelect = 0x024
        public static let queueSelect = 0x030, queueSizeMaximum = 0x034, queueSize = 0x038, queueReady = 0x044
        public static let queueNotify = 0x050, interruptStatus = 0x060, interruptAcknowledge = 0x064
        public static let status = 0x070
        public static let queueDescriptorLow = 0x080, queueDescriptorHigh = 0x084
        public static let queueDriverLow = 0x090, queueDriverHigh = 0x094
        public static let queueDeviceLow = 0x0A0, queueDeviceHigh = 0x0A4
        public static let configGeneration = 0x0FC, config = 0x100
    }

    /// What the driver wrote about one queue before it set QueueReady, and the queue once ready.
    public struct QueueSetup {
        public var size: UInt16 = SplitVirtqueue.maximumSize
        public var descriptors: UInt64 = 0, available: UInt64 = 0, used: UInt64 = 0
        public var queue: SplitVirtqueue?
    }

    /// What a register write asks the VMM to do.
    public enum Effect: Equatable {
        case none
        /// The driver notified queue `index` (QueueNotify): the device should look at it.
        case notify(queue: Int)
        /// The driver reset the device (status 0): the device drops every request in flight, and its
        /// interrupt line is low.
        case reset
        /// The interrupt line changed (an acknowledge cleared the last pending cause).
        case interrupt(asserted: Bool)
    }

    public let deviceID: UInt32
    /// Features the device type offers on top of the transport's.
    public let deviceFeatures: UInt64
    public private(set) var status: UInt32 = 0
    public private(set) var driverFeatures: UInt64 = 0
    public private(set) var interruptStatus: UInt32 = 0
    public private(set) var queues = InlineArray<2, QueueSetup>(repeating: QueueSetup())
    public let queueCount: Int
    private var deviceFeaturesSelect: UInt32 = 0, driverFeaturesSelect: UInt32 = 0
    private var queueSelect: UInt32 = 0
    public private(set) var configGeneration: UInt32 = 0

    public init(deviceID: UInt32, deviceFeatures: UInt64, queueCount: Int) {
        self.deviceID = deviceID
        self.deviceFeatures = deviceFeatures | Feature.transport
        self.queueCount = min(max(queueCount, 1), Self.maximumQueues)
    }

    /// The features both sides agreed on, once the driver set FEATURES_OK and the device accepted them.
    public var negotiated: UInt64 { status & Status.featuresOK != 0 ? driverFeatures : 0 }
    public var driverReady: Bool { status & Status.driverOK != 0 && status & Status.needsReset == 0 }
    public var interruptAsserted: Bool { interruptStatus != 0 }

    private var selectedQueue: Int? { queueSelect < UInt32(queueCount) ? Int(queueSelect) : nil }

    // MARK: Registers (32-bit accesses; the configuration space is the device type's)

    public func read(_ offset: Int) -> UInt32 {
        switch offset {
        case Register.magic: return Self.magic
        case Register.version: return 2
        case Register.deviceID: return deviceID
        case Register.vendorID: return Self.vendor
        case Register.deviceFeatures:
            return deviceFeaturesSelect == 0 ? UInt32(truncatingIfNeeded: deviceFeatures)
                : deviceFeaturesSelect == 1 ? UInt32(truncatingIfNeeded: deviceFeatures >> 32) : 0
        case Register.queueSizeMaximum: return selectedQueue == nil ? 0 : UInt32(SplitVirtqueue.maximumSize)
        case Register.queueSize: return selectedQueue.map { UInt32(queues[$0].size) } ?? 0
        case Register.queueReady: return selectedQueue.map { queues[$0].queue == nil ? 0 : 1 } ?? 0
        case Register.interruptStatus: return interruptStatus
        case Register.status: return status
        case Register.queueDescriptorLow: return selectedQueue.map { UInt32(truncatingIfNeeded: queues[$0].descriptors) } ?? 0
        case Register.queueDescriptorHigh: return selectedQueue.map { UInt32(truncatingIfNeeded: queues[$0].descriptors >> 32) } ?? 0
        case Register.queueDriverLow: return selectedQueue.map { UInt32(truncatingIfNeeded: queues[$0].available) } ?? 0
        case Register.queueDriverHigh: return selectedQueue.map { UInt32(truncatingIfNeeded: queues[$0].available >> 32) } ?? 0
        case Register.queueDeviceLow: return selectedQueue.map { UInt32(truncatingIfNeeded: queues[$0].used) } ?? 0
        case Register.queueDeviceHigh: return selectedQueue.map { UInt32(truncatingIfNeeded: queues[$0].used >> 32) } ?? 0
        case Register.configGeneration: return configGeneration
        default: return 0
        }
    }

    public mutating func write(_ offset: Int, _ value: UInt32, memory: GuestMemory) -> Effect {
        switch offset {
        case Register.deviceFeaturesSelect: deviceFeaturesSelect = value
        case Register.driverFeaturesSelect: driverFeaturesSelect = value
        case Register.driverFeatures:
            // Only while negotiating (after DRIVER, before FEATURES_OK), and only what the device offers.
            guard status & Status.driver != 0, status & Status.featuresOK == 0, driverFeaturesSelect < 2 else { break }
            let shift = UInt64(driverFeaturesSelect * 32)
            let offered = deviceFeatures >> shift & 0xFFFF_FFFF
            driverFeatures = driverFeatures & ~(0xFFFF_FFFF << shift) | (UInt64(value) & offered) << shift
        case Register.queueSelect: queueSelect = value
        case Register.queueSize:
            if let index = selectedQueue, queues[index].queue == nil { queues[index].size = UInt16(truncatingIfNeeded: value) }
        case Register.queueDescriptorLow, Register.queueDescriptorHigh, Register.queueDriverLow, Register.queueDriverHigh,
             Register.queueDeviceLow, Register.queueDeviceHigh:
            if let index = selectedQueue, queues[index].queue == nil { setAddress(&queues[index], offset, value) }
        case Register.queueReady:
            guard let index = selectedQueue else { break }
            if value & 1 == 0 {
                queues[index].queue = nil
            } else if queues[index].queue == nil, status & Status.featuresOK != 0 {
                let setup = queues[index]
                switch SplitVirtqueue.configure(size: setup.size, descriptors: setup.descriptors, available: setup.available,
                                                used: setup.used, eventIndex: negotiated & Feature.eventIndex != 0,
                                                indirect: negotiated & Feature.indirect != 0, memory: memory) {
                case .success(let queue): queues[index].queue = queue
                case .failure: return needsReset()
                }
            }
        case Register.queueNotify:
            if value < UInt32(queueCount), queues[Int(value)].queue != nil, driverReady { return .notify(queue: Int(value)) }
        case Register.interruptAcknowledge:
            let was = interruptAsserted
            interruptStatus &= ~value
            if was && !interruptAsserted { return .interrupt(asserted: false) }
        case Register.status:
            return writeStatus(value)
        default: break
        }
        return .none
    }

    private func setAddress(_ setup: inout QueueSetup, _ offset: Int, _ value: UInt32) {
        func merge(_ old: UInt64, high: Bool) -> UInt64 {
            high ? old & 0xFFFF_FFFF | UInt64(value) << 32 : old & ~0xFFFF_FFFF | UInt64(value)
        }
        switch offset {
        case Register.queueDescriptorLow, Register.queueDescriptorHigh:
            setup.descriptors = merge(setup.descriptors, high: offset == Register.queueDescriptorHigh)
        case Register.queueDriverLow, Register.queueDriverHigh:
            setup.available = merge(setup.available, high: offset == Register.queueDriverHigh)
        default:
            setup.used = merge(setup.used, high: offset == Register.queueDeviceHigh)
        }
    }

    /// 0 resets; otherwise bits are only added (3.1.1), and FEATURES_OK stays clear when the driver did not
    /// take VERSION_1 (a legacy driver, which this transport does not serve).
    private mutating func writeStatus(_ value: UInt32) -> Effect {
        if value == 0 {
            reset()
            return .reset
        }
        var added = value & ~status & 0xFF
        if added & Status.featuresOK != 0 && driverFeatures & Feature.version1 == 0 { added &= ~Status.featuresOK }
        status |= added
        return .none
    }

    private mutating func reset() {
        status = 0
        driverFeatures = 0
        interruptStatus = 0
        deviceFeaturesSelect = 0
        driverFeaturesSelect = 0
        queueSelect = 0
        queues = InlineArray(repeating: QueueSetup())
    }

    // MARK: The device side

    /// The guest broke a queue (VirtqueueError): DEVICE_NEEDS_RESET, a configuration-change interrupt, and
    /// no queue is served until the driver resets the device.
    public mutating func needsReset() -> Effect {
        status |= Status.needsReset
        for index in 0..<queueCount { queues[index].queue = nil }
        return raise(2)
    }

    /// Used buffers were returned (bit 0) or the configuration changed (bit 1).
    public mutating func raise(_ cause: UInt32) -> Effect {
        let was = interruptAsserted
        interruptStatus |= cause & 3
        if cause & 2 != 0 { configGeneration &+= 1 }
        return was ? .none : .interrupt(asserted: true)
    }

    /// The queue `index`, for the device to take from and complete into (nil when not ready).
    public mutating func withQueue<R>(_ index: Int, _ body: (inout SplitVirtqueue) -> R) -> R? {
        guard index < queueCount, driverReady, queues[index].queue != nil else { return nil }
        return body(&queues[index].queue!)
    }
}
