import SwiftletABI
import VMMCore
import XCTest

/// Multiboot (v1) kernels: the header and ELF checks, and the loader's work over a RAM buffer (segments,
/// modules, the information structure and the entry state the specification prescribes).
final class MultibootTests: XCTestCase {
    static let mib = 1 << 20

    static func header(flags: UInt32, checksumError: UInt32 = 0) -> [UInt8] {
        bytes32(MultibootImage.headerMagic) + bytes32(flags) + bytes32(0 &- MultibootImage.headerMagic &- flags &+ checksumError)
    }

    static func bytes32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func bytes16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func bytes64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    /// An ELF32 executable: one PT_LOAD segment linked at virtual `virtualAddress`, loaded at `physical`,
    /// with `code` as its file bytes and `bss` zero bytes after them; the Multiboot header starts the code.
    static func elf32(physical: UInt32 = 0x10_0000, virtualAddress: UInt32 = 0x10_0000, entryOffset: UInt32 = 12,
                      code: [UInt8] = header(flags: 0x3) + [0xF4, 0xEB, 0xFD], bss: UInt32 = 0x1000, machine: UInt16 = 3) -> [UInt8] {
        let codeOffset: UInt32 = 0x1000
        var file = [UInt8]()
        file += [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 8)   // ELF32, little-endian
        file += bytes16(2) + bytes16(machine) + bytes32(1)                                     // ET_EXEC, machine, version
        file += bytes32(virtualAddress + entryOffset) + bytes32(52) + bytes32(0)              // entry, phoff, shoff
        file += bytes32(0) + bytes16(52) + bytes16(32) + bytes16(1) + bytes16(0) + bytes16(0) + bytes16(0)
        file += bytes32(1) + bytes32(codeOffset) + bytes32(virtualAddress) + bytes32(physical)   // PT_LOAD
        file += bytes32(UInt32(code.count)) + bytes32(UInt32(code.count) + bss) + bytes32(5) + bytes32(0x1000)
        file += [UInt8](repeating: 0, count: Int(codeOffset) - file.count)
        return file + code
    }

    func image(_ bytes: [UInt8]) -> Result<MultibootImage, MultibootImage.Failure> {
        bytes.withUnsafeBytes { raw in
            do throws(MultibootImage.Failure) { return .success(try MultibootImage(validating: raw)) } catch { return .failure(error) }
        }
    }

    func testAnELF32KernelIsLoadedAtItsPhysicalAddresssAndItsEntryTranslated() throws {
        // Linked at 3 GiB + 1 MiB, loaded at 1 MiB: the entry runs where the segment was loaded.
        let parsed = try image(Self.elf32(physical: 0x10_0000, virtualAddress: 0xC010_0000)).get()
        XCTAssertTrue(parsed.isELF)
        XCTAssertEqual(parsed.segmentCount, 1)
        XCTAssertEqual(parsed.segments[0], MultibootImage.Segment(address: 0x10_0000, fileOffset: 0x1000, fileBytes: 15, memoryBytes: 15 + 0x1000))
        XCTAssertEqual(parsed.entry, 0x10_000C)
        XCTAssertEqual(parsed.loadEnd, 0x10_0000 + 15 + 0x1000)
    }

    func testTheAddressFieldsLoadAnImageThatIsNoELF() throws {
        // header_addr 0x100000 at file offset 0, load_addr 0x100000, load_end 0 (the whole file), bss_end 0x102000.
        var file = Self.header(flags: 1 << 16)
        file += Self.bytes32(0x10_0000) + Self.bytes32(0x10_0000) + Self.bytes32(0) + Self.bytes32(0x10_2000) + Self.bytes32(0x10_0020)
        file += [UInt8](repeating: 0x90, count: 64)
        let parsed = try image(file).get()
        XCTAssertFalse(parsed.isELF)
        XCTAssertEqual(parsed.segments[0], MultibootImage.Segment(address: 0x10_0000, fileOffset: 0, fileBytes: file.count, memoryBytes: 0x2000))
        XCTAssertEqual(parsed.entry, 0x10_0020)
    }

    func refusal(_ bytes: [UInt8]) -> MultibootImage.Failure? {
        if case .failure(let failure) = image(bytes) { return failure }
        return nil
    }

