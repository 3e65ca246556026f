import Foundation
import SwiftletTools
import XCTest

/// The guest's wall clock is the host's: the kernel reads the machine's CMOS RTC at boot (QEMU's follows
/// the host, `-rtc base=utc`; Bochs's starts at the host's time, `time0=utc`), hands it with the TSC of
/// the reading to the root task and on to the VMM's description page, and the VMM's RTC and kvmclock wall
/// clock run from it. The guest's `date +%s` (Configurations/linux-clock.dts, /init's `swiftlet.job=date`)
/// is compared with the host's clock at the moment its line reached the console.
final class GuestClockTests: SystemTestCase {
    /// "Within a few seconds": the kernel reads the RTC in whole seconds and `date +%s` prints whole
    /// seconds, so the guest may read up to 2 s behind the host with a perfect clock; 2 s more for the
    /// emulator (measured: 0.6-0.9 s on QEMU, 1.3-2.1 s on Bochs).
    static let tolerance: TimeInterval = 4

    func testTheGuestsDateIsTheHostsOnQEMU() throws {
        try checkDate(on: .qemu)
    }

    func testTheGuestsDateIsTheHostsOnBochs() throws {
        try checkDate(on: .bochs)
    }

    private func checkDate(on emulator: Emulator, file: StaticString = #filePath, line: UInt = #line) throws {
        let configuration = ImageConfiguration(configuration: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Configurations/linux-clock.dts").path)
        // A step that types nothing: the run notes when the date's line came.
        let result = try boot(configuration, on: emulator, input: ConsoleInput(after: "swiftlet-guest: date ", type: ""))
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "clock: the CMOS RTC reads ", " s since 1970 (UTC) at tsc ", in: result, file: file, line: line)
        guard let printed = assertLine(containing: "swiftlet-guest: date ", in: result, file: file, line: line),
              let date = printed.firstMatch(of: /swiftlet-guest: date (\d+)/).flatMap({ Double($0.1) }),
              let seen = result.stepTriggerTimes.first?.timeIntervalSince1970 else {
            return XCTFail("no date line, or no time it was seen", file: file, line: line)
        }
        let behind = seen - date
        XCTAssertLessThanOrEqual(abs(behind), Self.tolerance,
                                 "the guest's date \(Int(date)) against the host's \(String(format: "%.1f", seen)) when the line came",
                                 file: file, line: line)
        if abs(behind) <= Self.tolerance {
            print("clock: \(emulator.rawValue): the guest's date +%s \(Int(date)); the host's clock read \(String(format: "%.2f", seen)) when the line came (\(String(format: "%.2f", behind)) s later; run \(String(format: "%.1f", result.duration)) s)")
        }
    }
}
