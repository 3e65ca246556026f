import SwiftletABI

/// One Multiboot module: its bytes and the string the kernel gets with it (its name or command line).
public struct MultibootModule {
    public var bytes: UnsafeRawBufferPointer
    public var string: UnsafeRawBufferPointer

    public init(bytes: UnsafeRawBufferPointer, string: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.string = string
    }
}

/// What a Multiboot (v1) loader does before the kernel's first instruction, as one pure function over the
/// guest's RAM (the counterpart of `LinuxGuestSetup`): check the image, the modules and the command line,
/// load the segments, place the modules page-aligned above the kernel, write the Multiboot information
/// (memory sizes and map, command line, modules, loader name), the same ACPI tables as for Linux and a
/// flat GDT, and return the state the specification prescribes: 32-bit protected mode without paging,
/// flat segments, EAX = 0x2BADB002, EBX = the information's address, interrupts off.
///
/// Nothing is written before every check passed.
public enum MultibootGuestSetup {
    /// The VMM's low structures, below where Multiboot kernels load (1 MiB and up): the GDT (null, code
    /// 0x08, data 0x10, TSS 0x18) and the TSS VM entry needs, a stack, the information and what it points to.
    public static let gdt: UInt64 = 0x6000, tss: UInt64 = 0x6100, stackTop: UInt64 = 0x7000
    public static let information: UInt64 = 0x8000, loaderName: UInt64 = 0x8100, memoryMap: UInt64 = 0x8200
    public static let moduleList: UInt64 = 0x8400, moduleStrings: UInt64 = 0x8800, commandLine: UInt64 = 0x9000
    public static let structuresEnd: UInt64 = 0xA000
    public static let maximumModules = 8
    /// Each module's string, without its NUL.
    public static let maximumModuleString = 127
    public static let maximumCommandLine = 4095
    static let loaderNameText: StaticString = "Swiftlet VMM"

    public enum Failure: Error, Equatable {
        case image(MultibootImage.Failure)
        case badMemorySize
        /// A segment overlaps the VMM's low structures or the BIOS area (0x6000-0x9FFF, 0x9FC00-0xFFFFF).
        case segmentInBootArea
        case tooLittleMemory
        case tooManyModules
        case moduleStringTooLong
        case commandLineTooLong
        case badCommandLine(offset: Int)

        public var description: StaticString {
            switch self {
            case .image(let failure): return failure.description
            case .badMemorySize: return "guest memory is not a multiple of 2 MiB of at least 2 MiB"
            case .segmentInBootArea: return "a segment overlaps the loader's structures (0x6000-0x9fff) or the BIOS area (0x9fc00-0xfffff)"
            case .tooLittleMemory: return "too little guest memory for the kernel's segments and the modules"
            case .tooManyModules: return "more than 8 modules"
            case .moduleStringTooLong: return "a module's string is longer than 127 bytes"
            case .commandLineTooLong: return "the command line is longer than 4095 bytes"
            case .badCommandLine: return "the command line holds a byte a kernel command line may not (NUL, control or non-ASCII)"
            }
        }
    }

    public struct Result {
        public var image: MultibootImage
        /// Where each module went (its first byte), in order, `moduleCount` of them.
        public var moduleAddresses: InlineArray<8, UInt64>
        public var moduleCount: Int
        public var state: GuestState
        /// The ACPI tables, built once: `load` writes them again without building (allocating) them anew.
        public var tables: [UInt8]
    }

    /// Checks everything, then places it (`load`). The modules are `modules[0..<moduleCount]`.
    public static func prepare(ram: UnsafeMutableRawBufferPointer, kernel bytes: UnsafeRawBufferPointer,
                               modules: InlineArray<8, MultibootModule>, moduleCount: Int,
                               commandLine: UnsafeRawBufferPointer) throws(Failure) -> Result {
        let memorySize = UInt64(ram.count)
        guard memorySize >= 2 << 20, memorySize % (2 << 20) == 0 else { throw .badMemorySize }
        let image: MultibootImage
        do { image = try MultibootImage(validating: bytes) } catch { throw .image(error) }
        guard moduleCount >= 0, moduleCount <= maximumModules else { throw .tooManyModules }
        guard commandLine.count <= maximumCommandLine else { throw .commandLineTooLong }
        for index in 0..<commandLine.count {
            let byte = commandLine[index]
            guard byte == 9 || (byte >= 0x20 && byte < 0x7F) else { throw .badCommandLine(offset: index) }
        }
        for index in 0..<moduleCount where modules[index].string.count > maximumModuleString { throw .moduleStringTooLong }
        for index in 0..<image.segmentCount {
            let segment = image.segments[index]
            if segment.address < structuresEnd && segment.end > gdt { throw .segmentInBootArea }
            if segment.address < LinuxBootLayout.highMemoryStart && segment.end > LinuxBootLayout.lowMemoryEnd { throw .segmentInBootArea }
            guard segment.end <= memorySize else { throw .tooLittleMemory }
        }
        var addresses = InlineArray<8, UInt64>(repeating: 0)
        var next = (image.loadEnd + 0xFFF) & ~0xFFF
        for index in 0..<moduleCount {
            let size = UInt64(modules[index].bytes.count)
            guard next <= memorySize, size <= memorySize - next else { throw .tooLittleMemory }
            addresses[index] = next
            next = (next + size + 0xFFF) & ~0xFFF
        }
        var state = GuestState()
        state.rip = UInt64(image.entry)
        state.rax = UInt64(MultibootImage.bootloaderMagic)
        state.rbx = information
        state.rsp = stackTop
        state.rflags = 0x2
        state.cr0 = 0x11                                                          // PE, ET; no paging
        state.cs = GuestSegment(selector: 0x08, attributes: 0xC9B, limit: 0xFFFF_FFFF)
        let data = GuestSegment(selector: 0x10, attributes: 0xC93, limit: 0xFFFF_FFFF)
        (state.ss, state.ds, state.es, state.fs, state.gs) = (data, data, data, data, data)
        state.tr = GuestSegment(selector: 0x18, attributes: 0x8B, limit: 0x67, base: tss)
        state.ldtr = GuestSegment()
        state.gdtr = GuestSegment(limit: 0x1F, base: gdt)
        state.idtr = GuestSegment(limit: 0, base: 0)
        let result = Result(image: image, moduleAddresses: addresses, moduleCount: moduleCount, state: state,
                            tables: ACPITables.build(ACPIMachine(), at: LinuxBootLayout.acpiTables))
        load(result, ram: ram, kernel: bytes, modules: modules, commandLine: commandLine)
        return result
    }

