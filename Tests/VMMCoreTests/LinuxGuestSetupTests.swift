import SwiftletABI
import VMMCore
import XCTest

/// The whole pre-boot setup of a Linux guest over a RAM buffer: what lands where, the entry state, and
/// refusals that leave RAM untouched.
final class LinuxGuestSetupTests: XCTestCase {
    static let mib = 1 << 20

    /// Runs the setup over `ramMiB` of RAM filled with 0xAA; returns the result (or the failure) and RAM.
    func prepare(ramMiB: Int = 96, kernel: [UInt8] = LinuxBootTests.bzImage(), initrd: [UInt8] = [0x1F, 0x8B, 0x08] + Array(repeating: 0x5A, count: 4997),
                 bootargs: String = "console=ttyS0 quiet") -> (Result<LinuxGuestSetup.Result, LinuxGuestSetup.Failure>, [UInt8]) {
        var ram = [UInt8](repeating: 0xAA, count: ramMiB * Self.mib)
        let arguments = Array(bootargs.utf8)
        let result: Result<LinuxGuestSetup.Result, LinuxGuestSetup.Failure> = ram.withUnsafeMutableBytes { ram in
            kernel.withUnsafeBytes { kernel in
                initrd.withUnsafeBytes { initrd in
                    arguments.withUnsafeBytes { bootargs -> Result<LinuxGuestSetup.Result, LinuxGuestSetup.Failure> in
                        do throws(LinuxGuestSetup.Failure) {
                            return .success(try LinuxGuestSetup.prepare(ram: ram, kernel: kernel, initrd: initrd, bootargs: bootargs))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
            }
        }
        return (result, ram)
    }

    func word(_ ram: [UInt8], _ address: Int) -> UInt64 {
        ram.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: address, as: UInt64.self) }
    }

    func testEverythingLandsWhereTheBootProtocolWantsIt() throws {
        let kernel = LinuxBootTests.bzImage()
        let initrd = [0x1F, 0x8B, 0x08] + [UInt8](repeating: 0x5A, count: 4997)      // a gzip magic, then filler
        let (result, ram) = prepare(kernel: kernel, initrd: initrd)
        let setup = try result.get()
        // The 64-bit entry with RSI at the zero page, in long mode on the protocol's selectors.
        XCTAssertEqual(setup.state.rip, 0x100_0200)
        XCTAssertEqual(setup.state.rsi, 0x7000)
        XCTAssertEqual(setup.state.cs.selector, 0x10)
        XCTAssertEqual(setup.state.ds.selector, 0x18)
        XCTAssertEqual(setup.state.ss.selector, 0x18)
        XCTAssertEqual(setup.state.efer, 0x500)
        XCTAssertEqual(setup.state.cr0 & 0x8000_0001, 0x8000_0001)
        XCTAssertEqual(setup.state.rflags & (1 << 9), 0, "interrupts off")
        // The GDT: 64-bit code at 0x10, flat data at 0x18, a busy TSS at 0x20.
        XCTAssertEqual(word(ram, 0x6010), 0x00AF_9B00_0000_FFFF)
        XCTAssertEqual(word(ram, 0x6018), 0x00CF_9300_0000_FFFF)
        XCTAssertEqual(word(ram, 0x6020) >> 40 & 0xFF, 0x8B)
        // Identity page tables at CR3: 16 MiB maps to itself (PD entry 8, a 2 MiB page).
        XCTAssertEqual(setup.state.cr3, 0x9000)
        XCTAssertEqual(word(ram, 0x9000) & ~0xFFF, 0xA000)
        XCTAssertEqual(word(ram, 0xB000 + 8 * 8), 0x100_0083)
        XCTAssertEqual(word(ram, 0xB000 + 4096 * 3 + 511 * 8), 0xFFE0_0083, "the last 2 MiB below 4 GiB")
        // The protected-mode kernel at 16 MiB, the initrd at the top, the command line NUL-terminated.
        XCTAssertEqual(Array(ram[0x100_0000..<(0x100_0000 + kernel.count - 40 * 512)]), Array(kernel[(40 * 512)...]))
        let initrdAddress = Int(setup.layout.initrdAddress)
        XCTAssertEqual(Array(ram[initrdAddress..<(initrdAddress + initrd.count)]), initrd)
        XCTAssertEqual(initrdAddress, 96 * Self.mib - 8192)
        XCTAssertEqual(Array(ram[0x2_0000..<0x2_0014]), Array("console=ttyS0 quiet".utf8) + [0])
        // The zero page: the command line and initrd fields, the RSDP, the e820 map's top entry.
        XCTAssertEqual(word(ram, 0x7000 + 0x228) & 0xFFFF_FFFF, 0x2_0000)
        XCTAssertEqual(word(ram, 0x7000 + 0x218) & 0xFFFF_FFFF, UInt64(initrdAddress))
        XCTAssertEqual(word(ram, 0x7000 + 0x21C) & 0xFFFF_FFFF, 5000)
        XCTAssertEqual(word(ram, 0x7000 + 0x070), 0xE_0000)
        XCTAssertEqual(ram[0x7000 + 0x1E8], 3)
        XCTAssertEqual(word(ram, 0x7000 + 0x2D0 + 40 + 8), UInt64(95 * Self.mib), "RAM from 1 MiB to the end")
        XCTAssertEqual(Array(ram[0xE_0000..<0xE_0008]), Array("RSD PTR ".utf8))
        // RAM beyond the low megabyte and the pieces is left as it was.
        XCTAssertEqual(ram[0x20_0000], 0xAA)
    }

    /// A guest reset: `load` with prepare's result places everything again over RAM the guest scribbled on,
    /// byte for byte what prepare wrote, and leaves the rest of RAM as the guest left it. The reset vector
    /// writes the FADT's reset register.
    func testLoadPlacesTheBootAgainOverAScribbledRAM() throws {
        let kernel = LinuxBootTests.bzImage()
        let initrd = [0x1F, 0x8B, 0x08] + [UInt8](repeating: 0x5A, count: 4997)
        let arguments = Array("console=ttyS0 quiet".utf8)
        var ram = [UInt8](repeating: 0xAA, count: 96 * Self.mib)
        try ram.withUnsafeMutableBytes { ram in
            try kernel.withUnsafeBytes { kernel in
                try initrd.withUnsafeBytes { initrd in
                    try arguments.withUnsafeBytes { bootargs in
                        let setup = try LinuxGuestSetup.prepare(ram: ram, kernel: kernel, initrd: initrd, bootargs: bootargs)
                        let placed = Array(ram)
                        for index in stride(from: 0, to: ram.count, by: 4093) { ram[index] = 0x3C }
                        LinuxGuestSetup.load(setup, ram: ram, kernel: kernel, initrd: initrd, bootargs: bootargs)
                        let again = Array(ram)
                        let initrdAddress = Int(setup.layout.initrdAddress), kernelEnd = 0x100_0000 + kernel.count - 40 * 512
                        for range in [0..<0x10_0000, 0x100_0000..<kernelEnd, initrdAddress..<(initrdAddress + initrd.count)] {
                            XCTAssertEqual(again[range], placed[range], "\(range) placed again")
                        }
                        let probe = (0x20_0000 / 4093 + 1) * 4093                 // a scribbled byte between 2 and 16 MiB
                        XCTAssertEqual(again[probe], 0x3C, "the rest of RAM as the guest left it")
                    }
                }
            }
        }
        // mov dx, 0x602; mov al, 1; out dx, al; hlt; jmp to the hlt — at F000:FFF0, where the FADT's register is.
        XCTAssertEqual(Array(ram[0xF_FFF0..<0x10_0000]), [0xBA, 0x02, 0x06, 0xB0, 0x01, 0xEE, 0xF4, 0xEB, 0xFD, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(ram[Int(ResetVector.afterOut) - 1], 0xEE, "the VMM knows the OUT by the address after it")
        let tables = Array(ram[0xE_0000..<0xF_0000])
        let fadt = try XCTUnwrap((0..<(tables.count - 4)).first { Array(tables[$0..<($0 + 4)]) == Array("FACP".utf8) })
        XCTAssertEqual(Array(tables[(fadt + 116)..<(fadt + 124)]), [1, 8, 0, 1, 0x02, 0x06, 0, 0], "FADT RESET_REG: I/O, 8 bits, port 0x602")
        XCTAssertEqual(tables[fadt + 128], 1, "FADT RESET_VALUE")
        XCTAssertNotEqual(tables[fadt + 112 + 1] & 0x04, 0, "RESET_REG_SUP (flags bit 10)")
    }

    func testRefusalsSayWhyAndLeaveRAMAsItWas() {
        func refused(_ result: (Result<LinuxGuestSetup.Result, LinuxGuestSetup.Failure>, [UInt8]),
                     file: StaticString = #filePath, line: UInt = #line) -> LinuxGuestSetup.Failure? {
            XCTAssertTrue(result.1.allSatisfy { $0 == 0xAA }, "RAM was written before the refusal", file: file, line: line)
            guard case .failure(let failure) = result.0 else {
                XCTFail("not refused", file: file, line: line)
                return nil
            }
            return failure
        }
        // 32 MiB cannot hold init_size above 16 MiB.
        guard case .layout(.tooLittleMemory(let needed)) = refused(prepare(ramMiB: 32)) else { return XCTFail("too little memory") }
        XCTAssertEqual(needed, 68)
        XCTAssertEqual(refused(prepare(ramMiB: 4, kernel: Array(LinuxBootTests.bzImage().prefix(0x200)))), .kernel(.tooSmall))
        XCTAssertEqual(refused(prepare(ramMiB: 4, kernel: LinuxBootTests.bzImage(version: 0x020B))), .kernel(.protocolTooOld(0x020B)))
        XCTAssertEqual(refused(prepare(ramMiB: 4, bootargs: "console=ttyS0\nroot=/dev/sda")), .badBootargs(offset: 13))
        XCTAssertEqual(refused(prepare(ramMiB: 4, bootargs: "quiet\u{0}")), .badBootargs(offset: 5))
        XCTAssertEqual(refused(prepare(ramMiB: 4, bootargs: String(repeating: "a", count: 2048))), .layout(.commandLineTooLong(limit: 2047)))
        XCTAssertEqual(refused(prepare(ramMiB: 1)), .badMemorySize)
        XCTAssertEqual(refused(prepare(ramMiB: 96, initrd: LinuxBootTests.bzImage())), .badInitrd)
        XCTAssertEqual(refused(prepare(ramMiB: 96, initrd: [0x1F, 0x8B])), .badInitrd)
    }

    /// The formats Debian's cloud kernel unpacks, by their magic; anything else is none.
    func testInitrdFormats() {
        func format(_ bytes: [UInt8]) -> InitrdImage.Format? { bytes.withUnsafeBytes { InitrdImage.format(of: $0) } }
        XCTAssertEqual(format(Array("070701000000".utf8)), .cpio)
        XCTAssertEqual(format(Array("070702000000".utf8)), .cpio)
        XCTAssertNil(format(Array("070707000000".utf8)), "old-format (odc) cpio: the kernel reads only newc")
        XCTAssertEqual(format([0x1F, 0x8B, 0x08, 0x00]), .gzip)
        XCTAssertNil(format([0x1F, 0x8B, 0x07, 0x00]), "gzip with a method other than deflate")
        XCTAssertEqual(format([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00]), .xz)
        XCTAssertEqual(format([0x28, 0xB5, 0x2F, 0xFD, 0x00]), .zstd)
        XCTAssertNil(format([]))
        XCTAssertNil(format([0x28, 0xB5, 0x2F]), "a truncated magic")
        XCTAssertNil(format(Array("MZ".utf8) + [0, 0]))
    }
}
