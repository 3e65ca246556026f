import ArgumentParser
import Foundation
import SwiftletTools

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the kernel and a bootable GRUB ISO.",
        discussion: """
            The standard image is .build/swiftlet/swiftlet.iso; images with another command line or \
            modules get a name of their own unless --output says where.
            """)

    @OptionGroup var image: ImageOptions

    @Option(help: ArgumentHelp("Where to write the ISO.", valueName: "ISO"))
    var output: String?

    func validate() throws {
        try image.validateGuestOptions()
    }

    func run() throws {
        try reportingFailures {
            let repository = try Repository.locate()
            let configuration = try image.configuration()
            let built = try SystemBuild(repository: repository)
                .build(configuration, output: output.map(CallerDirectory.resolve))
            Console.output("kernel \(CallerDirectory.display(built.kernel)) (\(built.kernelBytes) bytes)")
            Console.output("image  \(CallerDirectory.display(built.iso)) (\(built.isoBytes) bytes)")
        }
    }
}
