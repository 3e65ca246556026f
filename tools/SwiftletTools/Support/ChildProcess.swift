import Foundation

/// A child process started with posix_spawn, supervised by polling.
///
/// Foundation's `Process` puts every child in a process group of its own. An emulator that reads the
/// keyboard from our terminal must stay in the terminal's foreground group (or it is stopped by
/// SIGTTIN), while a non-interactive one is better kept apart so Ctrl-C reaches only us and we stop it
/// cleanly. This type lets the caller choose.
final class ChildProcess {
    let pid: pid_t
    private(set) var exitStatus: Int32?

    /// The standard streams of the child, as file descriptors of ours; they are duplicated into the
    /// child, the caller keeps ownership.
    struct Streams {
        var input: Int32
        var output: Int32
        var error: Int32
    }

    private init(pid: pid_t) {
        self.pid = pid
    }

    static func spawn(_ executable: URL, _ arguments: [String], streams: Streams,
                      ownProcessGroup: Bool) throws -> ChildProcess
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, streams.input, STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, streams.output, STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, streams.error, STDERR_FILENO)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The swiftlet command ignores SIGINT to handle Ctrl-C itself; the child must not inherit that.
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] {
            sigaddset(&defaultSignals, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF)
        if ownProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable.path, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw SwiftletError.commandFailed(command: executable.path, status: result,
                                              output: "cannot start: \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid)
    }

    /// Whether the child still runs; reaps it (and records its status) once it has exited.
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return true }
        if result == pid {
            exitStatus = Self.decode(status)
        } else if errno != EINTR {
            // Someone else reaped it; the status is lost but the child is gone.
            exitStatus = -1
        } else {
            return true
        }
        return false
    }

    func send(_ signal: Int32) {
        if exitStatus == nil { kill(pid, signal) }
    }

    /// Stops the child: SIGTERM first, so emulators restore the terminal and flush their files, then
    /// SIGKILL if it has not gone after `grace` seconds.
    func terminate(grace: TimeInterval = 3) {
        guard isRunning else { return }
        send(SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline {
            usleep(20_000)
        }
        if isRunning {
            send(SIGKILL)
            while isRunning { usleep(5_000) }
        }
    }

    /// The shell's convention: the exit code, or 128 plus the number of the signal that ended it.
    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
