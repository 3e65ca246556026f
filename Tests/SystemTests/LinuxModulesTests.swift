import Foundation
@testable import SwiftletTools
import XCTest

/// The kernel package's virtio modules in the guest's initramfs (LinuxModules): chosen with what they need
/// from each module's `.modinfo`, listed in a modules.dep in depmod's order, cached with their checksums
/// and fetched again when a cached file changed.
final class LinuxModulesTests: XCTestCase {
    func testTheVirtioModulesAndTheirDependenciesAreCachedWithAModulesDep() throws {
        let repository = SystemImages.repository
        let guest = try LinuxGuest.prepare(in: repository) { print($0) }
        let cache = repository.root.appendingPathComponent(".build/guest/modules-\(guest.release)_\(guest.packageVersion)")
        XCTAssertTrue(LinuxModules.verify(cache), "the cache matches its checksums")
        let dep = try String(contentsOf: cache.appendingPathComponent("modules.dep"), encoding: .utf8)
        var entries: [String: [String]] = [:]
        for line in dep.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            entries[String(parts[0])] = parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : []
        }
        // virtio_net needs net_failover (which needs failover) and the virtio core; modprobe loads the list
        // from its end, so each module comes before those it needs.
        XCTAssertEqual(entries["kernel/drivers/net/virtio_net.ko"],
                       ["kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko",
                        "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"])
        XCTAssertEqual(entries["kernel/drivers/virtio/virtio_ring.ko"], [])
        for wanted in ["kernel/drivers/block/virtio_blk.ko", "kernel/drivers/char/virtio_console.ko",
                       "kernel/drivers/char/hw_random/virtio-rng.ko", "kernel/drivers/virtio/virtio_pci.ko",
                       "kernel/drivers/virtio/virtio_mmio.ko"] {
            XCTAssertNotNil(entries[wanted], "modules.dep lists \(wanted)")
        }
        for (module, needs) in entries {
            XCTAssertTrue(FileManager.default.fileExists(atPath: cache.appendingPathComponent(module).path), module)
            for need in needs { XCTAssertNotNil(entries[need], "\(module) needs \(need), which is not listed") }
        }
        print("modules: \(entries.count) in the initramfs: \(entries.keys.sorted().map { $0.split(separator: "/").last! }.joined(separator: " "))")

        // A changed module is noticed and the package fetched again.
        let module = cache.appendingPathComponent("kernel/drivers/virtio/virtio.ko")
        let handle = try FileHandle(forWritingTo: module)
        handle.seekToEndOfFile()
        handle.write(Data([0]))
        try handle.close()
        XCTAssertFalse(LinuxModules.verify(cache), "a changed module fails the check")
        var progress: [String] = []
        _ = try LinuxGuest.prepare(in: repository) { progress.append($0) }
        XCTAssertTrue(progress.contains { $0.contains("are missing or changed; fetching the package again") }, "\(progress)")
        XCTAssertTrue(LinuxModules.verify(cache), "fetched again, the cache matches")
    }

    /// `.modinfo` read from the ELF section headers; a file that is not ELF64, or is cut short, has none.
    func testTheModinfoSectionIsReadOnlyFromAWholeELFFile() throws {
        let repository = SystemImages.repository
        let guest = try LinuxGuest.prepare(in: repository) { print($0) }
        let cache = repository.root.appendingPathComponent(".build/guest/modules-\(guest.release)_\(guest.packageVersion)")
        let module = cache.appendingPathComponent("kernel/drivers/net/virtio_net.ko")
        XCTAssertEqual(Set(try LinuxModules.dependsField(module)), ["virtio_ring", "virtio", "net_failover"])
        let bytes = [UInt8](try Data(contentsOf: module))
        XCTAssertNotNil(ELFSection.contents(named: ".modinfo", in: bytes))
        XCTAssertNil(ELFSection.contents(named: ".modinfo", in: Array(bytes.prefix(bytes.count / 2))), "section headers past the end")
        XCTAssertNil(ELFSection.contents(named: ".modinfo", in: Array(bytes.prefix(63))))
        var notELF = bytes
        notELF[0] = 0
        XCTAssertNil(ELFSection.contents(named: ".modinfo", in: notELF))
        XCTAssertNil(ELFSection.contents(named: ".nothing", in: bytes))
    }
}
