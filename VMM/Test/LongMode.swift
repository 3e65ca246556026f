import SwiftletABI
import VMMCore

/// The test guests' long mode (`FlatLongMode`): page tables at 0x1000-0x6FFF, the GDT at 0x7000 with
/// code 0x08, data 0x10 and the TSS at 0x18, SSE enabled for the guest.
enum LongMode {
    static let setup = FlatLongMode(codeSelector: 0x08, dataSelector: 0x10, taskSelector: 0x18, gdt: 0x7000, tss: 0x7100,
                                    pml4: 0x1000, stackTop: 0x8_0000, cr4: 0x620)     // PAE, OSFXSR, OSXMMEXCPT

    static func build(in memory: GuestMemory) {
        setup.write { memory.store64($0, $1) }
    }

    static func state(entry: UInt64) -> GuestState {
        setup.state(entry: entry)
    }

    static let mask = FlatLongMode.startupMask
}
