import ArgumentParser

/// `swiftlet`: builds Swiftlet images, boots them in QEMU or Bochs, runs the tests, measures.
///
/// Started through `tools/swiftlet`, which first installs the Debian packages these commands need.
@main
struct Swiftlet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Build, boot, test and measure the Swiftlet microkernel.",
        discussion: """
            Run it as ./tools/swiftlet: that script installs the Debian packages Swiftlet needs \
            (QEMU, Bochs, GRUB, xorriso, ...) and builds this command first.
            """,
        subcommands: [BuildCommand.self, RunCommand.self, TestCommand.self, BenchCommand.self, GuestCommand.self,
                      CheckModelsCommand.self],
        defaultSubcommand: RunCommand.self)
}
