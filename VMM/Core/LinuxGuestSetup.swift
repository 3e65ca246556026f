import SwiftletABI

/// Everything a VMM does for a Linux guest before its first instruction, as one pure function over the
/// guest's RAM: check the kernel, the initrd and the command line, plan the layout, copy the
/// protected-mode kernel and the initrd, write the command line, the ACPI tables, the reset vector, the
/// zero page, identity page tables and the GDT the 64-bit boot protocol requires, and return the vCPU state that enters
/// `startup_64` (RIP = load address + 0x200, RSI = zero page, long mode, interrupts off).
///
/// Nothing is written before every check passed: a configuration the VMM cannot honour is refused with a
/// reason and leaves RAM as it was.
public enum LinuxGuestSetup {
    /// Identity tables at 0x9000-0xEFFF, the GDT at 0x6000 with the protocol's code 0x10 and data 0x18 and
    /// a TSS at 0x20 (VM entry needs a TR), the stack below the page tables.
    public static let longMode = FlatLongMode(codeSelector: 0x10, dataSelector: 0x18, taskSelector: 0x20, gdt: 0x6000,
                                              tss: 0x6100, pml4: 0x9000, stackTop: 0x8FF0, cr4: 0x20)     // PAE

    public enum Failure: Error, Equatable {
        case kernel(LinuxKernelImage.Failure)
        case layout(LinuxBootLayout.Failure)
        /// A byte the command line may not hold (NUL, a control character other than tab, or non-ASCII).
        case badBootargs(offset: Int)
        /// RAM too small for the fixed low-memory structures, or not a multiple of 2 MiB.
        case badMemorySize
        /// An initrd in no format the kernel unpacks (`InitrdImage`).
        case badInitrd

        public var description: StaticString {
            switch self {
            case .kernel(let failure): return failure.description
            case .layout(let failure): return failure.description
            case .badBootargs: return "bootargs holds a byte a kernel command line may not (NUL, control or non-ASCII)"
            case .badMemorySize: return "guest memory is not a multiple of 2 MiB of at least 2 MiB"
            case .badInitrd: return "the initrd is not a newc cpio archive or one compressed with gzip, xz or zstd"
            }
        }
    }

    /// What the setup produced, for the VMM's messages, for the vCPU's first entry and for a reset.
    public struct Result {
        public var kernel: LinuxKernelImage
        public var layout: LinuxBootLayout
        public var state: GuestState
        /// The ACPI tables, built once: `load` writes them again without building (allocating) them anew.
        public var tables: [UInt8]
    }

    public static func prepare(ram: UnsafeMutableRawBufferPointer, kernel image: UnsafeRawBufferPointer,
                               initrd: UnsafeRawBufferPointer, bootargs: UnsafeRawBufferPointer,
                               acpi: ACPIMachine = ACPIMachine()) throws(Failure) -> Result {
        let memorySize = UInt64(ram.count)
        guard memorySize >= 2 << 20, memorySize % (2 << 20) == 0 else { throw .badMemorySize }
        let kernel: LinuxKernelImage
        do { kernel = try LinuxKernelImage(validating: image) } catch { throw .kernel(error) }
        guard initrd.count == 0 || InitrdImage.format(of: initrd) != nil else { throw .badInitrd }
        for index in 0..<bootargs.count {
            let byte = bootargs[index]
            guard byte == 9 || (byte >= 0x20 && byte < 0x7F) else { throw .badBootargs(offset: index) }
        }
        let layout: LinuxBootLayout
        do {
            layout = try LinuxBootLayout(memorySize: memorySize, kernel: kernel, initrdSize: UInt64(initrd.count),
                                         commandLineLength: UInt64(bootargs.count))
        } catch { throw .layout(error) }
        let tables = ACPITables.build(acpi, at: LinuxBootLayout.acpiTables)
        precondition(LinuxBootLayout.acpiTables + UInt64(tables.count) <= ResetVector.address, "the ACPI tables outgrew the BIOS area")

        var state = longMode.state(entry: layout.entry)
        state.rsi = LinuxBootLayout.zeroPage
        let result = Result(kernel: kernel, layout: layout, state: state, tables: tables)
        load(result, ram: ram, kernel: image, initrd: initrd, bootargs: bootargs)
        return result
    }

    /// Writes what the boot protocol places in RAM, from `setup` — `prepare`'s result for these same
    /// modules and RAM, so every check has passed: the layout keeps each piece inside RAM, the low
    /// structures are below 1 MiB and RAM is at least 2 MiB. The VMM runs it again when the guest resets
    /// (the guest has overwritten its RAM since), so it allocates nothing: the VMM's heap never frees.
    /// The low megabyte holds the VMM's structures: cleared first. The rest of RAM keeps what it holds, as
    /// a real machine's RAM does across a reset (the kernel clears its own BSS).
    public static func load(_ setup: Result, ram: UnsafeMutableRawBufferPointer, kernel image: UnsafeRawBufferPointer,
                            initrd: UnsafeRawBufferPointer, bootargs: UnsafeRawBufferPointer) {
        let layout = setup.layout
        precondition(UInt64(ram.count) == layout.memorySize && UInt64(initrd.count) == layout.initrdSize
                     && UInt64(bootargs.count) == layout.commandLineLength, "load is given other modules than prepare checked")
        UnsafeMutableRawBufferPointer(rebasing: ram[0..<Int(LinuxBootLayout.highMemoryStart)]).initializeMemory(as: UInt8.self, repeating: 0)
        copy(UnsafeRawBufferPointer(rebasing: image[setup.kernel.kernelOffset...]), into: ram, at: layout.kernelAddress)
        if initrd.count > 0 { copy(initrd, into: ram, at: layout.initrdAddress) }
        copy(bootargs, into: ram, at: LinuxBootLayout.commandLine)                // NUL-terminated: low RAM was cleared
        setup.tables.withUnsafeBytes { copy($0, into: ram, at: LinuxBootLayout.acpiTables) }
        let resetVector = ResetVector.code(ACPIMachine())
        for index in 0..<resetVector.count { ram[Int(ResetVector.address) + index] = resetVector[index] }
        let zeroPage = UnsafeMutableRawBufferPointer(rebasing: ram[Int(LinuxBootLayout.zeroPage)..<Int(LinuxBootLayout.zeroPage) + LinuxBootParameters.size])
        LinuxBootParameters.build(into: zeroPage, image: image, kernel: setup.kernel, layout: layout, rsdp: LinuxBootLayout.acpiTables)
        longMode.write { store(ram, $0, $1) }
    }

    static func copy(_ bytes: UnsafeRawBufferPointer, into ram: UnsafeMutableRawBufferPointer, at address: UInt64) {
        guard bytes.count > 0 else { return }
        ram.baseAddress!.advanced(by: Int(address)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }

    static func store(_ ram: UnsafeMutableRawBufferPointer, _ address: UInt64, _ value: UInt64) {
        ram.storeBytes(of: value.littleEndian, toByteOffset: Int(address), as: UInt64.self)
    }
}
