import SwiftletABI
import VMMCore
import XCTest

/// The Linux boot protocol's pure parts: the bzImage setup-header check, the memory layout and the zero page.
final class LinuxBootTests: XCTestCase {
    /// A bzImage as Debian's 6.1 cloud kernel lays it out (protocol 2.15, 39 setup sectors, 64-bit entry,
    /// relocatable, preferred address 16 MiB), with `kernelBytes` of protected-mode kernel.
    static func bzImage(version: UInt16 = 0x020F, setupSectors: UInt8 = 39, xloadflags: UInt16 = 0x7F,
                        kernelBytes: Int = 64 * 1024, initSize: UInt32 = 0x0338_0000) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (Int(setupSectors) + 1) * 512 + kernelBytes)
        func put(_ offset: Int, _ value: UInt64, _ width: Int) {
            for index in 0..<width { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        put(0x1F1, UInt64(setupSectors), 1)
        put(0x1FE, 0xAA55, 2)
        put(0x200, 0xEB, 1)                      // jmp short ...
        put(0x201, 0x6A, 1)                      // ... over a header ending at 0x26C
        put(0x202, 0x5372_6448, 4)               // "HdrS"
        put(0x206, UInt64(version), 2)
        put(0x211, 0x01, 1)                      // LOADED_HIGH
        put(0x22C, 0x7FFF_FFFF, 4)               // initrd_addr_max
        put(0x230, 0x20_0000, 4)                 // kernel_alignment 2 MiB
        put(0x234, 1, 1)                         // relocatable
        put(0x236, UInt64(xloadflags), 2)
        put(0x238, 2047, 4)                      // cmdline_size
        put(0x258, 0x100_0000, 8)                // pref_address
        put(0x260, UInt64(initSize), 4)
        return bytes
    }

    func parse(_ bytes: [UInt8]) -> Result<LinuxKernelImage, LinuxKernelImage.Failure> {
        bytes.withUnsafeBytes { buffer in
            do throws(LinuxKernelImage.Failure) {
                return .success(try LinuxKernelImage(validating: buffer))
            } catch {
                return .failure(error)
            }
        }
    }

    func image(_ bytes: [UInt8] = bzImage()) throws -> LinuxKernelImage {
        try parse(bytes).get()
    }

    func testTheSetupHeaderOfADebianLikeKernel() throws {
        let kernel = try image()
        XCTAssertEqual(kernel.protocolVersion, 0x020F)
        XCTAssertEqual(kernel.kernelOffset, 40 * 512)
        XCTAssertEqual(kernel.kernelSize, 64 * 1024)
        XCTAssertEqual(kernel.preferredAddress, 0x100_0000)
        XCTAssertEqual(kernel.alignment, 0x20_0000)
        XCTAssertTrue(kernel.relocatable)
        XCTAssertEqual(kernel.initSize, 0x0338_0000)
        XCTAssertEqual(kernel.commandLineLimit, 2047)
        XCTAssertEqual(kernel.initrdAddressMax, 0x7FFF_FFFF)
        XCTAssertTrue(kernel.initrdAbove4G)
        XCTAssertEqual(kernel.headerLength, 0x26C - 0x1F1)
    }

    func testMalformedImagesAreRefusedWithTheirReason() {
        XCTAssertEqual(parse(Array(Self.bzImage()[0..<0x200])).failure, .tooSmall)
        var unsigned = Self.bzImage()
        unsigned[0x1FE] = 0
        XCTAssertEqual(parse(unsigned).failure, .noBootSignature)
        var noHeader = Self.bzImage()
        noHeader[0x202] = UInt8(ascii: "X")
        XCTAssertEqual(parse(noHeader).failure, .noSetupHeader)
        XCTAssertEqual(parse(Self.bzImage(version: 0x020A)).failure, .protocolTooOld(0x020A))
        var zImage = Self.bzImage()
        zImage[0x211] = 0
        XCTAssertEqual(parse(zImage).failure, .notLoadedHigh)
        XCTAssertEqual(parse(Self.bzImage(xloadflags: 0x7E)).failure, .no64BitEntry)
        // The setup sectors claim more than the file has: a truncated download.
        XCTAssertEqual(parse(Array(Self.bzImage(kernelBytes: 0)[0..<(20 * 512)])).failure, .setupOutOfBounds)
        var badAlignment = Self.bzImage()
        badAlignment[0x230] = 0x01
        XCTAssertEqual(parse(badAlignment).failure, .badAlignment)
        XCTAssertEqual(parse(Self.bzImage(kernelBytes: 8192, initSize: 4096)).failure, .noInitSize)
    }

    func layout(memoryMiB: UInt64, initrd: UInt64 = 1_400_000, commandLine: UInt64 = 100) throws -> LinuxBootLayout {
        try LinuxBootLayout(memorySize: memoryMiB << 20, kernel: try image(), initrdSize: initrd, commandLineLength: commandLine)
    }

    func testTheKernelGoesToItsPreferredAddressAndTheInitrdToTheTopOfRAM() throws {
        let plan = try layout(memoryMiB: 128)
        XCTAssertEqual(plan.kernelAddress, 0x100_0000)
        XCTAssertEqual(plan.entry, 0x100_0200)
        XCTAssertEqual(plan.initrdAddress, (128 << 20) - 1_400_832, "page-aligned, ending at the top of RAM")
        XCTAssertEqual(plan.initrdAddress & 0xFFF, 0)
        let map = (0..<LinuxBootLayout.memoryMapEntries).map { plan.memoryMapEntry($0) }
        XCTAssertEqual(map.map { $0.type }, [1, 2, 1])
        XCTAssertEqual(map.last!.address + map.last!.size, 128 << 20)
    }

    func testAConfigurationTheKernelCannotBootIsRefused() throws {
        // 16 MiB + init_size (51.5 MiB) + the initrd: 69 MiB at least.
        XCTAssertThrowsError(try layout(memoryMiB: 64)) { error in
            XCTAssertEqual(error as? LinuxBootLayout.Failure, .tooLittleMemory(neededMiB: 69))
        }
        XCTAssertNoThrow(try layout(memoryMiB: 69))
        XCTAssertThrowsError(try layout(memoryMiB: 128, commandLine: 2048)) { error in
            XCTAssertEqual(error as? LinuxBootLayout.Failure, .commandLineTooLong(limit: 2047))
        }
        XCTAssertThrowsError(try layout(memoryMiB: 128, initrd: UInt64.max)) { error in
            XCTAssertNotNil(error as? LinuxBootLayout.Failure, "a size from a module never wraps the arithmetic")
        }
    }

    func testTheZeroPageCarriesTheHeaderTheCommandLineTheInitrdAndTheMemoryMap() throws {
        let bytes = Self.bzImage()
        let kernel = try image(bytes)
        let plan = try layout(memoryMiB: 128)
        var page = [UInt8](repeating: 0xCC, count: LinuxBootParameters.size)
        page.withUnsafeMutableBytes { pageBytes in
            bytes.withUnsafeBytes { image in
                LinuxBootParameters.build(into: pageBytes, image: image, kernel: kernel, layout: plan, rsdp: 0xE_0000)
            }
        }
        let reader = page.withUnsafeBytes { Array($0) }
        func u32(_ offset: Int) -> UInt32 { page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) } }
        func u64(_ offset: Int) -> UInt64 { page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) } }
        XCTAssertEqual(reader[0], 0, "cleared")
        XCTAssertEqual(u32(0x202), 0x5372_6448, "the image's own setup header")
        XCTAssertEqual(reader[0x210], 0xFF, "type_of_loader")
        XCTAssertEqual(reader[0x211], 0x01, "LOADED_HIGH")
        XCTAssertEqual(u32(0x228), UInt32(LinuxBootLayout.commandLine))
        XCTAssertEqual(u32(0x218), UInt32(plan.initrdAddress))
        XCTAssertEqual(u32(0x21C), 1_400_000)
        XCTAssertEqual(u64(0x070), 0xE_0000, "acpi_rsdp_addr")
        XCTAssertEqual(reader[0x1E8], 3, "e820 entries")
        XCTAssertEqual(u64(0x2D0 + 40), 0x10_0000, "third entry: RAM from 1 MiB")
        XCTAssertEqual(u64(0x2D0 + 48), (128 << 20) - 0x10_0000)
        XCTAssertEqual(u32(0x2D0 + 56), 1)
        XCTAssertEqual(reader[0x26C], 0, "nothing past the header copied")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
