/// A vCPU's DR0-3 and DR6 while another vCPU's are in the CPU (`DebugRegisters` in the kernel). At reset
/// DR0-3 are 0 and DR6 is 0xFFFF0FF0 (SDM 17.2; APM 13.1.1). SVM keeps DR6 in the VMCB: `status` is then
/// unused.
public struct GuestDebugRegisters: Equatable {
    public var dr0: UInt64 = 0, dr1: UInt64 = 0, dr2: UInt64 = 0, dr3: UInt64 = 0
    public var status: UInt64 = 0xFFFF_0FF0

    public init() {}
}
