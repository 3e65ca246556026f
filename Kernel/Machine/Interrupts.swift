import KernelPlatform
import SwiftletABI

/// Device interrupts: the IOAPIC found through the ACPI MADT, one vector per input line, and the
/// interrupt objects drivers hold. A line fires → the kernel masks it and signals the bound endpoint;
/// the driver's acknowledgement unmasks it. The kernel itself owns no device interrupt.
enum Interrupts {
    /// Vectors 0x40… carry IOAPIC inputs 0… (below: exceptions, the PIC range, the timer).
    static let vectorBase: UInt64 = 0x40
    static let maximumLines = 24

    nonisolated(unsafe) private(set) static var routing: InterruptRouting?
    nonisolated(unsafe) private static var ioapic = DeviceRegisters(base: 0)
    nonisolated(unsafe) private(set) static var lines = 0
    /// The interrupt object of each line, once handed out (kernel address, 0 = none).
    nonisolated(unsafe) private static var objects = InlineArray<24, UInt64>(repeating: 0)

    /// Finds the IOAPIC, masks every input. Returns a line for the boot report.
    static func initialize(rsdp: UnsafeRawBufferPointer?) -> LogLine {
        guard let rsdp else { return "interrupts: no ACPI RSDP from the boot loader; no device interrupts" }
        let madt: UnsafeRawBufferPointer
        do throws(ACPI.Failure) {
            madt = try findMADT(rsdp)
        } catch {
            return "interrupts: \(error.description); no device interrupts"
        }
        let found = InterruptRouting(madt: madt)
        guard let first = found.firstIOAPIC, let base = KernelMemory.mapDevice(first.address, size: 0x20) else {
            return "interrupts: the MADT lists no IOAPIC; no device interrupts"
        }
        routing = found
        ioapic = DeviceRegisters(base: base)
        lines = min(Int((read(1) >> 16) & 0xFF) + 1, maximumLines)
        for line in 0..<lines { program(line, masked: true) }
        return "interrupts: IOAPIC \(first.id) at \(hex: first.address), \(lines) inputs from GSI \(first.gsiBase); ISA IRQ 4 is GSI \(found.isa[4].gsi)"
    }

    /// RSDP → XSDT/RSDT → "APIC", each checked.
    private static func findMADT(_ rsdp: UnsafeRawBufferPointer) throws(ACPI.Failure) -> UnsafeRawBufferPointer {
        let root = try ACPI.parseRSDP(rsdp)
        guard let rootTable = table(at: root.address),
              ACPI.validate(rootTable, signature: root.extended ? ACPI.xsdtSignature : ACPI.rsdtSignature) else {
            throw .badTable
        }
        for address in RootTableEntries(rootTable, extended: root.extended) {
            if let candidate = table(at: address), ACPI.validate(candidate, signature: ACPI.madtSignature) { return candidate }
        }
        throw .noMADT
    }

    /// A whole table at a physical address, as far as the header's length says.
    private static func table(at address: PhysicalAddress) -> UnsafeRawBufferPointer? {
        guard address != 0, address + 36 <= KernelMemory.physicalLimit,
              let length = ACPI.tableLength(header: PhysicalMemory.bytes(PhysicalRange(start: address, size: 36))),
              address + UInt64(length) <= KernelMemory.physicalLimit else { return nil }
        return PhysicalMemory.bytes(PhysicalRange(start: address, size: UInt64(length)))
    }

    private static func read(_ register: UInt32) -> UInt32 {
        ioapic.write(0, register)
        return ioapic.read(0x10)
    }

    private static func write(_ register: UInt32, _ value: UInt32) {
        ioapic.write(0, register)
        ioapic.write(0x10, value)
    }

