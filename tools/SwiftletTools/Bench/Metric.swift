/// One named number a benchmark reports, e.g. `boot.kernel.instructions.bochs`.
///
/// Names are dotted paths from general to specific, ending in the emulator when the number depends on
/// it; they are the keys of `swiftlet bench --json`, so once published a name keeps its meaning.
public struct Metric: Sendable, Equatable {
    public let name: String
    public let value: Double
    /// For the table only: "bytes", "instructions", ...
    public let unit: String

    public init(name: String, value: Double, unit: String) {
        self.name = name
        self.value = value
        self.unit = unit
    }

    /// The value as JSON and the table print it: whole numbers without a fraction.
    public var formattedValue: String {
        if value == value.rounded(), abs(value) < 9.0e15 {
            return String(Int64(value))
        }
        return String(value)
    }
}
