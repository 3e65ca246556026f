/// The ACPI tables a Linux guest boots from, as a pure function from the machine's description to bytes
/// placed at a guest-physical address: RSDP → XSDT → FADT (hardware-reduced: no PIC, PIT or PM timer;
/// sleep and reset registers are plain I/O ports the VMM decodes) → DSDT (COM1, the RTC, `_S5`), and the
/// MADT (local APICs, one IOAPIC, LAPIC NMI on LINT1).
///
/// Checked on the host by ACPICA's `iasl -d` and by the kernel's own ACPI reader.
public struct ACPIMachine {
    public var processors = 1
    public var localAPIC: UInt32 = 0xFEE0_0000
    public var ioAPIC: UInt32 = 0xFEC0_0000
    public var ioAPICID: UInt8 = 0
    /// COM1: port base and ISA IRQ.
    public var serial: (port: UInt16, irq: UInt8) = (0x3F8, 4)
    public var rtc: (port: UInt16, irq: UInt8) = (0x70, 8)
    /// Hardware-reduced sleep control/status registers and the reset register, one I/O byte each.
    public var sleepControlPort: UInt16 = 0x600
    public var sleepStatusPort: UInt16 = 0x601
    public var resetPort: UInt16 = 0x602
    public var resetValue: UInt8 = 0x01
    /// The SLP_TYP `_S5` names: written with SLP_EN (bit 5) into the sleep control register to power off.
    public static let softOffType: UInt8 = 5
    /// virtio-mmio devices (VirtioMMIO windows): each a `LNRO0005` device with its window and its
    /// level-triggered, active-high IOAPIC input, which Linux's virtio_mmio driver binds by ACPI.
    public var virtioDevices: [(base: UInt32, size: UInt32, gsi: UInt32)] = []

    public init() {}
}

public enum ACPITables {
    /// Builds the tables for `machine` to be placed at guest-physical `base` (16-byte aligned, in the
    /// BIOS area 0xE0000-0xFFFFF so a guest that scans for the RSDP finds it). The RSDP is at `base`.
    public static func build(_ machine: ACPIMachine, at base: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 36)                     // the RSDP, filled in last
        let dsdt = append(&out, table("DSDT", revision: 2, body: differentiatedSystemDescription(machine)))
        let fadt = append(&out, table("FACP", revision: 6, body: fixedDescription(machine, dsdt: base + UInt64(dsdt))))
        let madt = append(&out, table("APIC", revision: 5, body: interruptControllers(machine)))
        var entries = [UInt8]()
        for offset in [fadt, madt] { entries += le(base + UInt64(offset)) }
        let xsdt = append(&out, table("XSDT", revision: 1, body: entries))

