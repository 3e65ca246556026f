import Foundation

/// A GRUB ISO that boots the Linux guest directly on the emulator, without Swiftlet: the yardstick a
/// Swiftlet boot is divided by. It goes through the same firmware and GRUB as a Swiftlet image, so a
/// ratio of the two measures Swiftlet, not the loader.
public enum LinuxDirectImage {
    /// The command line of timed boots: `quiet` (Bochs emulates the 115200-baud line, and a full boot
    /// log costs ~180 M instructions there), no crypto self-tests, no KASLR, no i8042 probing.
    public static let commandLine = "console=ttyS0,115200 quiet nokaslr tsc=reliable no_timer_check i8042.noaux i8042.nokbd cryptomgr.notests panic=-1"

    /// Builds `.build/guest/direct-<label>.iso`; `extraCommandLine` is appended (QEMU's -icount TSC runs
    /// at 1 GHz of instructions, which Linux cannot calibrate without being told).
    public static func build(_ guest: LinuxGuest, in repository: Repository, label: String,
                             extraCommandLine: String = "") throws -> URL {
        try HostTool.requireAll(HostTool.imageTools)
        let tree = repository.root.appendingPathComponent(".build/guest/direct-\(label)")
        try? FileManager.default.removeItem(at: tree)
        let grub = tree.appendingPathComponent("boot/grub")
        try FileManager.default.createDirectory(at: grub, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: guest.kernel, to: tree.appendingPathComponent("boot/vmlinuz"))
        try FileManager.default.copyItem(at: guest.initramfs, to: tree.appendingPathComponent("boot/initramfs.gz"))
        let line = ([commandLine] + (extraCommandLine.isEmpty ? [] : [extraCommandLine])).joined(separator: " ")
        let configuration = """
            set timeout=0
            set default=0
            menuentry "Linux \(guest.release), directly" {
              linux /boot/vmlinuz \(line)
              initrd /boot/initramfs.gz
              boot
            }

            """
        try configuration.write(to: grub.appendingPathComponent("grub.cfg"), atomically: true, encoding: .utf8)
        let iso = repository.root.appendingPathComponent(".build/guest/direct-\(label).iso")
        try ImageBuilder(repository: repository).makeISO(from: tree, at: iso)
        return iso
    }

    /// The TSC on the marker line (`swiftlet-guest: user space up at tsc N`): instructions from power-on
    /// in deterministic runs.
    public static func markerTSC(in console: String) -> Int? {
        guard let match = console.firstMatch(of: /swiftlet-guest: user space up at tsc (\d+)/) else { return nil }
        return Int(match.1)
    }
}
