import XCTest
import SwiftletABI
@testable import KernelCore
@testable import SwiftletABI

extension LogLine {
    var string: String {
        var bytes: [UInt8] = []
        forEachByte { bytes.append($0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

func withByteString<R>(_ text: String, _ body: (ByteString) -> R) -> R {
    Array(text.utf8).withUnsafeBytes { body(ByteString($0)) }
}

final class LogLineTests: XCTestCase {
    func testInterpolationFormatsNumbers() {
        let value: UInt64 = 0xDEAD_BEEF
        XCTAssertEqual(("n=\(42) m=\(-7) z=\(0) max=\(UInt64.max)" as LogLine).string, "n=42 m=-7 z=0 max=18446744073709551615")
        XCTAssertEqual(("\(Int64.min)" as LogLine).string, "-9223372036854775808")
        XCTAssertEqual(("\(hex: value) \(hex: 0) \(hex: 0x1F, digits: 4) \(hex: value, digits: 16)" as LogLine).string,
                       "0xdeadbeef 0x0 0x001f 0x00000000deadbeef")
        XCTAssertEqual(("\(yesNo: true)/\(yesNo: false)" as LogLine).string, "yes/no")
        let inner: LogLine = "inner \(1)"
        XCTAssertEqual(("outer: \(inner)" as LogLine).string, "outer: inner 1")
    }

    func testForeignBytesAreSanitisedAndLongLinesCut() {
        let line = [UInt8]([0x41, 0x0A, 0xFF, 0x42]).withUnsafeBytes { bytes -> LogLine in "[\(ByteString(bytes))]" }
        XCTAssertEqual(line.string, "[A??B]")
        var long = LogLine()
        for _ in 0..<300 { long.append(UInt8(ascii: "x")) }
        XCTAssertEqual(long.count, LogLine.capacity)
        XCTAssertEqual(long.string, String(repeating: "x", count: LogLine.capacity) + "~")
    }
}

final class KernelOptionsTests: XCTestCase {
    func parse(_ text: String) -> (KernelOptions, [String]) {
        var issues: [String] = []
        let options = withByteString(text) { bytes in
            KernelOptions.parse(bytes) { issue in
                switch issue {
                case .unknownOption(let name): issues.append("unknown \(String(decoding: name.bytes, as: UTF8.self))")
                case .badValue(let option, let value, _): issues.append("bad \(option) \(String(decoding: value.bytes, as: UTF8.self))")
                }
            }
        }
        return (options, issues)
    }

    func testKnownOptions() {
        XCTAssertEqual(parse("").0, KernelOptions())
        XCTAssertEqual(parse("crash=pagefault").0.crash, .pageFault)
        XCTAssertEqual(parse("  crash=stack   timer_hz=250 ").0.crash, .stackOverflow)
        XCTAssertEqual(parse("crash=stack timer_hz=250").0.timerHz, 250)
        XCTAssertEqual(parse("/boot/swiftlet.elf crash=ud").1, [])
        XCTAssertEqual(parse("crash=gp").0.crash?.name.description, "gp")
        XCTAssertEqual(parse("verdict=0123456789abcdef timer_hz=100").0.verdictToken, 0x0123_4567_89AB_CDEF)
    }

    /// The verdict token must be exactly what the build writes: a short, long or uppercase one is refused.
    func testTheVerdictTokenIsSixteenLowercaseHexDigits() {
        let (options, issues) = parse("verdict=0123 verdict=0123456789ABCDEF verdict=0123456789abcdef0 verdict=")
        XCTAssertNil(options.verdictToken)
        XCTAssertEqual(issues, ["bad verdict 0123", "bad verdict 0123456789ABCDEF", "bad verdict 0123456789abcdef0", "bad verdict "])
        var suffix: [UInt8] = []
        VerdictToken.forEachSuffixByte(0x00AB_0000_0000_0001) { suffix.append($0) }
        XCTAssertEqual(String(decoding: suffix, as: UTF8.self), " (verdict 00ab000000000001)")
    }

    func testBadInputIsReportedAndIgnored() {
        let (options, issues) = parse("frobnicate=1 crash=explode timer_hz=5 timer_hz=abc timer_hz=99999999999 quiet")
        XCTAssertEqual(options, KernelOptions())
        XCTAssertEqual(issues, ["unknown frobnicate", "bad crash explode", "bad timer_hz 5", "bad timer_hz abc",
                                "bad timer_hz 99999999999", "unknown quiet"])
    }
}

final class VirtualizationFeaturesTests: XCTestCase {
    func testDecodesVMXAsBochsHaswellReportsIt() {
        // Allowed-1 halves: primary bit 31 (secondary controls); secondary EPT(1), VPID(5), UG(7).
        let registers = VirtualizationFeatures.VMXRegisters(
            featureControl: 0x5, basic: (1 << 55) | 0x2B, processorControls: (0xFFFF_FFFF as UInt64) << 32,
            secondaryControls: UInt64(0b1010_0010) << 32)
        guard case .vmx(let vmx) = VirtualizationFeatures.decode(vmx: registers) else { return XCTFail() }
        XCTAssertEqual(vmx, .init(disabledByFirmware: false, ept: true, vpid: true, unrestrictedGuest: true, trueControls: true, revision: 0x2B))
    }

    func testVMXWithoutSecondaryControlsHasNoEPT() {
        let registers = VirtualizationFeatures.VMXRegisters(featureControl: 0x1, basic: 0, processorControls: 0x7FFF_FFFF << 32,
                                                            secondaryControls: UInt64.max)
        guard case .vmx(let vmx) = VirtualizationFeatures.decode(vmx: registers) else { return XCTFail() }
        XCTAssertFalse(vmx.ept || vmx.vpid || vmx.unrestrictedGuest || vmx.trueControls)
        XCTAssertTrue(vmx.disabledByFirmware, "locked without VMX-outside-SMX")
    }

    func testDecodesSVMWithAndWithoutNRIPS() {
        let qemu = VirtualizationFeatures.decode(svm: .init(leaf8000000A: (eax: 1, ebx: 16, edx: 0x1), vmCR: 0))
        XCTAssertEqual(qemu, .svm(.init(disabledByFirmware: false, nestedPaging: true, nextRIP: false, asidCount: 16, revision: 1)))
        let ryzen = VirtualizationFeatures.decode(svm: .init(leaf8000000A: (eax: 1, ebx: 32768, edx: 0x9), vmCR: 1 << 4))
        XCTAssertEqual(ryzen, .svm(.init(disabledByFirmware: true, nestedPaging: true, nextRIP: true, asidCount: 32768, revision: 1)))
        XCTAssertTrue(VirtualizationFeatures.cpuHasVMX(leaf1ECX: 1 << 5))
        XCTAssertFalse(VirtualizationFeatures.cpuHasSVM(leaf80000001ECX: 1 << 5))
    }
}
