/// What the root task hands a VMM task for the VM its configuration node describes (a `vm@0` child of
/// the VMM's task node: `vm@0 { kernel = "linux"; initrd = "initramfs"; bootargs = "console=ttyS0 ...";
/// memory-mib = <128>; };`). The VMM finds, at fixed places in its own address space:
/// - one read-only page, the description (words below),
/// - the kernel and initrd modules (or the Multiboot modules), read-only, one after the other from `modules`,
///   each starting on a page boundary (the address words say exactly where; GRUB loads modules page-aligned),
/// - the guest's RAM, readable, writable and executable, mapped in bulk before the VMM starts.
/// The VMM never learns a host-physical address; it maps `guestRAM` into the VM at guest-physical 0.
///
/// A VMM whose node has no `vm@0` has nothing mapped at `page`, and touching it is a fault that stops the
/// VMM: ask first, `SystemCall.readMapping(RootTaskLayout.taskSlot, at: page)` (its own task, slot 1),
/// which says `.read` when a description is there; then check `magic`.
///
/// Everything here is checked by the root task before the VMM starts (a node it cannot honour is refused
/// with a message naming it); the VMM checks again what it relies on (it trusts no page blindly).
public enum VirtualMachineDescription {
    public static let page: UInt64 = 0x0000_2000_0000_0000
    public static let modules: UInt64 = 0x0000_2100_0000_0000
    public static let guestRAM: UInt64 = 0x0000_3000_0000_0000
    /// The most guest RAM the window holds (the window ends where nothing else of the task lives).
    public static let maximumRAMBytes: UInt64 = 0x0000_0100_0000_0000
    public static let magic: UInt64 = 0x314D_5654_4649_5753   // "SWIFTVM1"

    /// Description-page words.
    public enum Word {
        public static let magic = 0
        /// Guest RAM: where it is in the VMM and how many bytes (a multiple of 2 MiB).
        public static let ramAddress = 1
        public static let ramBytes = 2
        public static let kernelAddress = 3
        public static let kernelBytes = 4
        /// 0 bytes: no initrd.
        public static let initrdAddress = 5
        public static let initrdBytes = 6
        /// Length of the command line (bytes at `bootargsOffset`, without the NUL that follows them).
        public static let bootargsBytes = 7
        /// How many Multiboot modules follow (`modules` in the node; 0 for a Linux guest).
        public static let moduleCount = 8
        /// The wall clock the kernel read at boot, nanoseconds since 1970 (UTC) at TSC 0 (WallClock); 0: none.
        public static let wallClock = 9
        /// The node's path (e.g. "/tasks/vmm/vm@0"), NUL-padded, for the VMM's messages.
        public static let name = 16
        /// Module i's address and size: words `modules + 2i` and `modules + 2i + 1`.
        public static let modules = 24
    }
    public static let maximumModules = 8
    /// Module i's name (the string the guest gets with it), NUL-padded, at `moduleNamesOffset + 64i`.
    public static let moduleNamesOffset = 2560
    public static let moduleNameBytes = 64
    public static let nameBytes = 64
    public static let bootargsOffset = 512
    /// The most command-line bytes (without the NUL): the cloud kernel's `cmdline_size` is 2047.
    public static let maximumBootargsBytes = 2047
}
