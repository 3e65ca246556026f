import Foundation

/// The person's terminal as the keyboard of the guest's serial port, for emulators whose serial port we
/// carry ourselves (Bochs). While the run lasts the terminal's input is raw — no echo (the guest echoes),
/// no line editing, Ctrl-C a byte for the guest rather than a signal for us — and its output settings
/// stay as they were. The settings are put back by `restore`, which the runner calls on every way out
/// (a power-off, Ctrl-A x, SIGTERM or SIGHUP, which end the supervision loop, and thrown errors); `deinit`
/// restores them too.
final class TerminalKeyboard {
    let descriptor: Int32
    private var original: termios
    private var restored = false
    private var escape = EscapeKeys()

    /// The keyboard of stdin, if it is a terminal and we are its foreground job: a background job that
    /// changed the terminal's settings would be stopped by SIGTTOU, and one that read it by SIGTTIN.
    static func ofStandardInput() throws -> TerminalKeyboard? {
        guard isatty(STDIN_FILENO) == 1, tcgetpgrp(STDIN_FILENO) == getpgrp() else { return nil }
        return try TerminalKeyboard(descriptor: STDIN_FILENO)
    }

    /// Switches the terminal `descriptor` to raw input.
    init(descriptor: Int32) throws {
        self.descriptor = descriptor
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else {
            throw SwiftletError.hostFailure("cannot read the terminal's settings: \(String(cString: strerror(errno)))")
        }
        original = settings
        cfmakeraw(&settings)
        // cfmakeraw also turns off output processing; the console's lines end in CR LF anyway, but a
        // guest's bare LF should still start a new line on the person's screen.
        settings.c_oflag = original.c_oflag
        // A read returns at once with what was typed, or with nothing: the supervisor polls.
        withUnsafeMutableBytes(of: &settings.c_cc) { characters in
            characters[Int(VMIN)] = 0
            characters[Int(VTIME)] = 0
        }
        guard tcsetattr(descriptor, TCSANOW, &settings) == 0 else {
            throw SwiftletError.hostFailure("cannot switch the terminal to raw input: \(String(cString: strerror(errno)))")
        }
    }

    deinit { restore() }

    /// Puts the terminal's settings back as they were (once; later calls do nothing).
    func restore() {
        guard !restored else { return }
        restored = true
        // TCSAFLUSH: keys typed after the run ended are not left for the shell to run as commands.
        _ = tcsetattr(descriptor, TCSAFLUSH, &original)
    }

    /// The keys typed since the last call, without the runner's own (EscapeKeys), and whether the person
    /// asked to quit. Never blocks (VMIN and VTIME are 0).
    func read() -> (keys: [UInt8], quit: Bool) {
        escape.filter(Array(FileDescriptorReading.readAvailable(descriptor)))
    }
}
