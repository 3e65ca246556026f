/// The size of the linked kernel ELF: what GRUB loads, and a rough measure of how much kernel there is.
public struct KernelImageSize: Benchmark {
    public init() {}

    public var title: String { "kernel image size" }

    public func measure(in context: BenchmarkContext) throws -> [Metric] {
        [Metric(name: "kernel.image.bytes", value: Double(context.image.kernelBytes), unit: "bytes")]
    }
}
