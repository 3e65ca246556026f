import Foundation

/// Watches a running emulator until the run has an outcome, then makes sure the emulator is gone.
///
/// The rules, in the order they are checked:
///  - the emulator exited: if a stop had been requested, `interrupted`; otherwise a panic report means
///    `panicked`, `kernel: powering off` means `poweredOff`, and anything else is `emulatorExited`;
///  - a stop was requested, or the person typed Ctrl-A x on the keyboard: `interrupted`;
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
    /// The person's keyboard, when the runner carries it to the serial input itself (Bochs on a terminal).
    var keyboard: TerminalKeyboard?
    /// Input not yet taken by the serial input (a pseudo-terminal holds ~20 KB, Bochs's UART takes it
    /// at line rate).
    var pendingInput: [UInt8] = []
    /// The person typed Ctrl-A x (EscapeKeys): the run ends as `interrupted`.
    var quitTyped = false
    /// The script's next step, where its trigger is looked for in the console, and when it is typed once
    /// its trigger was seen.
    var nextStep = 0
    var searchFrom = 0
    var stepDue: Date?
    var stepTriggerTimes: [Date] = []
    /// Whether the forwarded input's trigger was seen (or it had none), and whether it reached its end.
    var forwarding = false
    var forwardedEnd = false

    /// How long to keep reading after `kernel: halted` before stopping the emulator.
    static var haltGrace: TimeInterval { 1 }
    static var pollInterval: useconds_t { 10_000 }

    mutating func supervise() -> RunResult {
        let start = Date()
        var monitor = ConsoleMonitor(verdictToken: configuration.verdictToken)
        let outcome: RunOutcome
        var end: Date?
        while true {
            drain(into: &monitor)
            typeInputIfDue(monitor)
            forwardKeys()
            forwardInput(monitor)
            writePendingInput()
            let now = Date()
            if !child.isRunning {
                drain(into: &monitor)
                // Ctrl-C reaches an interactive emulator too; it exiting then is not its own doing.
                outcome = configuration.stopRequest?.isRaised == true
                    ? .interrupted : RunOutcome(emulatorExitStatus: child.exitStatus ?? -1, console: monitor)
                break
            }
            if configuration.stopRequest?.isRaised == true || quitTyped {
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
        // Typed input the emulator never read (still ours, or still in its input pipe): it never reached
        // the machine. Read before the emulator goes, while its end of the pipe is open.
        var unread: Int32 = 0
        if let descriptor = inputDescriptor, ioctl(descriptor, UInt(FIONREAD), &unread) != 0 { unread = 0 }
        let inputNotTaken = pendingInput.count + Int(max(unread, 0))
        child.terminate()
        drain(into: &monitor)
        var result = RunResult(outcome: outcome, console: monitor.text, verdictToken: configuration.verdictToken, duration: ended.timeIntervalSince(start),
                               emulator: configuration.emulator, runDirectory: files.directory,
                               timeout: configuration.timeout, emulatorMessages: files.emulatorMessages())
        result.stepTriggerTimes = stepTriggerTimes
        result.inputNotTaken = inputNotTaken
        return result
    }

    private mutating func typeInputIfDue(_ monitor: ConsoleMonitor, now: Date = Date()) {
        guard let input = configuration.consoleInput, inputDescriptor != nil, nextStep < input.steps.count else { return }
        let step = input.steps[nextStep]
        let trigger = Data(step.trigger.utf8)
        if stepDue == nil {
            let bytes = monitor.bytes
            if step.atPrompt {
                guard Self.endsAtPrompt(bytes, trigger), bytes.count - trigger.count >= searchFrom else { return }
                searchFrom = bytes.count
            } else {
                guard searchFrom <= bytes.count,
                      let found = bytes.range(of: trigger, in: bytes.startIndex + searchFrom..<bytes.endIndex) else { return }
                searchFrom = found.upperBound - bytes.startIndex
            }
            stepDue = now.addingTimeInterval(step.delay)
            stepTriggerTimes.append(now)
        }
        guard let due = stepDue, now >= due else { return }
        // A prompt must still be waiting when its delay is over: output since then (the shell was not done
        // yet after all) puts the step back to looking for it.
        if step.atPrompt, !Self.endsAtPrompt(monitor.bytes, trigger) {
            stepDue = nil
            stepTriggerTimes.removeLast()
            return
        }
        stepDue = nil
        nextStep += 1
        pendingInput += Array(step.text.utf8)
    }

    /// Whether the console's output ends with `prompt`, less the cursor-position query (ESC [ 6 n) busybox's
    /// line editor sends after it (no terminal answers it here; the shell reads on without the answer).
    static func endsAtPrompt(_ bytes: Data, _ prompt: Data) -> Bool {
        let query = Data([0x1B, 0x5B, 0x36, 0x6E])
        let shown = bytes.suffix(query.count) == query ? bytes.dropLast(query.count) : bytes[...]
        return shown.suffix(prompt.count) == prompt
    }

    /// Moves what the forwarded descriptor holds now into the pending input (it is made non-blocking).
    private mutating func forwardInput(_ monitor: ConsoleMonitor) {
        guard let input = configuration.forwardedInput, inputDescriptor != nil, !forwardedEnd else { return }
        if !forwarding {
            if let trigger = input.after, monitor.bytes.range(of: Data(trigger.utf8)) == nil { return }
            forwarding = true
            _ = fcntl(input.descriptor, F_SETFL, fcntl(input.descriptor, F_GETFL) | O_NONBLOCK)
        }
        // A few bytes a poll (400 a second, a fast typist): the VMM's input ring holds 256 bytes and the
        // guest takes them at its pace.
        guard pendingInput.isEmpty else { return }
        var buffer = [UInt8](repeating: 0, count: 4)
        let count = buffer.withUnsafeMutableBytes { read(input.descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            pendingInput += buffer[0..<count]
        } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
            forwardedEnd = true
        }
    }

    private mutating func forwardKeys() {
        guard let keyboard, inputDescriptor != nil else { return }
        let typed = keyboard.read()
        pendingInput += typed.keys
        if typed.quit { quitTyped = true }
    }

    /// Writes as much of the pending input as the serial input takes now; the rest waits for the next poll.
    private mutating func writePendingInput() {
        guard let descriptor = inputDescriptor, !pendingInput.isEmpty else { return }
        let written = pendingInput.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written > 0 {
            pendingInput.removeFirst(written)
        } else if written < 0 && errno != EAGAIN && errno != EINTR {
            // The emulator's end is gone (it exited); nothing will read the rest.
            pendingInput = []
        }
    }

    private mutating func drain(into monitor: inout ConsoleMonitor) {
        let data = source.read()
        guard !data.isEmpty else { return }
        monitor.append(data)
        transcript.write(data)
        configuration.consoleSink?(data)
    }
}
