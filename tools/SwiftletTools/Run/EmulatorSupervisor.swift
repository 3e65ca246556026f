import Foundation

/// Watches a running emulator until the run has an outcome, then makes sure the emulator is gone.
///
/// The rules, in the order they are checked:
///  - the emulator exited: if a stop had been requested, `interrupted`; otherwise a panic report means
///    `panicked`, `kernel: powering off` means `poweredOff`, and anything else is `emulatorExited`;
///  - a stop was requested: `interrupted`;
///  - the kernel printed `kernel: halted`: the CPU will never run again, so after a short grace (for the
///    last console bytes) the emulator is stopped: `panicked`;
///  - the timeout passed: `timedOut` (or `panicked` if a panic report had begun).
struct EmulatorSupervisor<Source: ConsoleSource> {
    let child: ChildProcess
    var source: Source
    let configuration: RunConfiguration
    let files: RunFiles
    /// Receives a copy of the console, so every run folder has the full transcript.
    let transcript: FileHandle
    /// Where typed console input goes (the emulator's serial input), if the run has any.
    var inputDescriptor: Int32? = nil
    var inputSent = false

    /// How long to keep reading after `kernel: halted` before stopping the emulator.
    static var haltGrace: TimeInterval { 1 }
    static var pollInterval: useconds_t { 10_000 }

    mutating func supervise() -> RunResult {
        let start = Date()
        var monitor = ConsoleMonitor()
        let outcome: RunOutcome
        var end: Date?
        while true {
            drain(into: &monitor)
            typeInputIfDue(monitor)
            let now = Date()
            if !child.isRunning {
                drain(into: &monitor)
                // Ctrl-C reaches an interactive emulator too; it exiting then is not its own doing.
                outcome = configuration.stopRequest?.isRaised == true
                    ? .interrupted : RunOutcome(emulatorExitStatus: child.exitStatus ?? -1, console: monitor)
                break
            }
            if configuration.stopRequest?.isRaised == true {
                outcome = .interrupted
                break
            }
            if let haltedAt = monitor.haltedAt, now.timeIntervalSince(haltedAt) >= Self.haltGrace {
                outcome = .panicked
                // The run ended when the CPU halted; the grace was ours.
                end = haltedAt
                break
            }
            if now.timeIntervalSince(start) >= configuration.timeout {
                outcome = monitor.sawPanic ? .panicked : .timedOut
                break
            }
            usleep(Self.pollInterval)
        }
        let ended = end ?? Date()
        child.terminate()
        drain(into: &monitor)
        return RunResult(outcome: outcome, console: monitor.text, duration: ended.timeIntervalSince(start),
                         emulator: configuration.emulator, runDirectory: files.directory,
                         timeout: configuration.timeout, emulatorMessages: files.emulatorMessages())
    }

    private mutating func typeInputIfDue(_ monitor: ConsoleMonitor) {
        guard !inputSent, let input = configuration.consoleInput, let descriptor = inputDescriptor,
              monitor.text.contains(input.trigger) else { return }
        inputSent = true
        let bytes = Array(input.text.utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    private mutating func drain(into monitor: inout ConsoleMonitor) {
        let data = source.read()
        guard !data.isEmpty else { return }
        monitor.append(data)
        transcript.write(data)
        configuration.consoleSink?(data)
    }
}
