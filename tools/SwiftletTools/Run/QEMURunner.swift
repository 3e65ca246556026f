import Foundation

/// Boots an ISO in QEMU with TCG, whose `-cpu max` offers SVM with nested paging to the kernel, or with
/// KVM when the host nests VT-x (`RunConfiguration.kvm`, chosen by HostVirtualization).
///
/// The serial port is QEMU's stdio, read through a pipe. Interactively (stdin is a terminal) it is
/// `mon:stdio`: keys reach the guest, Ctrl-C too (QEMU turns the stdio chardev's `signal` off when the
/// monitor is muxed onto it, so Ctrl-C is byte 0x03 for the guest's shell, not SIGINT for QEMU; checked
/// on a pty: the VMM counted the one input byte and the run powered off with status 0); Ctrl-A x quits
/// QEMU, Ctrl-A c switches to its monitor.
public struct QEMURunner: Sendable {
    public init() {}

    /// The QEMU command line, minus the executable.
    public static func arguments(iso: URL, configuration: RunConfiguration, interactive: Bool) -> [String] {
        var arguments = [
            "-accel", configuration.kvm ? "kvm" : "tcg",
            "-cpu", configuration.effectiveCPUModel,
            "-m", String(configuration.memoryMiB),
            "-cdrom", iso.path,
            "-boot", "d",
            "-display", "none",
            // A triple fault would otherwise reboot into GRUB and boot again, forever.
            "-no-reboot",
            "-serial", interactive ? "mon:stdio" : "stdio",
        ]
        // The disk on the primary master; the CD stays where -cdrom puts it, the secondary master.
        if let disk = configuration.disk { arguments += disk.qemuArguments }
        if configuration.deterministic {
            // One guest TSC tick per instruction; align=off lets the guest run as fast as it can.
            arguments += ["-icount", "shift=0,align=off"]
            // The RTC starts at Bochs's fixed moment and runs on the instruction clock, so the time the
            // kernel reads (and hands the guest) is the same on every run.
            arguments += ["-rtc", "base=\(BochsConfiguration.fixedStartDate),clock=vm"]
        }
        return arguments
    }

    func run(iso: URL, configuration: RunConfiguration, files: RunFiles) throws -> RunResult {
        let qemu = try HostTool.qemu.locate()
        // Only a foreground job may take the terminal: QEMU switches it to raw mode, which would stop
        // a background job (SIGTTOU).
        let interactive = configuration.interactive && isatty(STDIN_FILENO) == 1
            && tcgetpgrp(STDIN_FILENO) == getpgrp()

        let transcript = try files.openTranscript()
        let emulatorOutput = try RunFiles.openForWriting(files.emulatorOutput)
        let nullDevice = try RunFiles.openNullDevice()
        defer {
            close(emulatorOutput)
            close(nullDevice)
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            throw SwiftletError.hostFailure("cannot create a pipe: errno \(errno)")
        }
        // Keep both ends out of other children; spawn duplicates the write end into QEMU explicitly.
        pipeEnds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        // Typed input, if the run has any, goes through a pipe of its own into QEMU's stdin (the serial port).
        var inputEnds: [Int32] = [-1, -1]
        if !interactive && (configuration.consoleInput != nil || configuration.forwardedInput != nil) {
            guard pipe(&inputEnds) == 0 else { throw SwiftletError.hostFailure("cannot create a pipe: errno \(errno)") }
            inputEnds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        }
        defer { inputEnds.filter { $0 >= 0 }.forEach { close($0) } }
        let streams = ChildProcess.Streams(input: interactive ? STDIN_FILENO : (inputEnds[0] >= 0 ? inputEnds[0] : nullDevice),
                                           output: pipeEnds[1], error: emulatorOutput)
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                qemu, Self.arguments(iso: iso, configuration: configuration, interactive: interactive),
                streams: streams,
                // An interactive QEMU must stay in the terminal's foreground group to read keys.
                ownProcessGroup: !interactive)
        } catch {
            close(pipeEnds[0])
            close(pipeEnds[1])
            throw error
        }
        // Only the child writes into the pipe; closing our copy lets us see end-of-file.
        close(pipeEnds[1])
        let source = PipeReader(descriptor: pipeEnds[0])
        defer { source.close() }

        var supervisor = EmulatorSupervisor(child: child, source: source, configuration: configuration,
                                            files: files, transcript: transcript)
        supervisor.inputDescriptor = inputEnds[1] >= 0 ? inputEnds[1] : nil
        return supervisor.supervise()
    }
}
