import Foundation
import SwiftletTools
import XCTest

/// Device interrupts as messages: the RTC driver gets ISA IRQ 8 and the CMOS ports from its configuration
/// and receives the RTC's periodic interrupts through the IOAPIC, on every emulator.
final class InterruptTests: SystemTestCase {
    var configuration: ImageConfiguration {
        ImageConfiguration(tasks: ["roottask", "rtctest"], configuration: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().appendingPathComponent("Configurations/rtc.dts").path)
    }

    func check(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) {
        assertCleanBoot(result, file: file, line: line)
        assertLine(containing: "interrupts: IOAPIC", "24 inputs", in: result, file: file, line: line)
        assertLine(containing: "roottask: started rtctest", "with ports 0x70+2 and IRQ 8: ok", in: result, file: file, line: line)
        assertLine(containing: "rtctest: PASS 16 RTC interrupts of 16 arrived as messages (bind: ok)", in: result, file: file, line: line)
    }

    func testRTCInterruptsOnQEMU() throws {
        check(try boot(configuration))
    }

    func testRTCInterruptsOnBochsVMXModel() throws {
        check(try boot(configuration, on: .bochs))
    }

    func testRTCInterruptsOnBochsRyzen() throws {
        check(try boot(configuration, on: .bochs, cpu: "ryzen", deterministic: true))
    }
}
