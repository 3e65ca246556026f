import Foundation

/// Boots an ISO in Bochs, the emulator with VT-x (EPT, VPID, unrestricted guest) and, with AMD models,
/// SVM with nested paging and NRIPS.
///
/// Bochs writes COM1 to a file in the run folder; the console is that file, read as it grows.
/// The Debian build has its debugger compiled in, so Bochs is driven by a debugger command file.
public struct BochsRunner: Sendable {
    public init() {}

    func run(iso: URL, configuration: RunConfiguration, files: RunFiles) throws -> RunResult {
        let bochs = try HostTool.bochs.locate()
        _ = try HostFile.bochsBIOS.require()
        _ = try HostFile.vgaBIOS.require()

        let serialFile = files.file("com1.out")
        let bochsrc = BochsConfiguration(iso: iso, cpuModel: configuration.effectiveCPUModel,
                                         memoryMiB: configuration.memoryMiB,
                                         deterministic: configuration.deterministic,
                                         serialFile: serialFile, logFile: files.file("bochs.log"))
        let rcFile = files.file("bochsrc")
        let commandsFile = files.file("debugger-commands")
        try bochsrc.text.write(to: rcFile, atomically: true, encoding: .utf8)
        try BochsConfiguration.debuggerCommands.write(to: commandsFile, atomically: true, encoding: .utf8)

        let transcript = try files.openTranscript()
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

        let source = GrowingFile(url: serialFile)
        defer { source.close() }
        var supervisor = EmulatorSupervisor(child: child, source: source, configuration: configuration,
                                            files: files, transcript: transcript)
        return supervisor.supervise()
    }
}