    func testForeignDamagedOrDemandingImagesAreRefusedWithTheReason() {
        XCTAssertEqual(refusal([UInt8](repeating: 0, count: 9000)), .noHeader)
        var late = [UInt8](repeating: 0, count: 8192) + Self.header(flags: 0)
        XCTAssertEqual(refusal(late), .noHeader, "a header past the first 8192 bytes does not count")
        late = Self.elf32(code: Self.header(flags: 0x3, checksumError: 1) + [0xF4])
        XCTAssertEqual(refusal(late), .badChecksum)
        XCTAssertEqual(refusal(Self.elf32(code: Self.header(flags: 1 << 3) + [0xF4])), .unsupportedFlags(1 << 3))
        XCTAssertEqual(refusal(Self.header(flags: 0) + [UInt8](repeating: 0, count: 64)), .notELF)
        XCTAssertEqual(refusal(Self.elf32(machine: 40)), .badELF, "an ARM ELF")
        XCTAssertEqual(refusal(Self.elf32(entryOffset: 0x9000)), .entryNotLoaded)
        XCTAssertEqual(refusal(Self.elf32(physical: 0xFFFF_F000)), .segmentAbove4G)
        // A segment whose file bytes run past the end of the file (truncated).
        let full = Self.elf32()
        XCTAssertEqual(refusal(Array(full.prefix(full.count - 2))), .segmentOutsideFile)
        // Program headers outside the file.
        var headers = full
        headers.replaceSubrange(28..<32, with: Self.bytes32(0xFFFF_FF00))
        XCTAssertEqual(refusal(headers), .badELF)
    }

