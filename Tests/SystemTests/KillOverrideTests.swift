import Foundation
import SwiftletABI
@testable import SwiftletTools
import XCTest

/// `--kill-every NODE=MS`: an overlay over the configuration that sets kill-every-ms in the task's node;
/// what the root task would refuse is refused on the host first, naming the option.
final class KillOverrideTests: XCTestCase {
    func testTheOverlaySetsTheKillPeriodInTheNamedNode() throws {
        let repository = SystemImages.repository
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kill-override-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let overlay = directory.appendingPathComponent("overlay.dts"), blob = directory.appendingPathComponent("overlay.dtb")
        let base = repository.root.appendingPathComponent("Tests/SystemTests/Configurations/supervised.dts").path
        try KillOverride.overlay(including: base, kills: [try KillOverride(argument: "driver=250")])
            .write(to: overlay, atomically: true, encoding: .utf8)
        try ExternalCommand(try HostTool.dtc.locate(), ["-q", "-I", "dts", "-O", "dtb", "-o", blob.path, overlay.path]).runQuietly()
        var periods: [String: UInt32] = [:]
        GuestModules.read(try Data(contentsOf: blob)) { configuration in
            for index in 0..<configuration.taskCount {
                let task = configuration.tasks[index]
                periods[String(decoding: task.node.bytes, as: UTF8.self)] = task.killMilliseconds
            }
        }
        XCTAssertEqual(periods, ["serial": 0, "driver": 250, "client": 0])
    }

    func testBadArgumentsAreRefusedNamingTheOption() {
        for (argument, expected) in [("driver", "expected NODE=MS"), ("=100", "expected NODE=MS"), ("driver=soon", "expected NODE=MS"),
                                     ("dri ver=100", "expected NODE=MS"), ("driver=9", "10 to 3600000 ms"), ("driver=3600001", "10 to 3600000 ms")] {
            do {
                _ = try KillOverride(argument: argument)
                XCTFail("accepted \(argument)")
            } catch {
                XCTAssertTrue("\(error)".contains("--kill-every \(argument): ") && "\(error)".contains(expected), "\(argument): \(error)")
            }
        }
    }
}
