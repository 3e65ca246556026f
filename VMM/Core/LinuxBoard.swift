import SwiftletABI

/// The machine a Linux guest sees, as the ACPI tables describe it: one vCPU's local APIC (xAPIC MMIO at
/// 0xFEE00000 or x2APIC MSRs), the IOAPIC at 0xFEC00000, COM1 at 0x3F8 on IRQ 4, the CMOS RTC at
/// 0x70/0x71, the hardware-reduced ACPI sleep and reset registers at 0x600-0x602, the reset ports of the
/// keyboard controller and 0xCF9, and a debug-exit port at 0xF4 as QEMU's `isa-debug-exit` (a write ends
/// the run with status (value << 1) | 1, so other people's test guests run unchanged), and, when the VMM
/// attaches one, a virtio-blk disk at 0xFEB00000 on GSI 16 (`attachDisk`). Every other port
/// reads as all ones and ignores writes; every other address outside RAM too. It routes an access to
/// its device and the device's interrupt through the IOAPIC to the local APIC. Pure: the caller passes
/// the guest's TSC and the wall clock, and acts on what an access returns.
///
/// Every value here comes from the guest: each device masks or checks it (no access traps).
public struct LinuxBoard {
    public static let serialPort: UInt16 = 0x3F8, serialIRQ = 4
    public static let rtcIndexPort: UInt16 = 0x70, rtcDataPort: UInt16 = 0x71
    public static let ioAPICBase: UInt64 = 0xFEC0_0000, localAPICBase: UInt64 = 0xFEE0_0000
    /// The other ways a PC resets that Linux knows (`reboot=k`, `reboot=p`): the keyboard controller's
    /// command port (0xFE pulses the reset line) and the reset control register (bit 2 resets the CPU).
    public static let keyboardCommandPort: UInt16 = 0x64, resetControlPort: UInt16 = 0xCF9
    public static let debugExitPort: UInt16 = 0xF4
    static let deviceWindow: UInt64 = 0x1000
    /// The virtio-mmio disk's window (below the IOAPIC, where nothing else is) and its IOAPIC input: a
    /// GSI above the ISA range, so Linux takes the DSDT's level trigger without an ISA default to override.
    public static let diskBase: UInt64 = 0xFEB0_0000, diskGSI = 16

    public var uart = UART16550()
    public var cmos = CMOSClock()
    public var apic: LocalAPIC
    public var ioapic = IOAPIC()
    public var msrs = GuestMSRs()
    public let cpuid: CPUIDPolicy
    /// The guest's console output, raw, up to a message at a time.
    public var console = SerialOutput()
    /// The virtio-blk disk, when the VM has one (`attachDisk`): the DSDT describes it (`acpi`).
    public private(set) var disk: VirtioBlock?
    /// Requests the disks of earlier boots served and chains they refused (a reset makes a new device).
    private var earlierDiskCounts: (served: UInt64, malformed: UInt64) = (0, 0)
    /// Accesses nothing backs (ports and addresses), counted for the VMM's summary.
    public private(set) var unbackedPorts: UInt64 = 0
    public private(set) var unbackedMemory: UInt64 = 0
    /// x2APIC MSR accesses the local APIC refused (#GP: read-only, write-only or reserved registers).
    public private(set) var refusedAPICAccesses: UInt64 = 0
    private let tscPerBusTick: UInt64, startsInX2APIC: Bool

    /// `x2APIC`: the local APIC starts in x2APIC mode, as firmware may leave it; Linux keeps it (a KVM
    /// guest may use x2APIC without interrupt remapping) and reaches the APIC only through MSRs, so no
    /// APIC access needs instruction decoding.
    public init(tscPerBusTick: UInt64, x2APIC: Bool = false) {
        (self.tscPerBusTick, startsInX2APIC) = (tscPerBusTick, x2APIC)
        apic = LocalAPIC(id: 0, tscPerBusTick: tscPerBusTick)
        apic.setX2APICMode(x2APIC)
        msrs = GuestMSRs(x2APIC: x2APIC)
        cpuid = CPUIDPolicy(apicID: 0)
    }

    /// The board after the reset line went low: the APIC (its timer, ISR/IRR, mode), the IOAPIC, the
    /// UART (its FIFO, its interrupt) and the MSRs, kvmclock's pages among them, as at power-on; a partial
    /// console line is dropped (the VMM flushes it first). Kept: the CMOS clock and memory (battery-backed:
    /// the time and whatever the guest stored there survive a reset) and the counters of what faulted or
    /// nothing backed, which are the VMM's summary of the whole run, not device state. Allocates nothing.
    public mutating func reset() {
        uart = UART16550()
        apic = LocalAPIC(id: 0, tscPerBusTick: tscPerBusTick)
        apic.setX2APICMode(startsInX2APIC)
        ioapic = IOAPIC()
        msrs.reset(x2APIC: startsInX2APIC)
        console = SerialOutput()
        if let old = disk {
            earlierDiskCounts = (earlierDiskCounts.served &+ old.served, earlierDiskCounts.malformed &+ old.malformed)
            disk = VirtioBlock(sectors: old.configuration.capacity, segmentMaximum: old.configuration.segmentMaximum)
        }
    }

    /// The disk's requests served and malformed chains over the whole run, all boots together.
    public var diskCounts: (served: UInt64, malformed: UInt64) {
        (earlierDiskCounts.served &+ (disk?.served ?? 0), earlierDiskCounts.malformed &+ (disk?.malformed ?? 0))
    }

