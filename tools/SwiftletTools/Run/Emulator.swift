/// The emulators Swiftlet boots on. Neither needs hardware virtualization on the host: both emulate the
/// CPU, including VT-x (Bochs) and AMD-V (Bochs and QEMU TCG), for the kernel to use.
public enum Emulator: String, Sendable, CaseIterable {
    case qemu
    case bochs

    /// The CPU model used when none is asked for. QEMU's `max` has SVM with nested paging; Bochs's
    /// Haswell has VMX with EPT, VPID and unrestricted guest.
    public var defaultCPUModel: String {
        switch self {
        case .qemu: return "max"
        case .bochs: return "corei7_haswell_4770"
        }
    }

    public var tool: HostTool {
        switch self {
        case .qemu: return .qemu
        case .bochs: return .bochs
        }
    }
}