        var rsdp = Array("RSD PTR ".utf8) + [0] + oemID + [2] + le(UInt32(0))
        rsdp += le(UInt32(36)) + le(base + UInt64(xsdt)) + [0, 0, 0, 0]
        rsdp[8] = checksum(rsdp[0..<20])
        rsdp[32] = checksum(rsdp[0..<36])
        out.replaceSubrange(0..<36, with: rsdp)
        return out
    }

    static let oemID = Array("SWIFTL".utf8)

    /// Appends `table` 16-byte aligned; returns its offset.
    private static func append(_ out: inout [UInt8], _ table: [UInt8]) -> Int {
        while out.count % 16 != 0 { out.append(0) }
        let offset = out.count
        out += table
        return offset
    }

    /// A system description table: the 36-byte header with a correct length and checksum, then `body`.
    static func table(_ signature: StaticString, revision: UInt8, body: [UInt8]) -> [UInt8] {
        var bytes = ascii(signature) + le(UInt32(36 + body.count)) + [revision, 0] + oemID
        bytes += ascii("SWIFTLET") + le(UInt32(1)) + ascii("SWLT") + le(UInt32(1)) + body
        bytes[9] = checksum(bytes[...])
        return bytes
    }

    /// FADT (ACPI 6.x, 276 bytes): hardware-reduced, with the DSDT, sleep and reset registers.
    static func fixedDescription(_ machine: ACPIMachine, dsdt: UInt64) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: 276 - 36)
        func put(_ offset: Int, _ bytes: [UInt8]) { body.replaceSubrange((offset - 36)..<(offset - 36 + bytes.count), with: bytes) }
        put(109, le(UInt16(1 << 2)))                                    // IAPC_BOOT_ARCH: no VGA
        // WBINVD works (0), RESET_REG_SUP (10), HW_REDUCED_ACPI (20).
        put(112, le(UInt32(1 << 0 | 1 << 10 | 1 << 20)))
        put(116, ioRegister(machine.resetPort))
        put(128, [machine.resetValue])
        put(131, [3])                                                   // FADT minor version (6.3)
        put(40, le(UInt32(truncatingIfNeeded: dsdt)))                   // DSDT, for readers before ACPI 2.0
        put(140, le(dsdt))                                              // X_DSDT
        put(244, ioRegister(machine.sleepControlPort))
        put(256, ioRegister(machine.sleepStatusPort))
        put(268, ascii("SWIFTLET"))                                     // hypervisor vendor identity
        return body
    }

    /// A Generic Address Structure for one byte in I/O space.
    static func ioRegister(_ port: UInt16) -> [UInt8] {
        [1, 8, 0, 1] + le(UInt64(port))
    }

    /// MADT: the local APIC address, no 8259 pair (PCAT_COMPAT clear), one local APIC per processor,
    /// the IOAPIC from GSI 0, and LINT1 as NMI on every processor.
    static func interruptControllers(_ machine: ACPIMachine) -> [UInt8] {
        var body = le(machine.localAPIC) + le(UInt32(0))
        for processor in 0..<machine.processors {
            body += [0, 8, UInt8(truncatingIfNeeded: processor), UInt8(truncatingIfNeeded: processor)] + le(UInt32(1))
        }
        body += [1, 12, machine.ioAPICID, 0] + le(machine.ioAPIC) + le(UInt32(0))
        body += [4, 6, 0xFF] + le(UInt16(0)) + [1]
        return body
    }

    /// DSDT: `\_SB.COM1` (PNP0501) and `\_SB.RTC` (PNP0B00) with their ports and IRQs, and `\_S5`.
    static func differentiatedSystemDescription(_ machine: ACPIMachine) -> [UInt8] {
        let com1 = AML.device("COM1", [
            AML.name("_HID", AML.eisaID("PNP0501")),
            AML.name("_UID", AML.integer(1)),
            AML.name("_CRS", AML.resources(port: machine.serial.port, count: 8, irq: machine.serial.irq)),
        ])
        let rtc = AML.device("RTC_", [
            AML.name("_HID", AML.eisaID("PNP0B00")),
            AML.name("_CRS", AML.resources(port: machine.rtc.port, count: 2, irq: machine.rtc.irq)),
        ])
        var virtio: [UInt8] = []
        for (index, device) in machine.virtioDevices.prefix(10).enumerated() {
            virtio += AML.device(AML.numbered("VR0", index), [
                AML.name("_HID", AML.string("LNRO0005")),
                AML.name("_UID", AML.integer(UInt64(index))),
                AML.name("_CRS", AML.resources(memory: device.base, size: device.size, gsi: device.gsi)),
            ])
        }
        let softOff = AML.name("_S5_", AML.package([AML.integer(UInt64(ACPIMachine.softOffType)), AML.integer(0)]))
        return AML.scope("\\_SB_", com1 + rtc + virtio) + softOff
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        var sum: UInt8 = 0
        for byte in bytes { sum &+= byte }
        return 0 &- sum
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        var bytes = [UInt8]()
        for index in 0..<(T.bitWidth / 8) { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
        return bytes
    }

    static func ascii(_ text: StaticString) -> [UInt8] {
        var bytes = [UInt8]()
        text.withUTF8Buffer { for byte in $0 { bytes.append(byte) } }
        return bytes
    }
}

/// The few AML (ACPI Machine Language) encodings the DSDT needs (ACPI spec, chapter 20).
enum AML {
    static func nameString(_ name: StaticString) -> [UInt8] {
        ACPITables.ascii(name)      // a root prefix '\' and 4-character segments, already padded with '_'
    }