    /// Redirection entry of `line`: fixed delivery to the boot CPU's APIC at vector base + line.
    private static func program(_ line: Int, masked: Bool) {
        var activeLow = false, level = false
        if let routing {
            for irq in 0..<16 where routing.isa[irq].gsi == UInt32(line) {
                activeLow = routing.isa[irq].activeLow
                level = routing.isa[irq].levelTriggered
            }
            if line >= 16 { activeLow = true; level = true }      // PCI convention
        }
        var low = UInt32(vectorBase) + UInt32(line)
        if activeLow { low |= 1 << 13 }
        if level { low |= 1 << 15 }
        if masked { low |= 1 << 16 }
        write(0x10 + UInt32(line) * 2 + 1, LocalAPIC.id << 24)
        write(0x10 + UInt32(line) * 2, low)
    }

    /// The GSI an ISA IRQ arrives on.
    static func line(forISA irq: UInt64) -> Int? {
        guard let routing, irq < 16 else { return nil }
        let line = Int(routing.isa[Int(irq)].gsi)
        return line < lines ? line : nil
    }

    /// Creates the interrupt object of `line` (once).
    static func issue(line: Int, factory: UnsafeMutablePointer<Factory>) -> Result<InterruptPointer, SyscallError> {
        guard line >= 0 && line < lines else { return .failure(.invalidArgument) }
        guard objects[line] == 0 else { return .failure(.slotOccupied) }
        guard factory.pointee.chargeObject(Factory.cost(of: .interrupt)) else { return .failure(.quotaExceeded) }
        guard let frame = KernelMemory.allocateFrame() else {
            factory.pointee.refundObject(Factory.cost(of: .interrupt))
            return .failure(.quotaExceeded)
        }
        let object = PhysicalMemory.object(at: frame.adopt(), as: Interrupt.self)
        object.initialize(to: Interrupt(line: UInt32(line)))
        KernelObjects.enlist(&object.pointee.header, .interrupt, object, factory)
        objects[line] = UInt64(UInt(bitPattern: object))
        return .success(object)
    }

    /// An input line fired (vector base + line).
    static func fired(vector: UInt64) {
        let line = Int(vector - vectorBase)
        program(line, masked: true)
        LocalAPIC.endOfInterrupt()
        guard line < lines, objects[line] != 0 else { return }
        IPC.signal(InterruptPointer(bitPattern: UInt(objects[line]))!, scheduler: &System.scheduler)
        System.scheduler.chooseNext()
    }

    /// Unmasks the line if it is bound (the driver has handled the last interrupt).
    static func acknowledge(_ interrupt: InterruptPointer) {
        if interrupt.pointee.endpoint != nil { program(Int(interrupt.pointee.line), masked: false) }
    }

    static func bind(_ interrupt: InterruptPointer, to endpoint: EndpointPointer?, badge: UInt64) {
        interrupt.pointee.endpoint = endpoint
        interrupt.pointee.badge = badge
        program(Int(interrupt.pointee.line), masked: endpoint == nil)
    }

    /// Destroy: the line is masked and given back (another interrupt object may be issued for it), and
    /// a pending delivery is taken off its endpoint. The caller frees the frame and refunds the charge.
    static func retire(_ interrupt: InterruptPointer) {
        let line = Int(interrupt.pointee.line)
        if let endpoint = interrupt.pointee.endpoint, interrupt.pointee.pending {
            endpoint.pointee.removePending(interrupt)
        }
        interrupt.pointee.pending = false
        bind(interrupt, to: nil, badge: 0)
        if line < lines { objects[line] = 0 }
    }

    /// Destroy of `endpoint`: every interrupt bound to it is unbound (its line masked), as if its driver
    /// had called unbind. The table has one entry per line, so this is bounded by the line count.
    static func unbindAll(from endpoint: EndpointPointer) {
        for line in 0..<lines where objects[line] != 0 {
            let interrupt = InterruptPointer(bitPattern: UInt(objects[line]))!
            guard interrupt.pointee.endpoint == endpoint else { continue }
            if interrupt.pointee.pending { endpoint.pointee.removePending(interrupt) }
            interrupt.pointee.pending = false
            bind(interrupt, to: nil, badge: 0)
        }
    }
}
