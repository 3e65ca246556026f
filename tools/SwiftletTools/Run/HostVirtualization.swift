import Foundation

/// What the host machine offers QEMU for running Swiftlet's VT-x backend at full speed: KVM with nested
/// VMX (an Intel host whose kvm_intel module has `nested=Y`, and a /dev/kvm this user may open). Without
/// it every backend is emulated, and QEMU's TCG with SVM is the fastest of them (`swiftlet bench`:
/// Linux boots in about half the wall time it takes on Bochs with VT-x).
public struct HostVirtualization: Sendable, Equatable {
    /// /dev/kvm opens for reading and writing.
    public var kvmUsable: Bool
    /// The host CPU's flags (/proc/cpuinfo) name vmx.
    public var hostHasVMX: Bool
    /// /sys/module/kvm_intel/parameters/nested says Y (or 1).
    public var nestedVMX: Bool

    public init(kvmUsable: Bool, hostHasVMX: Bool, nestedVMX: Bool) {
        self.kvmUsable = kvmUsable
        self.hostHasVMX = hostHasVMX
        self.nestedVMX = nestedVMX
    }

    /// QEMU with KVM can hand the kernel VT-x.
    public var offersVMX: Bool { kvmUsable && hostHasVMX && nestedVMX }

    /// Why it cannot, in a few words, for the line `run` prints.
    public var reasonWithoutVMX: String {
        if !kvmUsable { return "no usable /dev/kvm" }
        if !hostHasVMX { return "the host CPU has no VT-x" }
        return "kvm_intel does not nest VT-x (parameters/nested is not Y)"
    }

    /// Reads this machine.
    public static func probe() -> HostVirtualization {
        let descriptor = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        if descriptor >= 0 { close(descriptor) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let nested = (try? String(contentsOfFile: "/sys/module/kvm_intel/parameters/nested", encoding: .utf8)) ?? ""
        return HostVirtualization(kvmUsable: descriptor >= 0, hostHasVMX: cpuFlagsNameVMX(cpuinfo),
                                  nestedVMX: nestedParameterIsOn(nested))
    }

    /// Whether a `flags` line of /proc/cpuinfo names vmx.
    public static func cpuFlagsNameVMX(_ cpuinfo: String) -> Bool {
        cpuinfo.split(separator: "\n").contains { line in
            line.hasPrefix("flags") && line.split(whereSeparator: { $0 == " " || $0 == "\t" }).contains("vmx")
        }
    }

    public static func nestedParameterIsOn(_ text: String) -> Bool {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return value == "Y" || value == "1"
    }
}
