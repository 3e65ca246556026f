import SwiftletABI

/// The machine a Linux guest sees, as the ACPI tables describe it: one vCPU's local APIC (xAPIC MMIO at
/// 0xFEE00000 or x2APIC MSRs), the IOAPIC at 0xFEC00000, COM1 at 0x3F8 on IRQ 4, the CMOS RTC at
/// 0x70/0x71 and the hardware-reduced ACPI sleep and reset registers at 0x600-0x602. Every other port
/// reads as all ones and ignores writes; every other address outside RAM too. It routes an access to
/// its device and the device's interrupt through the IOAPIC to the local APIC. Pure: the caller passes
/// the guest's TSC and the wall clock, and acts on what an access returns.
///
/// Every value here comes from the guest: each device masks or checks it (no access traps).
public struct LinuxBoard {
    public static let serialPort: UInt16 = 0x3F8, serialIRQ = 4
    public static let rtcIndexPort: UInt16 = 0x70, rtcDataPort: UInt16 = 0x71
    public static let ioAPICBase: UInt64 = 0xFEC0_0000, localAPICBase: UInt64 = 0xFEE0_0000
    static let deviceWindow: UInt64 = 0x1000

    public var uart = UART16550()
    public var cmos = CMOSClock()
    public var apic: LocalAPIC
    public var ioapic = IOAPIC()
    public var msrs = GuestMSRs()
    public let cpuid: CPUIDPolicy
    /// The guest's console output, one line at a time.
    public var console = SerialLine()
    /// Accesses nothing backs (ports and addresses), counted for the VMM's summary.
    public private(set) var unbackedPorts: UInt64 = 0
    public private(set) var unbackedMemory: UInt64 = 0
    /// x2APIC MSR accesses the local APIC refused (#GP: read-only, write-only or reserved registers).
    public private(set) var refusedAPICAccesses: UInt64 = 0

    /// `x2APIC`: the local APIC starts in x2APIC mode, as firmware may leave it; Linux keeps it (a KVM
    /// guest may use x2APIC without interrupt remapping) and reaches the APIC only through MSRs, so no
    /// APIC access needs instruction decoding.
    public init(tscPerBusTick: UInt64, x2APIC: Bool = false) {
        apic = LocalAPIC(id: 0, tscPerBusTick: tscPerBusTick)
        apic.setX2APICMode(x2APIC)
        msrs = GuestMSRs(x2APIC: x2APIC)
        cpuid = CPUIDPolicy(apicID: 0)
    }

    /// What an I/O write asks of the VMM.
    public enum PortEffect: Equatable {
        case none
        /// A console line is complete (`console.take()`).
        case consoleLine
        /// ACPI S5: the guest powered off.
        case powerOff
        /// The ACPI reset register: the guest asked for a reset.
        case reset
    }

    // MARK: I/O ports

    /// IN of `size` bytes (1, 2 or 4); the caller masks the result to the size. `now`: seconds since 1970.
    public mutating func readPort(_ port: UInt16, size: Int, wallClock now: UInt64) -> UInt64 {
        switch port {
        case Self.serialPort...(Self.serialPort + 7):
            return UInt64(uart.read(Int(port - Self.serialPort)))
        case Self.rtcIndexPort:
            return UInt64(cmos.index)
        case Self.rtcDataPort:
            return UInt64(cmos.readData(now: now))
        case ACPIMachine().sleepStatusPort:
            return 0x80                                                     // WAK_STS: awake
        case ACPIMachine().sleepControlPort, ACPIMachine().resetPort:
            return 0
        default:
            unbackedPorts &+= 1
            return UInt64.max
        }
    }

    public mutating func writePort(_ port: UInt16, size: Int, value: UInt64) -> PortEffect {
        let byte = UInt8(truncatingIfNeeded: value)
        let acpi = ACPIMachine()
        switch port {
        case Self.serialPort...(Self.serialPort + 7):
            if case .transmit(let sent) = uart.write(Int(port - Self.serialPort), byte), console.put(sent) { return .consoleLine }
        case Self.rtcIndexPort:
            cmos.writeIndex(byte)
        case Self.rtcDataPort:
            cmos.writeData(byte)
        case acpi.sleepControlPort:
            // SLP_EN (bit 5) with SLP_TYP (bits 2-4) of \_S5: power off. Other sleep states are not offered.
            if byte & 0x20 != 0 && (byte >> 2) & 7 == ACPIMachine.softOffType { return .powerOff }
        case acpi.resetPort:
            if byte == acpi.resetValue { return .reset }
        case acpi.sleepStatusPort:
            break                                                           // write-1-to-clear WAK_STS: nothing held
        default:
            unbackedPorts &+= 1
        }
        return .none
    }

