/// A VM in the system configuration: the `vm@0` child of a task node (the VMM that runs it), naming its
/// kernel and initrd boot modules, its command line and its RAM:
///
///     vmm { module = "vmm"; guest-memory;
///           vm@0 { kernel = "linux"; initrd = "initramfs"; bootargs = "console=ttyS0 quiet"; memory-mib = <128>; }; };
///
/// A Multiboot kernel takes `modules` instead of `initrd`: up to 8 boot module names, which the kernel
/// gets in that order, each with its name as its string (`modules = "tests", "data";`).
///
/// The root task hands the VMM what the node describes (VirtualMachineDescription) before the VMM starts;
/// everything is checked here first, and a failure names the node (`/tasks/vmm/vm@0`).
extension SystemConfiguration {
    /// The node's name: one VM per task for now.
    public static let virtualMachineNode: StaticString = "vm@0"
    /// Guest RAM is whole 2 MiB pages' worth (the VMM and a later large-page mapping rely on it), at least
    /// this much (less holds no Linux), at most what the VMM's guest-RAM window holds.
    public static let minimumGuestMiB: UInt64 = 16
    public static let maximumGuestMiB: UInt64 = VirtualMachineDescription.maximumRAMBytes >> 20

    public struct VirtualMachine {
        public var kernel: ByteString
        /// Empty: no initrd.
        public var initrd: ByteString
        /// The command line without its NUL (empty if the node has none).
        public var bootargs: ByteString
        public var memoryMiB: UInt64
        /// `modules`: the Multiboot modules, in order (`moduleCount` of them).
        public var modules: InlineArray<8, ByteString>
        public var moduleCount: Int

        public var ramPages: UInt64 { memoryMiB * 256 }
    }

    /// Reads and checks a `vm@0` node; `moduleExists` says whether a boot module of a name was loaded.
    static func virtualMachine(_ tree: DeviceTree, _ node: DeviceTree.Node,
                               moduleExists: (ByteString) -> Bool) -> Result<VirtualMachine, StaticFailure> {
        let empty = ByteString(UnsafeRawBufferPointer(start: nil, count: 0))
        var vm = VirtualMachine(kernel: empty, initrd: empty, bootargs: empty, memoryMiB: 0,
                                modules: InlineArray(repeating: empty), moduleCount: 0)
        var sawKernel = false, sawMemory = false
        var bad: LogLine?
        func moduleName(_ value: UnsafeRawBufferPointer, _ role: StaticString) -> ByteString? {
            let name = DeviceTree.text(value)
            guard value.count > 0, value.count == name.bytes.count + 1, name.bytes.count > 0 else {
                bad = "\(role) must be one string naming a boot module"
                return nil
            }
            guard moduleExists(name) else {
                bad = "its \(role) module \"\(name)\" is not among the boot modules"
                return nil
            }
            return name
        }
        tree.forEach(in: node, property: { key, value in
            guard bad == nil else { return }
            if key.equals("kernel") {
                if let name = moduleName(value, "kernel") { vm.kernel = name }
                sawKernel = true
            } else if key.equals("initrd") {
                if let name = moduleName(value, "initrd") { vm.initrd = name }
            } else if key.equals("modules") {
                // A string list: each NUL-terminated, none empty, each a boot module, at most 8.
                var offset = 0
                while bad == nil && offset < value.count {
                    let name = DeviceTree.text(UnsafeRawBufferPointer(rebasing: value[offset...]))
                    guard name.bytes.count > 0, offset + name.bytes.count < value.count else {
                        bad = "modules must be a list of strings naming boot modules"
                        return
                    }
                    guard vm.moduleCount < VirtualMachineDescription.maximumModules else {
                        bad = "modules names more than 8 boot modules"
                        return
                    }
                    guard moduleExists(name) else {
                        bad = "its module \"\(name)\" is not among the boot modules"
                        return
                    }
                    vm.modules[vm.moduleCount] = name
                    vm.moduleCount += 1
                    offset += name.bytes.count + 1
                }
                if value.count == 0 { bad = "modules must be a list of strings naming boot modules" }
            } else if key.equals("bootargs") {
                // One NUL-terminated string with no NUL inside; Linux takes at most 2047 bytes of it.
                let text = DeviceTree.text(value)
                guard value.count > 0, value.count == text.bytes.count + 1 else {
                    bad = "bootargs must be one NUL-terminated string"
                    return
                }
                guard text.bytes.count <= VirtualMachineDescription.maximumBootargsBytes else {
                    bad = "bootargs is \(text.bytes.count) bytes; at most 2047"
                    return
                }
                vm.bootargs = text
            } else if key.equals("memory-mib") {
                guard value.count == 4, let mib = DeviceTree.cell(value, 0), UInt64(mib) >= minimumGuestMiB,
                      UInt64(mib) <= maximumGuestMiB, mib % 2 == 0 else {
                    bad = "memory-mib must be one cell, an even number of MiB from 16 to 1048576"
                    return
                }
                vm.memoryMiB = UInt64(mib)
                sawMemory = true
            } else {
                bad = "unknown property or child node"
            }
        }, child: { _ in
            if bad == nil { bad = "unknown property or child node" }
        })
        if let bad { return .failure(StaticFailure(bad, child: tree.name(of: node), under: "/")) }
        let path = tree.name(of: node)
        guard sawKernel else { return .failure(StaticFailure("no kernel property", child: path, under: "/")) }
        guard sawMemory else { return .failure(StaticFailure("no memory-mib property", child: path, under: "/")) }
        guard vm.moduleCount == 0 || vm.initrd.bytes.count == 0 else {
            return .failure(StaticFailure("initrd (a Linux guest's) and modules (a Multiboot guest's) together", child: path, under: "/"))
        }
        return .success(vm)
    }
}
