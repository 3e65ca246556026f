import Foundation
import SwiftletABI
import SwiftletTools
import XCTest

/// Multiboot2 modules reach the kernel with their names; it checks each for an ELF64 x86-64 image.
final class ModuleTests: SystemTestCase {
    func testKernelListsValidAndRejectsInvalidModules() throws {
        // Any ELF64 x86-64 file serves as the valid module; the kernel itself is one.
        let elf = try SystemImages.kernelELF()
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
        // Without a configuration the root task tries every module: neither is a task it can start, so
        // the run says so (status 6) while the standard tasks beside them still pass.
        assertLine(containing: "[roottask] roottask: sample not started: ", in: result)
        assertLine(containing: "[roottask] roottask: junk not started: not an ELF file", in: result)
        assertLine(containing: "[roottask] roottask: ", " tasks passed: 0 failed, 0 did not report, 2 not started", in: result)
        assertRefusedBoot(result, reason: .taskNotStarted, status: 6)
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
