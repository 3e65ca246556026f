/// The vCPU backend the VMM gets: VT-x or AMD-V.
public enum VirtBackend: String, Sendable, CaseIterable {
    case vmx, svm
}

/// Which emulator, CPU model and accelerator a run uses, from what the command line asked and what the
/// host offers. With nothing asked, VT-x through KVM when the host nests it, else the fastest emulated
/// backend: SVM in QEMU's TCG (Bochs, the only emulator with VT-x, boots Linux at about half its speed).
public struct BackendChoice: Sendable, Equatable {
    public var emulator: Emulator
    /// nil: the emulator's default model.
    public var cpuModel: String?
    public var kvm: Bool
    /// The backend the kernel will find (nil when a --cpu model was given: whatever that CPU has).
    public var backend: VirtBackend?
    /// Said at the start of a run whose backend was chosen for the user: what, why, how to pick the other.
    public var explanation: String?

    public static func choose(virt: VirtBackend?, emulator: Emulator?, cpu: String?, deterministic: Bool,
                              host: HostVirtualization) -> BackendChoice {
        // KVM cannot count instructions, and Bochs asked for by name is Bochs.
        let kvmVMX = host.offersVMX && !deterministic && emulator != .bochs
        switch virt {
        case .vmx:
            if kvmVMX { return BackendChoice(emulator: .qemu, cpuModel: "host", kvm: true, backend: .vmx) }
            return BackendChoice(emulator: .bochs, cpuModel: "corei7_haswell_4770", kvm: false, backend: .vmx)
        case .svm:
            if emulator == .bochs { return BackendChoice(emulator: .bochs, cpuModel: "ryzen", kvm: false, backend: .svm) }
            return BackendChoice(emulator: .qemu, cpuModel: nil, kvm: false, backend: .svm)
        case nil:
            if let emulator {
                return BackendChoice(emulator: emulator, cpuModel: cpu, kvm: false,
                                     backend: cpu == nil ? (emulator == .qemu ? .svm : .vmx) : nil)
            }
            if cpu != nil { return BackendChoice(emulator: .qemu, cpuModel: cpu, kvm: false, backend: nil) }
            if kvmVMX {
                return BackendChoice(emulator: .qemu, cpuModel: "host", kvm: true, backend: .vmx,
                                     explanation: "vCPU backend vmx: QEMU with KVM (this host nests VT-x); --virt svm emulates AMD-V in QEMU's TCG instead")
            }
            return BackendChoice(emulator: .qemu, cpuModel: nil, kvm: false, backend: .svm,
                                 explanation: "vCPU backend svm: AMD-V emulated by QEMU's TCG, the fastest this host can run (KVM gives no VT-x here: \(host.reasonWithoutVMX)); --virt vmx emulates VT-x in Bochs instead, about half as fast")
        }
    }
}
