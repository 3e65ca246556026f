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
    /// Connect the terminal's keyboard to the guest's serial port (QEMU only, and only if stdin is a
    /// terminal).
    public var interactive: Bool
    /// Receives the console's bytes as they arrive; nil discards them (they are still in the result).
    public var consoleSink: (@Sendable (Data) -> Void)?
    /// Lets another thread ask the run to stop early (e.g. on Ctrl-C).
    public var stopRequest: StopRequest?
    /// Keys to type into the serial port once the console shows a line (QEMU only: Bochs's serial port
    /// here is a file).
    public var consoleInput: ConsoleInput?

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

    public var effectiveCPUModel: String { cpuModel ?? emulator.defaultCPUModel }
}

/// Text typed into the guest's serial port when `trigger` first appears on the console.
public struct ConsoleInput: Sendable {
    public var trigger: String
    public var text: String

    public init(after trigger: String, type text: String) {
        self.trigger = trigger
        self.text = text
    }
}
