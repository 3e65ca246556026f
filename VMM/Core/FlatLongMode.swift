import SwiftletABI

/// What a VMM sets up instead of a boot loader for a kernel entered in 64-bit mode (as Firecracker does
/// for Linux): identity page tables for the first 4 GiB (2 MiB pages), a GDT with a 64-bit code segment,
/// a flat data segment and a busy TSS (VM entry needs a usable TR), and the vCPU state that runs on them
/// with interrupts off. The selectors and places are the caller's: Linux's boot protocol wants code 0x10
/// and data 0x18; the test guests use 0x08 and 0x10.
public struct FlatLongMode: Sendable {
    public var codeSelector: UInt16, dataSelector: UInt16, taskSelector: UInt16
    /// The GDT (`taskSelector + 16` bytes), the TSS, the PML4 (the PDPT and four directories follow it in
    /// the next 5 pages), the stack top.
    public var gdt: UInt64, tss: UInt64, pml4: UInt64, stackTop: UInt64
    public var cr4: UInt64

    public init(codeSelector: UInt16, dataSelector: UInt16, taskSelector: UInt16, gdt: UInt64, tss: UInt64, pml4: UInt64,
                stackTop: UInt64, cr4: UInt64) {
        (self.codeSelector, self.dataSelector, self.taskSelector) = (codeSelector, dataSelector, taskSelector)
        (self.gdt, self.tss, self.pml4, self.stackTop, self.cr4) = (gdt, tss, pml4, stackTop, cr4)
    }

    /// Writes the page tables and the GDT's three descriptors with `store` (guest-physical address, word).
    public func write(_ store: (UInt64, UInt64) -> Void) {
        let pdpt = pml4 + 0x1000, directories = pml4 + 0x2000
        store(pml4, pdpt | 3)
        for gib in 0..<UInt64(4) {
            store(pdpt + gib * 8, (directories + gib * 4096) | 3)
            for entry in 0..<UInt64(512) {
                store(directories + gib * 4096 + entry * 8, (gib << 30 | entry << 21) | 0x83)   // present, writable, 2 MiB
            }
        }
        store(gdt + UInt64(codeSelector), 0x00AF_9B00_0000_FFFF)          // code: 64-bit, present, DPL 0
        store(gdt + UInt64(dataSelector), 0x00CF_9300_0000_FFFF)          // data
        store(gdt + UInt64(taskSelector), 0x0000_8B00_0000_0067 | (tss & 0xFF_FFFF) << 16)   // TSS (busy), limit 103
        store(gdt + UInt64(taskSelector) + 8, 0)
    }

    /// Long mode with paging on these tables, the segments above, RIP at `entry`, interrupts off.
    public func state(entry: UInt64) -> GuestState {
        var state = GuestState()
        state.rip = entry
        state.rsp = stackTop
        state.rflags = 0x2
        state.cr0 = 0x8000_0031            // PG, NE, ET, PE
        state.cr3 = pml4
        state.cr4 = cr4
        state.efer = 0x500                 // LME, LMA
        state.cs = GuestSegment(selector: codeSelector, attributes: 0xA9B, limit: 0xFFFF_FFFF)   // G, L, P, S, code
        let data = GuestSegment(selector: dataSelector, attributes: 0xC93, limit: 0xFFFF_FFFF)
        state.ss = data
        state.ds = data
        state.es = data
        state.fs = data
        state.gs = data
        state.tr = GuestSegment(selector: taskSelector, attributes: 0x8B, limit: 0x67, base: tss)
        state.ldtr = GuestSegment()                                                      // no LDT
        state.gdtr = GuestSegment(limit: UInt32(taskSelector) + 15, base: gdt)
        state.idtr = GuestSegment(limit: 0, base: 0)
        return state
    }

    /// Everything the startup reply writes.
    public static let startupMask: TransferMask = [.generalRegisters, .ripAndLength, .rflags, .codeStackSegments, .dataSegments,
                                                   .extraSegments, .taskAndLocalTables, .descriptorTables, .controlRegisters,
                                                   .efer, .interruptibility, .syscallMSRs]
}
