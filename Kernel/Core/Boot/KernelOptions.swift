import SwiftletABI

/// The kernel command line: space-separated `name=value` switches. Unknown names and bad values are
/// reported through `report` and otherwise ignored, so a typo never stops a boot.
public struct KernelOptions: Equatable {
    /// A deliberate fault after boot, to exercise the panic path (`crash=pagefault|ud|gp|de|stack`).
    public var crash: CrashKind?
    /// Local APIC timer rate (`timer_hz=`, 10…10000).
    public var timerHz: UInt32 = 1000
    /// FPU state switching (`fpu=lazy|eager`): on first use after a switch (#NM), or at every switch.
    public var eagerFPU = false
    /// Run the virtualization backend's self-test guest at boot (`virt_selftest`).
    public var virtualizationSelfTest = false
    /// The boot's verdict token (`verdict=`, 16 hex digits, put there by the build): the kernel ends its
    /// verdict lines with it so the run harness can tell them from forgeries (VerdictToken.swift).
    public var verdictToken: UInt64?

    public init() {}

    public enum CrashKind: Equatable {
        case pageFault, invalidOpcode, generalProtection, divideError, stackOverflow
    }

    public enum Issue {
        case unknownOption(ByteString)
        case badValue(option: StaticString, value: ByteString, expected: StaticString)
    }

    public static func parse(_ text: ByteString, report: (Issue) -> Void) -> KernelOptions {
        var options = KernelOptions()
        let bytes = text.bytes
        var cursor = 0
        while cursor < bytes.count {
            while cursor < bytes.count && bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
            let start = cursor
            while cursor < bytes.count && bytes[cursor] != UInt8(ascii: " ") { cursor += 1 }
            guard cursor > start else { break }
            let token = UnsafeRawBufferPointer(rebasing: bytes[start..<cursor])
            // Some loaders put the kernel's own path first.
            if start == 0 && token[0] == UInt8(ascii: "/") { continue }
            var split = 0
            while split < token.count && token[split] != UInt8(ascii: "=") { split += 1 }
            let name = ByteString(UnsafeRawBufferPointer(rebasing: token[0..<split]))
            let value = ByteString(UnsafeRawBufferPointer(rebasing: token[min(split + 1, token.count)..<token.count]))
            if name.equals("crash") {
                switch true {
                case value.equals("pagefault"): options.crash = .pageFault
                case value.equals("ud"): options.crash = .invalidOpcode
                case value.equals("gp"): options.crash = .generalProtection
                case value.equals("de"): options.crash = .divideError
                case value.equals("stack"): options.crash = .stackOverflow
                default: report(.badValue(option: "crash", value: value, expected: "pagefault, ud, gp, de or stack"))
                }
            } else if name.equals("virt_selftest") {
                options.virtualizationSelfTest = true
            } else if name.equals("fpu") {
                switch true {
                case value.equals("lazy"): options.eagerFPU = false
                case value.equals("eager"): options.eagerFPU = true
                default: report(.badValue(option: "fpu", value: value, expected: "lazy or eager"))
                }
            } else if name.equals(VerdictToken.option) {
                if let token = VerdictToken.parse(value) {
                    options.verdictToken = token
                } else {
                    report(.badValue(option: "verdict", value: value, expected: "16 lowercase hexadecimal digits"))
                }
            } else if name.equals("timer_hz") {
                if let hz = value.decimalValue, hz >= 10, hz <= 10000 {
                    options.timerHz = UInt32(hz)
                } else {
                    report(.badValue(option: "timer_hz", value: value, expected: "a number from 10 to 10000"))
                }
            } else {
                report(.unknownOption(name))
            }
        }
        return options
    }
}

extension ByteString {
    /// The value of an all-digits string that fits in 32 bits, or nil.
    public var decimalValue: UInt64? {
        guard bytes.count > 0, bytes.count <= 10 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value <= UInt64(UInt32.max) ? value : nil
    }
}

extension KernelOptions.CrashKind {
    public var name: StaticString {
        switch self {
        case .pageFault: return "pagefault"
        case .invalidOpcode: return "ud"
        case .generalProtection: return "gp"
        case .divideError: return "de"
        case .stackOverflow: return "stack"
        }
    }
}
