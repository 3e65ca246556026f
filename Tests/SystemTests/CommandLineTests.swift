import SwiftletTools
import XCTest

final class CommandLineTests: SystemTestCase {
    /// An option the kernel does not know is reported and otherwise ignored.
    func testUnknownOptionIsReportedAndBootContinues() throws {
        let result = try boot(ImageConfiguration(commandLine: "frobnicate=1"))
        assertLine(containing: "cmdline: unknown option 'frobnicate'", in: result)
        assertCleanBoot(result)
    }
}
