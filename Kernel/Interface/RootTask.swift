/// What the kernel gives the root task, and where: the root task's view of the machine at start.
///
/// Capability slots: 1 its own task, 2 its own thread, 3 a factory holding the kernel-memory quota,
/// 4 the machine, 5 the interrupt controller. Memory: its ELF segments, a stack, its UTCB, the boot-information page, the boot
/// modules (read-only) and a pool of free memory it may use and map into the tasks it creates.
public enum RootTaskLayout {
    public static let taskSlot: UInt64 = 1
    public static let threadSlot: UInt64 = 2
    public static let factorySlot: UInt64 = 3
    public static let machineSlot: UInt64 = 4
    /// Hands out interrupt objects; the root task also holds every I/O port the kernel does not use.
    public static let interruptControllerSlot: UInt64 = 5
    /// sigma0's endpoint, when there is a sigma0 (the root task's pager; ask it for memory).
    public static let sigma0Slot: UInt64 = 6
    /// The first slot the root task may use freely.
    public static let firstFreeSlot: UInt64 = 8

    public static let stackTop: UInt64 = 0x0000_7FFF_0000_0000
    /// 256 KiB: the root task keeps its plan (16 task records) by value, and a configuration's checks
    /// copy it; a stack overflow without sigma0 (no pager) would stop it before it says why.
    public static let stackPages: UInt64 = 64
    public static let utcb: UInt64 = 0x0000_7FFE_0000_0000
    public static let bootInfo: UInt64 = 0x0000_7FFD_0000_0000
    public static let modules: UInt64 = 0x0000_6000_0000_0000
    public static let memoryPool: UInt64 = 0x0000_5000_0000_0000
    /// The least pool the kernel gives (16 MiB); it gives all RAM it does not keep for its own objects,
    /// and the boot-information page says how much that is.
    public static let memoryPoolPages: UInt64 = 4096

    /// Boot-information page words.
    public static let magic: UInt64 = 0x5357_4946_544C_4554   // "SWIFTLET"
    public enum Word {
        public static let magic = 0
        public static let moduleCount = 1
        public static let memoryPoolBase = 2
        public static let memoryPoolPages = 3
        public static let timerHz = 4
        public static let factoryFrames = 5
        /// Calibrated TSC frequency in kHz (the TSC counts instructions in deterministic runs).
        public static let tscKHz = 6
        /// The wall clock: nanoseconds since 1970 (UTC) at TSC 0, from the CMOS RTC (WallClock); 0: none.
        public static let wallClock = 7
        /// Module records start here: address, size in bytes, then a 48-byte NUL-padded name.
        public static let modules = 8
    }
    public static let moduleRecordWords = 8
    public static let moduleNameBytes = 48
    public static let maximumModules = (512 - Word.modules) / moduleRecordWords
}

/// Where tasks the root task starts find things (a convention of the user library, not of the kernel).
public enum TaskLayout {
    public static let stackTop: UInt64 = 0x0000_7FFF_0000_0000
    public static let stackPages: UInt64 = 8
    public static let utcb: UInt64 = 0x0000_7FFE_0000_0000
    /// Memory the root task maps into every task it starts (read, write).
    public static let heap: UInt64 = 0x0000_1000_0000_0000
    public static let heapPages: UInt64 = 256
    /// Above the heap, up to `heapLimit`, the root task pages memory in on demand: it is the pager of
    /// every task's first thread. A fault anywhere else stops the thread.
    public static let heapLimit: UInt64 = heap + 0x400_0000
}

/// A task's startup block: words the root task writes at the top of the task's stack before it starts
/// (where Unix puts argv and auxv), the settings of its configuration node a task needs to read; 0 where
/// the node has none. The stack pointer starts below it. A small fixed layout rather than a parser in
/// every task: the root task has checked each value against the configuration's rules already.
public enum StartupBlock {
    public static let words = 4
    public static let address: UInt64 = TaskLayout.stackTop - UInt64(words) * 8
    /// `period-ms`: the period of a periodic task, in milliseconds.
    public static let periodMilliseconds = 0
}

/// How tasks started by the root task report back (to slot 4): label `done`, MR0 = number of failures.
/// Slots 5 and 6 hold the endpoints the task's plan names (SystemConfiguration.endpointSlots), with the
/// rights named there, or nothing.
///
/// A daemon (`daemon;` in its node) runs until it is told to stop: the root task does not wait for it,
/// but gives it an endpoint of its own in `stopSlot` (receive only; the root task alone can send on it,
/// so the daemon may sleep on it with a timeout), and when every other task has reported it sends
/// `stop` there; the daemon then reports `done` like any task, within `Root.stopDeadline`.
public enum Report {
    public static let reportSlot: UInt64 = 4
    public static let sharedSlot: UInt64 = 5
    public static let secondSharedSlot: UInt64 = 6
    /// A daemon's own endpoint (after the console server's slots 8-12: service and up to four interrupts).
    public static let stopSlot: UInt64 = 13
    /// A task whose plan gives it a view of the machine (`machineView`): the machine capability with no
    /// rights, which can do nothing but `identify` (MR3: the kernel's free frames, for leak checks).
    public static let machineViewSlot: UInt64 = 14
    /// MR0 = failures (0: passed); MR1 = `guestExit` | status when a VMM's guest ended the run through its
    /// debug-exit port with that status (0-255), which the root task powers off with (`guestExited`).
    public static let done: UInt64 = 0xD0E
    public static let guestExit: UInt64 = 1 << 8
    /// Sent by the root task on a daemon's `stopSlot` endpoint: finish, report `done`.
    public static let stop: UInt64 = 0x5709
}

/// The ping-pong benchmark protocol between the `ping` and `pong` tasks over the endpoints in slots 5 and 6
/// (`ping-pong` and `ping-pong-low`: ping holds them to send, pong to receive):
/// pong answers every call with MR0 + 1 and the other words unchanged; label `quit` (sent, not called)
/// ends a server.
public enum PingPong {
    public static let echo: UInt64 = 1
    public static let quit: UInt64 = 2
    /// Priority of pong's second server thread, on the second shared endpoint (ping runs at 100).
    public static let lowPriority: UInt8 = 50
}

/// sigma0, the root pager: the first owner of the physical memory the kernel does not keep, handing each
/// frame out once. Its slots: 1 task, 2 thread, 3 physical memory, 4 its endpoint (receive). Its
/// boot-information page: magic, then the RAM range it may give out (start, end).
public enum Sigma0 {
    public static let physicalMemorySlot: UInt64 = 3
    public static let endpointSlot: UInt64 = 4
    public static let priority: UInt8 = 250
    public enum Word {
        public static let ramStart = 1
        public static let ramEnd = 2
        public static let ramFrames = 3
    }
    /// Call: MR0 = pages (a power of two up to 512); the reply maps a naturally aligned run of that size.
    public static let allocate: UInt64 = 1
    /// Call: MR0 = physical address, MR1 = pages (power of two, aligned): device memory, mapped once.
    public static let device: UInt64 = 2
    /// Reply label when a request cannot be met (MR0 = the SyscallError).
    public static let refused: UInt64 = 0xFF
}
