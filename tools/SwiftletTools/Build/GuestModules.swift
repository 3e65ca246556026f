import Foundation
import SwiftletABI

/// The Linux guest's boot modules for a configuration whose VM nodes name them: `linux` (Debian's cloud
/// kernel) and `initramfs` (the busybox initramfs), from the guest recipe (LinuxGuest), and
/// `hostile-linux` (the hostile test kernel, HostileLinuxGuest) and `multiboot-test` (the Multiboot test
/// kernel, MultibootTestGuest). The configuration
/// is read with the root task's own reader (SystemConfiguration), so the build adds exactly what the
/// root task will look for; a configuration the reader refuses gets nothing (the root task refuses it at
/// boot, naming the node — tests rely on that).
enum GuestModules {
    static let kernelName = "linux"
    static let initrdName = "initramfs"

    /// The module names the VM nodes of the compiled configuration `blob` ask for.
    static func requested(by blob: Data) -> Set<String> {
        var names = Set<String>()
        read(blob) { configuration in
            for index in 0..<configuration.taskCount {
                guard let vm = configuration.tasks[index].virtualMachine else { continue }
                names.insert(String(decoding: vm.kernel.bytes, as: UTF8.self))
                if vm.initrd.bytes.count > 0 { names.insert(String(decoding: vm.initrd.bytes, as: UTF8.self)) }
                for module in 0..<vm.moduleCount { names.insert(String(decoding: vm.modules[module].bytes, as: UTF8.self)) }
            }
        }
        return names
    }

    /// The node name of the first task of the compiled configuration `blob` that runs a VM.
    static func virtualMachineTask(in blob: Data) -> String? {
        var task: String?
        read(blob) { configuration in
            for index in 0..<configuration.taskCount where task == nil && configuration.tasks[index].virtualMachine != nil {
                task = String(decoding: configuration.tasks[index].node.bytes, as: UTF8.self)
            }
        }
        return task
    }

    /// Runs `body` on the configuration in `blob`, if the root task's reader takes it.
    static func read(_ blob: Data, _ body: (SystemConfiguration) -> Void) {
        blob.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            // DeviceTree reads 32-bit words at aligned offsets of its own: give it an aligned copy.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(raw.count, 1), alignment: 8)
            defer { buffer.deallocate() }
            buffer.copyMemory(from: raw)
            var path = LogLine()
            guard let tree = try? DeviceTree(validating: UnsafeRawBufferPointer(rebasing: buffer[0..<raw.count]), path: &path),
                  let configuration = try? SystemConfiguration(tree, moduleExists: { _ in true }) else { return }
            body(configuration)
        }
    }

    /// The guest recipe's outputs for the names among `requested` that it makes and `present` lacks.
    static func modules(requested: Set<String>, present: [BootModule], repository: Repository) throws -> [BootModule] {
        let presentNames = Set(present.map(\.name))
        var built = [BootModule]()
        if requested.contains(HostileLinuxGuest.moduleName) && !presentNames.contains(HostileLinuxGuest.moduleName) {
            built.append(try BootModule(source: HostileLinuxGuest.build(in: repository), name: HostileLinuxGuest.moduleName))
        }
        if requested.contains(MultibootTestGuest.moduleName) && !presentNames.contains(MultibootTestGuest.moduleName) {
            built.append(try BootModule(source: MultibootTestGuest.build(in: repository), name: MultibootTestGuest.moduleName))
        }
        let missing = [kernelName, initrdName].filter { requested.contains($0) && !presentNames.contains($0) }
        guard !missing.isEmpty else { return built }
        let guest = try LinuxGuest.prepare(in: repository) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        return try built + missing.map { name in
            try BootModule(source: name == kernelName ? guest.kernel : guest.initramfs, name: name)
        }
    }
}
