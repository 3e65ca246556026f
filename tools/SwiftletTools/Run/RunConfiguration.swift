import Foundation

/// How to boot an image: on which emulator and virtual machine, for how long, and where the console goes.
public struct RunConfiguration: Sendable {
    public var emulator: Emulator
    /// The emulator's CPU model; nil means the emulator's default (`Emulator.defaultCPUModel`).
    public var cpuModel: String?
    public var memoryMiB: Int
    /// Makes the guest's time stamp counter an instruction counter, so path lengths the kernel measures
    /// with RDTSC are repeatable (Bochs `clock: sync=none`, QEMU `-icount shift=0,align=off`).
    public var deterministic: Bool
    /// Wall-clock seconds from the emulator's start after which the run is stopped.
    public var timeout: TimeInterval
    /// Connect the terminal's keyboard to the guest's serial port (only if stdin is a terminal and the
    /// run its foreground job): QEMU reads it itself (`mon:stdio`), Bochs through the runner.
    public var interactive: Bool
    /// Receives the console's bytes as they arrive; nil discards them (they are still in the result).
    public var consoleSink: (@Sendable (Data) -> Void)?
    /// Lets another thread ask the run to stop early (e.g. on Ctrl-C).
    public var stopRequest: StopRequest?
    /// Keys to type into the serial port once the console shows a line (QEMU: its stdin; Bochs: the
    /// pseudo-terminal of its COM1). Not with `interactive` on QEMU, where stdin is the terminal.
    public var consoleInput: ConsoleInput?
    /// A descriptor whose bytes go to the serial port as they come, until its end of file (a `swiftlet run`
    /// whose stdin is a pipe or file): read from when the console shows `after` (nil: from the start), so
    /// they reach a guest's shell rather than its boot. Not with `interactive` on a terminal.
    public var forwardedInput: (descriptor: Int32, after: String?)?
    /// QEMU runs the kernel under the host's KVM instead of TCG (with `-cpu host`: VT-x if the host nests
    /// it, see HostVirtualization). Not with `deterministic`, which needs TCG's instruction counting.
    public var kvm = false
    /// The image's verdict token (VerdictTokenFile): only kernel lines that carry it judge the run. The
    /// runner reads it from beside the ISO; nil judges by untagged lines, as before raw console output.
    public var verdictToken: String?
    /// A raw disk image on the primary IDE channel's master (`run --disk`); nil: no disk, as before.
    public var disk: DiskImage?

    public init(emulator: Emulator = .qemu, cpuModel: String? = nil, memoryMiB: Int = 256,
                deterministic: Bool = false, timeout: TimeInterval = 60, interactive: Bool = false,
                consoleSink: (@Sendable (Data) -> Void)? = nil, stopRequest: StopRequest? = nil)
    {
        self.emulator = emulator
        self.cpuModel = cpuModel
        self.memoryMiB = memoryMiB
        self.deterministic = deterministic
        self.timeout = timeout
        self.interactive = interactive
        self.consoleSink = consoleSink
        self.stopRequest = stopRequest
    }

    public var effectiveCPUModel: String { cpuModel ?? (kvm ? "host" : emulator.defaultCPUModel) }
}

/// What to type into the guest's serial port, as a script: each step waits for its trigger to appear on
/// the console after the place where the previous step's trigger appeared, then waits `delay` seconds
/// (so a guest can go idle first, as it would between a person's keystrokes), then types its text.
public struct ConsoleInput: Sendable {
    public struct Step: Sendable {
        public var trigger: String
        public var text: String
        public var delay: TimeInterval
        /// The trigger is a prompt: it counts only while it ends the console's output (the guest waits at
        /// it). A copy the serial driver redraws after a native line, with the typed command behind it
        /// while the command still runs, does not.
        public var atPrompt: Bool

        public init(after trigger: String, type text: String, delay: TimeInterval = 0, atPrompt: Bool = false) {
            self.trigger = trigger
            self.text = text
            self.delay = delay
            self.atPrompt = atPrompt
        }
    }

    public var steps: [Step]

    public init(after trigger: String, type text: String, delay: TimeInterval = 0) {
        steps = [Step(after: trigger, type: text, delay: delay)]
    }

    public init(steps: [Step]) {
        self.steps = steps
    }
}
