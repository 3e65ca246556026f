import SwiftletABI

/// What the VMM does instead of a boot loader (as Firecracker does for Linux): identity page tables for
/// the first 4 GiB, a GDT with a 64-bit code segment, a data segment and a TSS, and the vCPU state of a
/// kernel entered in long mode with paging on.
enum LongMode {
    static let pml4: UInt64 = 0x1000, pdpt: UInt64 = 0x2000, directories: UInt64 = 0x3000   // four, to 0x6FFF
    static let gdt: UInt64 = 0x7000, tss: UInt64 = 0x7100
    static let stackTop: UInt64 = 0x8_0000
    static let codeSelector: UInt16 = 0x08, dataSelector: UInt16 = 0x10, taskSelector: UInt16 = 0x18

    static func build(in memory: GuestMemory) {
        memory.store64(pml4, pdpt | 3)
        for gib in 0..<UInt64(4) {
            memory.store64(pdpt + gib * 8, (directories + gib * 4096) | 3)
            for entry in 0..<UInt64(512) {
                let physical = gib << 30 | entry << 21
                memory.store64(directories + gib * 4096 + entry * 8, physical | 0x83)     // present, writable, 2 MiB
            }
        }
        memory.store64(gdt + 8, 0x00AF_9B00_0000_FFFF)         // code: 64-bit, present, DPL 0
        memory.store64(gdt + 16, 0x00CF_9300_0000_FFFF)        // data
        memory.store64(gdt + 24, 0x0000_8B00_0000_0067 | (tss & 0xFF_FFFF) << 16)   // TSS (busy), limit 103
        memory.store64(gdt + 32, 0)
    }

    /// The state the startup reply sets: long mode, paging, protected mode, the segments above, RIP at `entry`.
    static func state(entry: UInt64) -> GuestState {
        var state = GuestState()
        state.rip = entry
        state.rsp = stackTop
        state.rflags = 0x2
        state.cr0 = 0x8000_0031            // PG, NE, ET, PE
        state.cr3 = pml4
        state.cr4 = 0x620                  // PAE, OSFXSR, OSXMMEXCPT: SSE for the guest
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
        state.gdtr = GuestSegment(limit: 39, base: gdt)
        state.idtr = GuestSegment(limit: 0, base: 0)
        return state
    }

    /// Everything the startup reply writes.
    static let mask: TransferMask = [.generalRegisters, .ripAndLength, .rflags, .codeStackSegments, .dataSegments,
                                     .extraSegments, .taskAndLocalTables, .descriptorTables, .controlRegisters, .efer,
                                     .interruptibility, .syscallMSRs]
}
