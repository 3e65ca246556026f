import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// Multiboot2 modules reach the kernel with their names; it checks each for an ELF64 x86-64 image.
final class ModuleTests: SystemTestCase {
    func testKernelListsValidAndRejectsInvalidModules() throws {
        // Any task's ELF64 x86-64 file serves as the valid module (the kernel's own, linked in the higher
        // half, is no task image and is rejected).
        _ = try SystemImages.kernelELF()
        let elf = SystemImages.repository.taskELF(NativeTask.named("fputest")!)
        let junk = try Self.writeJunk(bytes: 8192)
        let configuration = ImageConfiguration(modules: [
            try BootModule(source: elf, name: "sample"),
            try BootModule(source: junk, name: "junk"),
        ])
        let result = try boot(configuration)
        let elfBytes = try FileManager.default.attributesOfItem(atPath: elf.path)[.size] as? NSNumber
        assertLine(containing: "module sample: \(elfBytes?.intValue ?? -1) bytes at 0x", "ELF64 x86-64 entry 0x",
                   in: result)
        assertLine(containing: "module junk: 8192 bytes at 0x", "rejected: ", in: result)
        // Without a configuration the root task tries every module: sample (a task image) starts and
        // passes beside the standard tasks, junk cannot start, and the run says so (status 6).
        assertLine(containing: "[roottask] roottask: started sample (", "): ok", in: result)
        assertLine(containing: "[roottask] roottask: junk not started: not an ELF file", in: result)
        assertLine(containing: "[roottask] roottask: 6 of 7 tasks passed: 0 failed, 0 did not report, 1 not started", in: result)
        assertRefusedBoot(result, reason: .taskNotStarted, status: 6)
    }

    /// A PT_LOAD segment at the top of the address space (vaddr 0xFFFFFFFFFFFF0000, memsz 0xFFFF) once
    /// passed the ELF checks and made the root task's loader overflow (`vaddr + memsz + 0xFFF`): the boot
    /// hung. Now the kernel's module check and the root task both refuse it, and the other tasks run.
    func testASegmentPastUserSpaceIsRefusedAndTheBootGoesOn() throws {
        let module = try Self.writeELF(named: "toplevel.elf", vaddr: 0xFFFF_FFFF_FFFF_0000, memsz: 0xFFFF)
        let result = try boot(ImageConfiguration(tasks: ["roottask", "fputest"],
                                                 modules: [try BootModule(source: module, name: "toplevel")]))
        let reason = "a loadable segment ends past the end of user space"
        assertLine(containing: "module toplevel: ", "rejected: \(reason)", in: result)
        assertLine(containing: "roottask: toplevel not started: \(reason)", in: result)
        assertLine(containing: "[roottask] roottask: started fputest (", "): ok", in: result)
        assertLine(containing: "[roottask] roottask: 1 of 2 tasks passed: 0 failed, 0 did not report, 1 not started", in: result)
        assertRefusedBoot(result, reason: .taskNotStarted, status: 6)
    }

    /// An ELF64 x86-64 executable with one read-only PT_LOAD segment and no file contents.
    static func writeELF(named name: String, vaddr: UInt64, memsz: UInt64) throws -> URL {
        var bytes = [UInt8](repeating: 0, count: 64 + 56)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (index, byte) in $0.enumerated() { bytes[offset + index] = byte } }
        }
        bytes.replaceSubrange(0..<7, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1])  // magic, 64-bit, little-endian, v1
        put(UInt16(2), at: 16); put(UInt16(0x3E), at: 18); put(UInt32(1), at: 20)  // ET_EXEC, x86-64, v1
        put(vaddr, at: 24); put(UInt64(64), at: 32)                               // entry, program headers
        put(UInt16(64), at: 52); put(UInt16(56), at: 54); put(UInt16(1), at: 56)
        put(UInt32(1), at: 64); put(UInt32(4), at: 68)                             // PT_LOAD, readable
        put(vaddr, at: 64 + 16); put(vaddr, at: 64 + 24); put(memsz, at: 64 + 40)  // vaddr, paddr, memsz
        let url = SystemImages.repository.workDirectory.appendingPathComponent("test-modules/\(name)")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url
    }

    /// Pseudo-random bytes from a fixed seed, so a failure can be reproduced with the same file.
    static func writeJunk(bytes count: Int) throws -> URL {
        var state: UInt64 = 0x5157_4946_544c_4554
        var data = Data(capacity: count)
        while data.count < count {
            // xorshift64*
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            data.append(UInt8(truncatingIfNeeded: (state &* 0x2545_f491_4f6c_dd1d) >> 56))
        }
        data[0] = 0x00  // never the ELF magic
        let url = SystemImages.repository.workDirectory.appendingPathComponent("test-modules/junk.bin")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        return url
    }
}
