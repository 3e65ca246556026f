import ArgumentParser
import Foundation
import SwiftletTools

/// `swiftlet guest`: fetches (or checks the cached) Debian kernel and builds the initramfs, and says which.
struct GuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Prepare the Linux guest: Debian's cloud kernel (apt-get download, cached) and a busybox initramfs.",
        discussion: """
            The kernel version is resolved from the linux-image-cloud-amd64 package, so it moves with \
            Debian's security updates; its SHA-256 is recorded when it is fetched and checked on reuse.
            """)

    @Flag(help: "Also build a GRUB ISO that boots the guest directly, without Swiftlet (the benchmark's yardstick; boot it with `run --iso`).")
    var directISO = false

    func run() throws {
        try reportingFailures {
            let guest = try LinuxGuest.prepare(in: try Repository.locate()) { Console.error($0) }
            Console.output("kernel    \(CallerDirectory.display(guest.kernel)) (Linux \(guest.release), package \(guest.packageVersion))")
            Console.output("sha256    \(guest.kernelSHA256)")
            Console.output("initramfs \(CallerDirectory.display(guest.initramfs))")
            if directISO {
                let iso = try LinuxDirectImage.build(guest, in: try Repository.locate(), label: "run")
                Console.output("direct    \(CallerDirectory.display(iso)) (command line: \(LinuxDirectImage.commandLine))")
            }
        }
    }
}