    /// Places what `prepare` checked, again after a reset (the same modules): clears the low megabyte and
    /// each segment, copies the segments and modules, writes the information, the ACPI tables, the reset
    /// vector's code and the GDT. Allocates nothing.
    public static func load(_ setup: Result, ram: UnsafeMutableRawBufferPointer, kernel bytes: UnsafeRawBufferPointer,
                            modules: InlineArray<8, MultibootModule>, commandLine: UnsafeRawBufferPointer) {
        let image = setup.image, memorySize = UInt64(ram.count)
        UnsafeMutableRawBufferPointer(rebasing: ram[0..<Int(LinuxBootLayout.highMemoryStart)]).initializeMemory(as: UInt8.self, repeating: 0)
        for index in 0..<image.segmentCount {
            let segment = image.segments[index]
            let start = Int(segment.address)
            UnsafeMutableRawBufferPointer(rebasing: ram[start..<start + Int(segment.memoryBytes)]).initializeMemory(as: UInt8.self, repeating: 0)
            LinuxGuestSetup.copy(UnsafeRawBufferPointer(rebasing: bytes[segment.fileOffset..<segment.fileOffset + segment.fileBytes]),
                                 into: ram, at: segment.address)
        }
        var stringAt = moduleStrings
        for index in 0..<setup.moduleCount {
            let module = modules[index]
            LinuxGuestSetup.copy(module.bytes, into: ram, at: setup.moduleAddresses[index])
            LinuxGuestSetup.copy(module.string, into: ram, at: stringAt)          // NUL-terminated: low RAM was cleared
            let entry = moduleList + UInt64(index) * 16
            put32(ram, entry, setup.moduleAddresses[index])
            put32(ram, entry + 4, setup.moduleAddresses[index] + UInt64(module.bytes.count))
            put32(ram, entry + 8, stringAt)
            stringAt += UInt64(maximumModuleString + 1)
        }
        LinuxGuestSetup.copy(commandLine, into: ram, at: self.commandLine)
        loaderNameText.withUTF8Buffer { LinuxGuestSetup.copy(UnsafeRawBufferPointer($0), into: ram, at: loaderName) }
        setup.tables.withUnsafeBytes { LinuxGuestSetup.copy($0, into: ram, at: LinuxBootLayout.acpiTables) }
        let resetVector = ResetVector.code(ACPIMachine())
        for index in 0..<resetVector.count { ram[Int(ResetVector.address) + index] = resetVector[index] }

        // The memory map: conventional memory, the EBDA and BIOS area (the ACPI tables live there), the rest.
        func region(_ index: UInt64, _ base: UInt64, _ length: UInt64, _ type: UInt64) {
            let entry = memoryMap + index * 24
            put32(ram, entry, 20)
            LinuxGuestSetup.store(ram, entry + 4, base)              // unaligned: the map's layout puts it at 4
            LinuxGuestSetup.store(ram, entry + 12, length)
            put32(ram, entry + 20, type)
        }
        region(0, 0, LinuxBootLayout.lowMemoryEnd, 1)
        region(1, LinuxBootLayout.lowMemoryEnd, LinuxBootLayout.highMemoryStart - LinuxBootLayout.lowMemoryEnd, 2)
        region(2, LinuxBootLayout.highMemoryStart, memorySize - LinuxBootLayout.highMemoryStart, 1)
        let mapEntries: UInt64 = 3
        // flags: memory sizes (0), command line (2), modules (3), memory map (6), loader name (9).
        put32(ram, information, 1 << 0 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9)
        put32(ram, information + 4, LinuxBootLayout.lowMemoryEnd >> 10)
        put32(ram, information + 8, min((memorySize - LinuxBootLayout.highMemoryStart) >> 10, 0xFFFF_FFFF))
        put32(ram, information + 16, self.commandLine)
        put32(ram, information + 20, UInt64(setup.moduleCount))
        put32(ram, information + 24, moduleList)
        put32(ram, information + 44, mapEntries * 24)
        put32(ram, information + 48, memoryMap)
        put32(ram, information + 64, loaderName)

        LinuxGuestSetup.store(ram, gdt + 0x08, 0x00CF_9B00_0000_FFFF)          // code: 32-bit, 4 GiB, DPL 0
        LinuxGuestSetup.store(ram, gdt + 0x10, 0x00CF_9300_0000_FFFF)          // data
        LinuxGuestSetup.store(ram, gdt + 0x18, 0x0000_8B00_0000_0067 | (tss & 0xFF_FFFF) << 16)   // 32-bit TSS (busy)
    }

    static func put32(_ ram: UnsafeMutableRawBufferPointer, _ address: UInt64, _ value: UInt64) {
        ram.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, toByteOffset: Int(address), as: UInt32.self)
    }
}