    // MARK: Memory-mapped devices

    /// Whether `address` is one of the board's device pages (the local APIC only in xAPIC mode).
    public func isDevice(_ address: UInt64) -> Bool {
        address &- Self.ioAPICBase < Self.deviceWindow || (!apic.x2APICMode && address &- Self.localAPICBase < Self.deviceWindow)
    }

    /// A read of `size` bytes at `address` (outside RAM). Device registers are 32 bits wide.
    public mutating func readMemory(_ address: UInt64, size: Int, now: UInt64) -> UInt64 {
        if address &- Self.ioAPICBase < Self.deviceWindow {
            return UInt64(ioapic.read(Int(address - Self.ioAPICBase)))
        }
        if !apic.x2APICMode && address &- Self.localAPICBase < Self.deviceWindow {
            return UInt64(apic.read(Int(address - Self.localAPICBase), now: now))
        }
        unbackedMemory &+= 1
        return UInt64.max
    }

    public mutating func writeMemory(_ address: UInt64, size: Int, value: UInt64, now: UInt64) {
        let word = UInt32(truncatingIfNeeded: value)
        if address &- Self.ioAPICBase < Self.deviceWindow {
            deliver(ioapic.write(Int(address - Self.ioAPICBase), word))
        } else if !apic.x2APICMode && address &- Self.localAPICBase < Self.deviceWindow {
            apicEffect(apic.write(Int(address - Self.localAPICBase), word, now: now))
        } else {
            unbackedMemory &+= 1
        }
    }

    // MARK: MSRs

    /// RDMSR of everything but EFER and the SYSCALL MSRs (the vCPU's own state); nil: #GP.
    public mutating func readMSR(_ index: UInt32, now: UInt64) -> UInt64? {
        if index == LocalAPIC.tscDeadlineMSR || (index >= 0x800 && index <= 0x8FF) {
            let value = apic.readMSR(index, now: now)
            if value == nil { refusedAPICAccesses &+= 1 }
            return value
        }
        return msrs.read(index, tsc: now)
    }

    /// WRMSR; nil: #GP. An effect the VMM acts on (kvmclock pages) is returned.
    public mutating func writeMSR(_ index: UInt32, _ value: UInt64, now: UInt64) -> GuestMSRs.Effect? {
        if index == LocalAPIC.tscDeadlineMSR || (index >= 0x800 && index <= 0x8FF) {
            let (accepted, effect) = apic.writeMSR(index, value, now: now)
            guard accepted else {
                refusedAPICAccesses &+= 1
                return nil
            }
            apicEffect(effect)
            return GuestMSRs.Effect.none
        }
        guard let effect = msrs.write(index, value) else { return nil }
        if case .x2APICMode(let on) = effect { apic.setX2APICMode(on) }
        return effect
    }

    // MARK: Interrupts

    /// Brings the interrupt lines up to date at guest TSC `now`: the timer fires if due, the UART's line
    /// goes through the IOAPIC. Then the vector the guest should take, if any.
    public mutating func pendingInterrupt(now: UInt64) -> UInt8? {
        apic.advanceTimer(now: now)
        deliver(ioapic.setInput(Self.serialIRQ, uart.interruptAsserted))
        return apic.deliverableVector
    }

    /// The guest took `vector`.
    public mutating func acknowledge(_ vector: UInt8) {
        apic.acknowledge(vector)
    }

    private mutating func deliver(_ delivery: IOAPIC.Delivery?) {
        if let delivery { apic.accept(vector: delivery.vector, level: delivery.level) }
    }

    private mutating func apicEffect(_ effect: LocalAPIC.Effect) {
        if case .levelEndOfInterrupt(let vector) = effect { deliver(ioapic.endOfInterrupt(vector: vector)) }
    }
}