    /// Runs the loader over `ramMiB` of RAM filled with 0xAA.
    func prepare(ramMiB: Int = 8, kernel: [UInt8] = elf32(), modules: [(bytes: [UInt8], string: String)] = [],
                 commandLine: String = "kernel console=ttyS0") -> (Result<MultibootGuestSetup.Result, MultibootGuestSetup.Failure>, [UInt8]) {
        var ram = [UInt8](repeating: 0xAA, count: ramMiB * Self.mib)
        let strings = modules.map { Array($0.string.utf8) }
        let line = Array(commandLine.utf8)
        // Buffers that outlive the closure: the module list points into them.
        let pointers = modules.indices.map { index -> MultibootModule in
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: modules[index].bytes.count, alignment: 1)
            bytes.copyBytes(from: modules[index].bytes)
            let string = UnsafeMutableRawBufferPointer.allocate(byteCount: strings[index].count, alignment: 1)
            string.copyBytes(from: strings[index])
            return MultibootModule(bytes: UnsafeRawBufferPointer(bytes), string: UnsafeRawBufferPointer(string))
        }
        defer { pointers.forEach { UnsafeMutableRawPointer(mutating: $0.bytes.baseAddress)?.deallocate(); UnsafeMutableRawPointer(mutating: $0.string.baseAddress)?.deallocate() } }
        let result: Result<MultibootGuestSetup.Result, MultibootGuestSetup.Failure> = ram.withUnsafeMutableBytes { ram in
            kernel.withUnsafeBytes { kernel in
                line.withUnsafeBytes { line in
                    { () -> Result<MultibootGuestSetup.Result, MultibootGuestSetup.Failure> in
                        var list = InlineArray<8, MultibootModule>(repeating: MultibootModule(bytes: UnsafeRawBufferPointer(start: nil, count: 0),
                                                                                              string: UnsafeRawBufferPointer(start: nil, count: 0)))
                        for index in 0..<min(pointers.count, 8) { list[index] = pointers[index] }
                        do throws(MultibootGuestSetup.Failure) {
                            return .success(try MultibootGuestSetup.prepare(ram: ram, kernel: kernel, modules: list, moduleCount: pointers.count,
                                                                            commandLine: line))
                        } catch {
                            return .failure(error)
                        }
                    }()
                }
            }
        }
        return (result, ram)
    }

    func u32(_ ram: [UInt8], _ address: UInt64) -> UInt32 { ram.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(address), as: UInt32.self) } }
    func u64(_ ram: [UInt8], _ address: UInt64) -> UInt64 { ram.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(address), as: UInt64.self) } }
    func string(_ ram: [UInt8], _ address: UInt64) -> String {
        String(decoding: ram[Int(address)...].prefix { $0 != 0 }, as: UTF8.self)
    }

    func testTheLoaderLeavesWhatTheSpecificationPromises() throws {
        let kernel = Self.elf32()
        let (result, ram) = prepare(kernel: kernel, modules: [([1, 2, 3], "first arg"), ([UInt8](repeating: 7, count: 5000), "second")])
        let setup = try result.get()
        // The segment: file bytes, then zeros for its BSS.
        XCTAssertEqual(Array(ram[0x10_0000..<0x10_000F]), Array(kernel[0x1000...]))
        XCTAssertEqual(ram[0x10_000F..<0x10_100F].allSatisfy { $0 == 0 }, true)
        // The entry state: 32-bit protected mode, no paging, flat segments, the magic and the information.
        let state = setup.state
        XCTAssertEqual(state.rip, 0x10_000C)
        XCTAssertEqual(state.rax, 0x2BAD_B002)
        XCTAssertEqual(state.rbx, MultibootGuestSetup.information)
        XCTAssertEqual(state.cr0 & 0x8000_0001, 1, "protected mode without paging")
        XCTAssertEqual(state.efer, 0)
        XCTAssertEqual(state.rflags & 0x200, 0, "interrupts off")
        XCTAssertEqual(state.cs.attributes, 0xC9B)
        XCTAssertEqual(state.cs.limit, 0xFFFF_FFFF)
        XCTAssertEqual(state.ds.attributes, 0xC93)
        XCTAssertEqual(u64(ram, MultibootGuestSetup.gdt + 8), 0x00CF_9B00_0000_FFFF)
        // The information: flags, memory, command line, modules (page-aligned above the kernel), map, name.
        let info = MultibootGuestSetup.information
        XCTAssertEqual(u32(ram, info), 1 << 0 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9)
        XCTAssertEqual(u32(ram, info + 4), 639)
        XCTAssertEqual(u32(ram, info + 8), 7 * 1024)
        XCTAssertEqual(string(ram, UInt64(u32(ram, info + 16))), "kernel console=ttyS0")
        XCTAssertEqual(u32(ram, info + 20), 2)
        let list = UInt64(u32(ram, info + 24))
        XCTAssertEqual(u32(ram, list), 0x10_2000, "the first module on the page after the kernel's end (0x10100f)")
        XCTAssertEqual(u32(ram, list + 4), 0x10_2003)
        XCTAssertEqual(string(ram, UInt64(u32(ram, list + 8))), "first arg")
        XCTAssertEqual(u32(ram, list + 16), 0x10_3000)
        XCTAssertEqual(u32(ram, list + 20), 0x10_3000 + 5000)
        XCTAssertEqual(string(ram, UInt64(u32(ram, list + 24))), "second")
        XCTAssertEqual(Array(ram[0x10_2000..<0x10_2003]), [1, 2, 3])
        XCTAssertEqual(setup.moduleAddresses[1], 0x10_3000)
        XCTAssertEqual(u32(ram, info + 44), 3 * 24)
        let map = UInt64(u32(ram, info + 48))
        XCTAssertEqual([u32(ram, map), UInt32(truncatingIfNeeded: u64(ram, map + 4)), UInt32(truncatingIfNeeded: u64(ram, map + 12)), u32(ram, map + 20)],
                       [20, 0, 0x9_FC00, 1])
        XCTAssertEqual(u64(ram, map + 48 + 4), 0x10_0000)
        XCTAssertEqual(u64(ram, map + 48 + 12), UInt64(7 * Self.mib))
        XCTAssertEqual(string(ram, UInt64(u32(ram, info + 64))), "Swiftlet VMM")
        // The same ACPI tables as a Linux guest gets: the RSDP in the BIOS area.
        XCTAssertEqual(String(decoding: ram[0xE_0000..<0xE_0008], as: UTF8.self), "RSD PTR ")
    }

    func testWhatTheLoaderCannotHonourIsRefusedAndRAMIsLeftAsItWas() {
        func refused(_ outcome: (Result<MultibootGuestSetup.Result, MultibootGuestSetup.Failure>, [UInt8]),
                     _ failure: MultibootGuestSetup.Failure, file: StaticString = #filePath, line: UInt = #line) {
            guard case .failure(let found) = outcome.0 else { return XCTFail("not refused", file: file, line: line) }
            XCTAssertEqual(found, failure, file: file, line: line)
            XCTAssertTrue(outcome.1.allSatisfy { $0 == 0xAA }, "RAM was written", file: file, line: line)
        }
        refused(prepare(kernel: Self.elf32(physical: 0x8000, virtualAddress: 0x8000)), .segmentInBootArea)
        refused(prepare(kernel: Self.elf32(physical: 0xE_0000, virtualAddress: 0xE_0000)), .segmentInBootArea)
        refused(prepare(ramMiB: 2, kernel: Self.elf32(physical: 0x30_0000, virtualAddress: 0x30_0000)), .tooLittleMemory)
        refused(prepare(ramMiB: 2, modules: [([UInt8](repeating: 1, count: Self.mib), "big")]), .tooLittleMemory)
        refused(prepare(modules: Array(repeating: ([1], "m"), count: 9)), .tooManyModules)
        refused(prepare(modules: [([1], String(repeating: "x", count: 128))]), .moduleStringTooLong)
        refused(prepare(commandLine: "a\nb"), .badCommandLine(offset: 1))
        refused(prepare(kernel: [0x7F, 0x45]), .image(.noHeader))
        refused(prepare(ramMiB: 3), .badMemorySize)
    }
}
