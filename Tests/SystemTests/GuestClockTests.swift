import Foundation
import SwiftletTools
import XCTest

/// The guest's wall clock is the host's: the kernel reads the machine's CMOS RTC at boot (QEMU's follows
/// the host, `-rtc base=utc`; Bochs's starts at the host's time, `time0=utc`), hands it with the TSC of
/// the reading to the root task and on to the VMM's description page, and the VMM's RTC and kvmclock wall
/// clock run from it. The guest's `date +%s` (Configurations/linux-clock.dts, /init's `swiftlet.job=date`,
/// which prints the TSC beside it) is compared with the machine's own clock at that TSC (the RTC reading
/// the kernel logged, advanced at the TSC's rate) on both emulators, and with the host's clock at the
/// moment its line reached the console on QEMU. Bochs keeps emulated time at most as fast as the host's
/// (`sync=slowdown`), and behind it when it cannot emulate the instructions a second it is set to: on a
/// slow machine its RTC and TSC, the machine's own time, fall behind the host's (measured 2026-12-02:
/// 11-17 s in a 40 s run), which no software inside it can see; the test says by how much.
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
        // The machine's clock at the date's TSC: the kernel's RTC reading advanced at the TSC's rate.
        guard let reading = result.consoleLines.lazy.compactMap({ $0.firstMatch(of: /clock: the CMOS RTC reads (\d+) s since 1970 \(UTC\) at tsc (\d+)/) }).first,
              let rtc = Double(reading.1), let rtcTSC = Double(reading.2),
              let rate = result.consoleLines.lazy.compactMap({ $0.firstMatch(of: /timer: local APIC .* TSC (\d+) kHz/) }).first.flatMap({ Double($0.1) }),
              let dateTSC = printed.firstMatch(of: /swiftlet-guest: date \d+ at tsc (\d+)/).flatMap({ Double($0.1) }), rate > 0 else {
            return XCTFail("no RTC reading with its TSC, no TSC rate or no TSC beside the date", file: file, line: line)
        }
        let machine = rtc + (dateTSC - rtcTSC) / (rate * 1000)
        let off = date - machine
        XCTAssertLessThanOrEqual(abs(off), Self.tolerance,
                                 "the guest's date \(Int(date)) against the machine's clock \(String(format: "%.1f", machine)) at its TSC",
                                 file: file, line: line)
        // The machine's RTC started from the host's clock: its reading lies between the run's start and the date's line.
        XCTAssertTrue(rtc >= seen - result.duration - Self.tolerance && rtc <= seen + Self.tolerance,
                      "the RTC read \(Int(rtc)), the host's clock \(String(format: "%.1f", seen)) at the date's line of a \(String(format: "%.1f", result.duration)) s run",
                      file: file, line: line)
        let behind = seen - date
        if emulator == .qemu {
            XCTAssertLessThanOrEqual(abs(behind), Self.tolerance,
                                     "the guest's date \(Int(date)) against the host's \(String(format: "%.1f", seen)) when the line came",
                                     file: file, line: line)
        }
        if abs(off) <= Self.tolerance && (emulator != .qemu || abs(behind) <= Self.tolerance) {
            print("clock: \(emulator.rawValue): the guest's date +%s \(Int(date)), the machine's clock \(String(format: "%.2f", machine)) at that TSC (\(String(format: "%.2f", off)) s apart); the host's clock read \(String(format: "%.2f", seen)) when the line came (\(String(format: "%.2f", behind)) s later; run \(String(format: "%.1f", result.duration)) s)")
        }
    }
}
