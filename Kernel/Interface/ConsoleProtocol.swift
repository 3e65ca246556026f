/// The console service of the serial driver task, spoken over IPC on the console endpoint.
///
/// Every task the root task starts holds a send capability to it in slot `ConsoleProtocol.clientSlot`,
/// badged with the task's number, so the driver knows who writes: output is line-buffered per client and
/// printed as `[name] text`. A client the configuration allows (`console-raw`, the VMM for its guest's
/// shell) may also write raw bytes, sent to COM1 unchanged (`writeRaw`; RawConsoleLine.swift). Input arrives by interrupt and goes to the client that asked for it (the
/// one with focus: the latest reader; in the default system only the VMM reads, for its guest's UART).
/// Input bytes pass unchanged, control characters included. While no reader waits, the driver keeps up
/// to 256 bytes and drops (and counts) the rest; it answers a reader through the saved reply capability,
/// so a slow reader never blocks it. A reader whose focus moves to another gets an empty answer.
public enum ConsoleProtocol {
    public static let clientSlot: UInt64 = 7
    /// The driver's own slots: the console endpoint (receive) and its serial interrupt.
    public static let serviceSlot: UInt64 = 8
    public static let interruptSlot: UInt64 = 9

    /// Call: up to 32 bytes in MR0-MR3; the count in the label's bits 8-15. A line ends at '\n'.
    public static let write: UInt64 = 1
    /// Call: the reply carries up to 32 bytes of input in MR0-MR3, the count in the label's bits 8-15.
    /// It comes when there is input (interrupt-driven): the driver keeps the caller's reply capability.
    public static let read: UInt64 = 2
    /// Send, from the root task only (the unbadged capability): MR0 = a client's badge, MR1-MR3 = its
    /// name (up to 24 bytes); the label's bits 8-15 are flags (`rawAllowed`).
    public static let name: UInt64 = 3
    /// Call: up to 32 bytes in MR0-MR3, the count in the label's bits 8-15, sent to COM1 unchanged (control
    /// bytes and escape sequences included: a guest's interactive shell). Only a client named with
    /// `rawAllowed` may; any other gets the reply label `refused` and nothing is printed.
    public static let writeRaw: UInt64 = 4
    /// The `name` flag that lets the client use `writeRaw` (the task's `console-raw` property).
    public static let rawAllowed = 1
    /// A reply label: the operation is not allowed to this client (SyscallError.missingRight).
    public static let refused: UInt64 = UInt64(SyscallError.missingRight.rawValue)

    public static let chunk = 32

    /// The UART's scratch register (COM1 + 7) says whether the serial driver is in the middle of a line,
    /// because the kernel prints its own lines on the same port. A kernel line that comes then starts on a
    /// line of its own (the kernel ends the driver's line and sets `lineBroken`), and the driver sends its
    /// line again whole, tagged: so no part of a task's line can pass for an untagged kernel line, and no
    /// line reaches the console in two halves.
    /// The raw stream sets `midLine` while it has an unfinished line (RawConsoleLine.scratchState), and
    /// after a kernel line broke in it sends that unfinished line again before its next byte. Raw bytes can
    /// still start any line they like: the run harness believes only kernel lines that carry the boot's
    /// verdict token (VerdictToken.swift), not whatever starts a line.
    public static let scratchRegister: UInt16 = 0x3FF
    public static let betweenLines: UInt8 = 0
    public static let midLine: UInt8 = 1
    public static let lineBroken: UInt8 = 2

    public static func label(_ operation: UInt64, count: Int) -> UInt64 { operation | UInt64(count & 0xFF) << 8 }
    public static func operation(_ label: UInt64) -> UInt64 { label & 0xFF }
    public static func count(_ label: UInt64) -> Int { Int((label >> 8) & 0xFF) }

    /// Byte `index` (0-31) of four message words.
    public static func byte(_ words: (UInt64, UInt64, UInt64, UInt64), _ index: Int) -> UInt8 {
        let word: UInt64
        switch index / 8 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        return UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
    }

    /// Puts `byte` at `index` (0-31) of four message words.
    public static func setByte(_ words: inout (UInt64, UInt64, UInt64, UInt64), _ index: Int, _ byte: UInt8) {
        let shifted = UInt64(byte) << (UInt64(index % 8) * 8)
        switch index / 8 {
        case 0: words.0 |= shifted
        case 1: words.1 |= shifted
        case 2: words.2 |= shifted
        default: words.3 |= shifted
        }
    }
}
