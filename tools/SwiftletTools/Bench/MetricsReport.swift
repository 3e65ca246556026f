/// The two forms `swiftlet bench` prints its metrics in.
public enum MetricsReport {
    /// One JSON object, `{"name": number, ...}`, in the order the metrics were measured.
    public static func json(_ metrics: [Metric]) -> String {
        let members = metrics.map { "\"\(escaped($0.name))\": \($0.formattedValue)" }
        return "{" + members.joined(separator: ", ") + "}"
    }

    /// A small table for people: name, value, unit.
    public static func table(_ metrics: [Metric]) -> String {
        let nameWidth = max(6, metrics.map(\.name.count).max() ?? 0)
        let valueWidth = max(5, metrics.map(\.formattedValue.count).max() ?? 0)
        var lines = [pad("metric", nameWidth) + "  " + padLeft("value", valueWidth) + "  unit"]
        for metric in metrics {
            lines.append(pad(metric.name, nameWidth) + "  " + padLeft(metric.formattedValue, valueWidth)
                + "  " + metric.unit)
        }
        lines.append("")
        lines.append(yardstick)
        return lines.joined(separator: "\n")
    }

    /// What an instruction count means here (printed under the table; `--json` prints it to stderr).
    public static let yardstick = "Instruction counts are path lengths, not times: a VM exit or entry, like a SYSCALL or an XSAVE, counts as one instruction."


    private static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    private static func padLeft(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }

    private static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += "\\u" + hex4(scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
