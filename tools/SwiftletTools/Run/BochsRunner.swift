import Foundation

/// Boots an ISO in Bochs, the emulator with VT-x (EPT, VPID, unrestricted guest) and, with AMD models,
/// SVM with nested paging and NRIPS.
///
/// COM1 is a pseudo-terminal (Bochs `mode=term`): the console is read from its master, copied to
/// `com1.out` in the run folder, and typed input — a run's ConsoleInput, or on a terminal the person's
/// keys (TerminalKeyboard; Ctrl-A x quits) — is written into it.
/// The Debian build has its debugger compiled in, so Bochs is driven by a debugger command file.
public struct BochsRunner: Sendable {
    public init() {}

    func run(iso: URL, configuration: RunConfiguration, files: RunFiles) throws -> RunResult {
        let bochs = try HostTool.bochs.locate()
        _ = try HostFile.bochsBIOS.require()
        _ = try HostFile.vgaBIOS.require()

        let terminal = try PseudoTerminal()
        var bochsrc = BochsConfiguration(iso: iso, cpuModel: configuration.effectiveCPUModel,
                                         memoryMiB: configuration.memoryMiB,
                                         deterministic: configuration.deterministic,
                                         serialTerminal: terminal.slavePath, logFile: files.file("bochs.log"))
        bochsrc.disk = configuration.disk
        let rcFile = files.file("bochsrc")
        let commandsFile = files.file("debugger-commands")
        try bochsrc.text.write(to: rcFile, atomically: true, encoding: .utf8)
        try BochsConfiguration.debuggerCommands.write(to: commandsFile, atomically: true, encoding: .utf8)

        let transcript = try files.openTranscript()
        let serialCopy = FileHandle(fileDescriptor: try RunFiles.openForWriting(files.file("com1.out")), closeOnDealloc: true)
        let emulatorOutput = try RunFiles.openForWriting(files.emulatorOutput)
        let nullDevice = try RunFiles.openNullDevice()
        defer {
            close(emulatorOutput)
            close(nullDevice)
        }
        // The debugger's prompt and Bochs's messages go to a file; stdin is empty so the debugger never
        // waits for a person.
        let child = try ChildProcess.spawn(
            bochs, ["-q", "-f", rcFile.path, "-rc", commandsFile.path],
            streams: .init(input: nullDevice, output: emulatorOutput, error: emulatorOutput),
            ownProcessGroup: true)

        // Bochs runs in a process group of its own and never reads the terminal: the keys reach it only
        // through us, so Ctrl-C is a byte for the guest, not a signal.
        let keyboard: TerminalKeyboard?
        do {
            keyboard = configuration.interactive ? try TerminalKeyboard.ofStandardInput() : nil
        } catch {
            child.terminate()
            throw error
        }
        defer { keyboard?.restore() }
        var supervisor = EmulatorSupervisor(child: child, source: PseudoTerminalReader(terminal: terminal, copy: serialCopy),
                                            configuration: configuration, files: files, transcript: transcript)
        supervisor.inputDescriptor = terminal.master
        supervisor.keyboard = keyboard
        return supervisor.supervise()
    }
}