    /// Gives the board a virtio-blk disk of `sectors` (before the guest boots: the ACPI tables name it).
    public mutating func attachDisk(sectors: UInt64, segmentMaximum: UInt32) {
        disk = VirtioBlock(sectors: sectors, segmentMaximum: segmentMaximum)
    }

    /// The machine the ACPI tables describe: the defaults, and the disk's window and interrupt if there is one.
    public var acpi: ACPIMachine {
        var machine = ACPIMachine()
        if disk != nil { machine.virtioDevices = [(UInt32(Self.diskBase), UInt32(VirtioMMIO.windowSize), UInt32(Self.diskGSI))] }
        return machine
    }

    /// What an I/O write asks of the VMM.
    public enum PortEffect: Equatable {
        case none
        /// A console message is due (`console.take()`): a newline, or 32 bytes.
        case consoleOutput
        /// ACPI S5: the guest powered off.
        case powerOff
        /// The guest asked for a reset.
        case reset(ResetSource)
        /// The guest wrote `value` to the debug-exit port: the run ends with status (value << 1) | 1.
        case debugExit(value: UInt8)
    }

    /// Which reset line the guest pulled.
    public enum ResetSource: Equatable {
        /// The FADT's reset register (Linux's `acpi_reboot`; the reset vector's code writes it too).
        case acpiRegister
        /// Command 0xFE to the keyboard controller.
        case keyboardController
        /// Port 0xCF9 with RST_CPU.
        case resetControl

        public var description: StaticString {
            switch self {
            case .acpiRegister: return "ACPI reset register"
            case .keyboardController: return "keyboard controller reset"
            case .resetControl: return "reset control register 0xCF9"
            }
        }
    }

    // MARK: I/O ports

    /// IN of `size` bytes (1, 2 or 4); the caller masks the result to the size. `now`: seconds since 1970.
    public mutating func readPort(_ port: UInt16, size: Int, wallClock now: UInt64) -> UInt64 {
        switch port {
        case Self.serialPort...(Self.serialPort + 7):
            let value = uart.read(Int(port - Self.serialPort))
            sampleSerialLine()
            return UInt64(value)
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
            let effect = uart.write(Int(port - Self.serialPort), byte)
            sampleSerialLine()
            if case .transmit(let sent) = effect, console.put(sent) { return .consoleOutput }
        case Self.rtcIndexPort:
            cmos.writeIndex(byte)
        case Self.rtcDataPort:
            cmos.writeData(byte)
        case acpi.sleepControlPort:
            // SLP_EN (bit 5) with SLP_TYP (bits 2-4) of \_S5: power off. Other sleep states are not offered.
            if byte & 0x20 != 0 && (byte >> 2) & 7 == ACPIMachine.softOffType { return .powerOff }
        case acpi.resetPort:
            if byte == acpi.resetValue { return .reset(.acpiRegister) }
        case Self.debugExitPort:
            // QEMU's default iosize is one byte: a wider write gives its low byte.
            return .debugExit(value: byte)
        case Self.keyboardCommandPort where size == 1 && byte == 0xFE:
            return .reset(.keyboardController)
        case Self.resetControlPort where size == 1 && byte & 0x04 != 0:
            return .reset(.resetControl)
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
        isDisk(address) || address &- Self.ioAPICBase < Self.deviceWindow || (!apic.x2APICMode && address &- Self.localAPICBase < Self.deviceWindow)
    }

    /// Whether `address` is in the disk's register window.
    public func isDisk(_ address: UInt64) -> Bool {
        disk != nil && address &- Self.diskBase < VirtioMMIO.windowSize
    }

    /// A write of the disk's window (`isDisk(address)`): what the VMM must do (serve a notified queue).
    /// The interrupt line follows the device's interrupt status after every access.
    public mutating func writeDisk(_ address: UInt64, size: Int, value: UInt64, memory: GuestMemory) -> VirtioMMIO.Effect {
        guard isDisk(address) else { return .none }
        let effect = disk!.write(Int(address - Self.diskBase), UInt32(truncatingIfNeeded: value), size: size, memory: memory)
        sampleDiskLine()
        return effect
    }

    /// Serves the disk's queue after a notify, through `backend`; then its interrupt line.
    public mutating func serveDisk<Backend: VirtioBlockBackend>(_ memory: GuestMemory, segments: UnsafeMutableBufferPointer<SplitVirtqueue.Segment>,
                                                                 backend: inout Backend) {
        guard disk != nil else { return }
        _ = disk!.serve(memory, segments: segments, backend: &backend)
        sampleDiskLine()
    }

    private mutating func sampleDiskLine() {
        if let disk { deliver(ioapic.setInput(Self.diskGSI, disk.transport.interruptAsserted)) }
    }

    /// A read of `size` bytes at `address` (outside RAM). Device registers are 32 bits wide.
    public mutating func readMemory(_ address: UInt64, size: Int, now: UInt64) -> UInt64 {
        if isDisk(address), let disk {
            return UInt64(disk.read(Int(address - Self.diskBase), size: size))
        }
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
        sampleDiskLine()
        return apic.deliverableVector
    }

    /// The IOAPIC sees the UART's line after every access to the UART, not only at the exit's end: a read
    /// of IIR that drops the line, followed in the same exit by received bytes that raise it again, is then
    /// a new edge (else the IOAPIC saw it high all along, the guest's handler had already seen "no
    /// interrupt", and the input waited for the next unrelated UART interrupt).
    private mutating func sampleSerialLine() {
        deliver(ioapic.setInput(Self.serialIRQ, uart.interruptAsserted))
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