    /// PkgLength: the length of what follows including the PkgLength bytes themselves.
    static func packageLength(_ contentLength: Int) -> [UInt8] {
        if contentLength + 1 < 64 { return [UInt8(contentLength + 1)] }
        for extra in 1...3 {
            let total = contentLength + 1 + extra
            if total < 1 << (4 + 8 * extra) {
                var bytes = [UInt8(extra << 6 | total & 0x0F)]
                for index in 0..<extra { bytes.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * index))) }
                return bytes
            }
        }
        return []                                  // beyond 256 MiB: never for these tables
    }

    static func scope(_ name: StaticString, _ terms: [UInt8]) -> [UInt8] {
        let content = nameString(name) + terms
        return [0x10] + packageLength(content.count) + content
    }

    static func device(_ name: StaticString, _ terms: [[UInt8]]) -> [UInt8] {
        device(nameString(name), terms)
    }

    static func device(_ name: [UInt8], _ terms: [[UInt8]]) -> [UInt8] {
        let content = name + terms.flatMap { $0 }
        return [0x5B, 0x82] + packageLength(content.count) + content
    }

    /// A 4-character name segment: a 3-character prefix and one decimal digit (`index` below 10).
    static func numbered(_ prefix: StaticString, _ index: Int) -> [UInt8] {
        nameString(prefix) + [UInt8(ascii: "0") + UInt8(index % 10)]
    }

    /// A null-terminated ASCII string (a _HID that is no EISA ID).
    static func string(_ text: StaticString) -> [UInt8] {
        [0x0D] + ACPITables.ascii(text) + [0x00]
    }

    static func name(_ name: StaticString, _ value: [UInt8]) -> [UInt8] {
        [0x08] + nameString(name) + value
    }

    static func integer(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0: return [0x00]
        case 1: return [0x01]
        case 0...0xFF: return [0x0A, UInt8(value)]
        case 0...0xFFFF: return [0x0B] + ACPITables.le(UInt16(value))
        case 0...0xFFFF_FFFF: return [0x0C] + ACPITables.le(UInt32(value))
        default: return [0x0E] + ACPITables.le(value)
        }
    }

    static func package(_ elements: [[UInt8]]) -> [UInt8] {
        let content = [UInt8(elements.count)] + elements.flatMap { $0 }
        return [0x12] + packageLength(content.count) + content
    }

    /// EisaId("ABCNNNN"): three letters of 5 bits each and four hex digits, big-endian in a DWord.
    static func eisaID(_ id: StaticString) -> [UInt8] {
        let c = ACPITables.ascii(id)
        let vendor = UInt16(c[0] - 0x40) << 10 | UInt16(c[1] - 0x40) << 5 | UInt16(c[2] - 0x40)
        func hex(_ byte: UInt8) -> UInt8 { byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "A") + 10 }
        let product = hex(c[3]) << 4 | hex(c[4])
        let revision = hex(c[5]) << 4 | hex(c[6])
        return [0x0C, UInt8(vendor >> 8), UInt8(vendor & 0xFF), product, revision]
    }

    /// A resource template: a read-write Memory32Fixed window and one Extended Interrupt (consumer,
    /// level-triggered, active-high, exclusive) on global system interrupt `gsi`.
    static func resources(memory base: UInt32, size: UInt32, gsi: UInt32) -> [UInt8] {
        var template: [UInt8] = [0x86] + ACPITables.le(UInt16(9)) + [0x01] + ACPITables.le(base) + ACPITables.le(size)
        template += [0x89] + ACPITables.le(UInt16(6)) + [0x01, 0x01] + ACPITables.le(gsi)
        template += [0x79, 0x00]
        let content = integer(UInt64(template.count)) + template
        return [0x11] + packageLength(content.count) + content
    }

    /// A resource template (a Buffer): one 16-bit-decoded I/O range and one edge-triggered ISA IRQ.
    static func resources(port: UInt16, count: UInt8, irq: UInt8) -> [UInt8] {
        var template: [UInt8] = [0x47, 0x01] + ACPITables.le(port) + ACPITables.le(port) + [0x01, count]
        template += [0x22] + ACPITables.le(UInt16(1) << (irq & 15))
        template += [0x79, 0x00]                                    // end tag; checksum 0 means "none"
        let content = integer(UInt64(template.count)) + template
        return [0x11] + packageLength(content.count) + content
    }
}
