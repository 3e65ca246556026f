import Foundation

/// What `swiftlet run`/`build` change in the configuration's VM for one run: its RAM, its command line, or
/// the whole guest (`--guest FILE` with its modules: a Multiboot kernel, as QEMU's `-kernel` takes it, or
/// another bzImage). The change is a device-tree overlay that includes the configuration and rewrites the
/// `vm@0` node of the task that runs the VM, so the root task checks it like any configuration.
public struct VirtualMachineOverride: Sendable, Hashable {
    /// The boot module name of a `--guest` kernel.
    public static let guestModuleName = "guest"

    /// A guest of the user's in place of the configured one: its kernel and its (Multiboot) modules, in order.
    public struct Guest: Sendable, Hashable {
        public var kernel: BootModule
        public var modules: [BootModule]

        public init(kernel: BootModule, modules: [BootModule]) {
            self.kernel = kernel
            self.modules = modules
        }
    }

    public var guest: Guest?
    public var bootargs: String?
    public var memoryMiB: Int?

    public init(guest: Guest? = nil, bootargs: String? = nil, memoryMiB: Int? = nil) {
        self.guest = guest
        self.bootargs = bootargs
        self.memoryMiB = memoryMiB
    }

    /// The boot modules the override adds to the image.
    public var addedModules: [BootModule] {
        guard let guest else { return [] }
        return [guest.kernel] + guest.modules
    }

    /// Checks what the root task would refuse later, with the option's name: a bootargs byte a command
    /// line may not hold, too long a line, a memory size the configuration refuses, clashing module names.
    public func validate() throws {
        if let bootargs {
            guard bootargs.utf8.allSatisfy({ $0 == 9 || ($0 >= 0x20 && $0 < 0x7F) }) else {
                throw SwiftletError.invalidArgument("--bootargs/--guest-cmdline: only printable ASCII and tabs may be on a kernel command line")
            }
            guard bootargs.utf8.count <= 2047 else {
                throw SwiftletError.invalidArgument("--bootargs/--guest-cmdline is \(bootargs.utf8.count) bytes; at most 2047")
            }
        }
        if let memoryMiB, memoryMiB < 16 || memoryMiB % 2 != 0 || memoryMiB > 1_048_576 {
            throw SwiftletError.invalidArgument("--guest-memory must be an even number of MiB from 16 to 1048576")
        }
        if let guest {
            guard guest.modules.count <= 8 else { throw SwiftletError.invalidArgument("--guest-module: at most 8 modules") }
            let names = [guest.kernel.name] + guest.modules.map(\.name)
            guard Set(names).count == names.count else {
                throw SwiftletError.invalidArgument("--guest-module: two modules have the same name (\(names.joined(separator: ", "))); name them FILE=NAME")
            }
        }
    }

    /// The overlay's device-tree source: `base` (an absolute path) included, then the `vm@0` node of
    /// task `task` rewritten.
    public func overlay(including base: String, task: String) -> String {
        var properties: [String] = []
        if let guest {
            properties.append("kernel = \(Self.quoted(guest.kernel.name));")
            properties.append("/delete-property/ initrd;")
            properties.append("/delete-property/ modules;")
            if !guest.modules.isEmpty { properties.append("modules = \(guest.modules.map { Self.quoted($0.name) }.joined(separator: ", "));") }
            // A new guest does not inherit the configured one's command line.
            if bootargs == nil { properties.append("/delete-property/ bootargs;") }
        }
        if let bootargs { properties.append("bootargs = \(Self.quoted(bootargs));") }
        if let memoryMiB { properties.append("memory-mib = <\(memoryMiB)>;") }
        return """
            /* Written by swiftlet: the configuration with its VM changed for one run. */
            /include/ \(Self.quoted(base))

            / {
                tasks {
                    \(task) {
                        vm@0 {
            \(properties.map { "                " + $0 }.joined(separator: "\n"))
                        };
                    };
                };
            };

            """
    }

    /// A device-tree string literal.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
