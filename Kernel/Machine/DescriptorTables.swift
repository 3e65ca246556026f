import KernelPlatform
import SwiftletABI

/// The GDT (with the 64-bit TSS) and the IDT. The segment layout is fixed by SYSCALL/SYSRET, which
/// derive selectors from STAR: kernel code, kernel data, then user code32 (unused), user data, user code.
enum Selector {
    static let kernelCode: UInt16 = 0x08
    static let kernelData: UInt16 = 0x10
    static let userCode32: UInt16 = 0x18
    static let userData: UInt16 = 0x20 | 3
    static let userCode: UInt16 = 0x28 | 3
    static let taskState: UInt16 = 0x30
}

enum DescriptorTables {
    /// Stack for exceptions that must not use the interrupted stack (#DF, NMI, #MC): IST slot 1.
    static let criticalStackIndex: UInt64 = 1

    /// TSS.RSP0: where the CPU pushes the frame of an interrupt taken in user mode (unaligned: byte 4).
    nonisolated(unsafe) private(set) static var kernelEntryStack = UnsafeMutableRawPointer(bitPattern: 8)!
    nonisolated(unsafe) private static var gdtPointer = DescriptorTablePointer(limit: 0, base: 0)

    static func install() -> Bool {
        guard let gdtFrame = KernelMemory.allocateFrame(), let idtFrame = KernelMemory.allocateFrame(),
              let tss = KernelMemory.mapFreshKernelPages(TaskStateSegment.pages) else { return false }
        PhysicalMemory.zeroFrame(gdtFrame.address)
        PhysicalMemory.zeroFrame(idtFrame.address)
        let gdt = KernelPage(physical: gdtFrame.adopt())
        let idt = KernelPage(physical: idtFrame.adopt())
        kernelEntryStack = tss + 4
        installGDT(gdt, tss: tss)
        IOPorts.install(taskStateSegment: tss)
        installIDT(idt)
        return true
    }

    /// The 64-bit TSS (104 bytes) followed by the I/O permission bitmap (8 KiB, one bit per port) and
    /// its terminating byte: three pages, virtually contiguous, since the CPU reads it by linear address.
    enum TaskStateSegment {
        static let size = 104
        static let pages: UInt64 = 3
        static let limit = UInt64(size + IOPorts.bitmapBytes)
    }

    private static func installGDT(_ page: KernelPage, tss base: UnsafeMutableRawPointer) {
        let present: UInt64 = 1 << 47
        let code64: UInt64 = present | (1 << 44) | (1 << 43) | (1 << 41) | (1 << 53)   // P S E R L
        let data: UInt64 = present | (1 << 44) | (1 << 41) | (1 << 54)                 // P S W D
        let userDPL: UInt64 = 3 << 45
        page.store(0, atWord: 0)
        page.store(code64, atWord: 1)
        page.store(data, atWord: 2)
        page.store(code64 & ~(1 << 53) | (1 << 54) | userDPL, atWord: 3)       // 32-bit user code (placeholder for STAR)
        page.store(data | userDPL, atWord: 4)
        page.store(code64 | userDPL, atWord: 5)

        let tss = UInt64(UInt(bitPattern: base))
        let limit = TaskStateSegment.limit
        let low = (limit & 0xFFFF) | ((tss & 0xFF_FFFF) << 16) | (UInt64(0x89) << 40)
            | ((limit >> 16) & 0xF) << 48 | ((tss >> 24) & 0xFF) << 56
        page.store(low, atWord: 6)
        page.store(tss >> 32, atWord: 7)

        // TSS: RSP0 (for ring 3 → 0; set per thread later) and IST1. The I/O bitmap is IOPorts' business.
        let image = kernel_image_layout()
        base.storeBytes(of: image.stackTop, toByteOffset: 4, as: UInt64.self)
        base.storeBytes(of: image.interruptStackTop, toByteOffset: 36, as: UInt64.self)

        gdtPointer = DescriptorTablePointer(limit: UInt16(8 * 8 - 1), base: page.virtual)
        x86_lgdt(&gdtPointer)
        x86_reload_segments(Selector.kernelCode, Selector.kernelData)
        x86_ltr(Selector.taskState)
    }

    /// A VMX exit sets GDTR's limit to 0xFFFF (user code could load descriptors from beyond the GDT: reload
    /// it now) and TR's to 0x67, which hides only the I/O permission bitmap: TR is reloaded when a task with
    /// ports runs (`reloadTaskRegisterIfStale`).
    static func reloadAfterVMExit() {
        x86_lgdt(&gdtPointer)
        taskRegisterStale = true
    }

    nonisolated(unsafe) private static var taskRegisterStale = false

    @inline(__always)
    static func reloadTaskRegisterIfStale() {
        guard taskRegisterStale else { return }
        taskRegisterStale = false
        let descriptor = UnsafeMutablePointer<UInt64>(bitPattern: UInt(gdtPointer.base))! + 6
        descriptor.pointee &= ~(UInt64(1) << 41)                  // busy → available, or LTR faults
        x86_ltr(Selector.taskState)
    }

    private static func installIDT(_ page: KernelPage) {
        for vector in 0..<256 {
            let handler = isr_stub_address(UInt32(vector))
            let critical = vector == 2 || vector == 8 || vector == 18
            let ist = critical ? criticalStackIndex : 0
            let interruptGate: UInt64 = 0x8E    // present, DPL 0, 64-bit interrupt gate (IF cleared on entry)
            let low = (handler & 0xFFFF) | (UInt64(Selector.kernelCode) << 16) | (ist << 32)
                | (interruptGate << 40) | ((handler >> 16) & 0xFFFF) << 48
            page.store(low, atWord: vector * 2)
            page.store(handler >> 32, atWord: vector * 2 + 1)
        }
        var pointer = DescriptorTablePointer(limit: UInt16(256 * 16 - 1), base: page.virtual)
        x86_lidt(&pointer)
    }
}
