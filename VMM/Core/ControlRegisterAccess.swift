/// A control-register exit's qualification (the VMX layout): which register, which access, which general
/// register. Every field is masked out of the guest-controlled word, so no value traps.
public struct ControlRegisterAccess: Equatable {
    public var controlRegister: Int
    /// MOV to or from the control register (access types 0 and 1; 2 is CLTS, 3 LMSW).
    public var isMove: Bool
    public var isWrite: Bool
    /// 0 RAX ... 15 R15.
    public var register: Int

    public init(qualification q: UInt64) {
        controlRegister = Int(q & 0xF)
        let type = (q >> 4) & 3
        isMove = type < 2
        isWrite = type == 0
        register = Int((q >> 8) & 0xF)
    }
}
