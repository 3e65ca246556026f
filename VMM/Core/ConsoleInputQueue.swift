/// Console input on its way from the VMM's input thread (which receives it from the serial driver) to the
/// guest's UART: a bounded single-producer, single-consumer ring. The producer only writes `written`, the
/// consumer only `taken`, so the two threads never write the same field; bytes that find the ring full are
/// dropped and counted (the serial driver is never held up by a slow guest). Bytes pass unchanged.
public struct ConsoleInputQueue {
    public static let capacity = 256
    private var bytes = InlineArray<256, UInt8>(repeating: 0)
    /// Bytes ever put in (producer) and taken out (consumer); their difference is what waits.
    public private(set) var written: UInt64 = 0
    public private(set) var taken: UInt64 = 0
    /// Bytes dropped because the ring was full (producer).
    public private(set) var overflowed: UInt64 = 0

    public init() {}

    public var count: Int { Int(truncatingIfNeeded: written &- taken) }
    public var isEmpty: Bool { written == taken }

    /// Producer: appends `byte`, or counts it as lost when the ring is full.
    public mutating func put(_ byte: UInt8) {
        guard count < Self.capacity else { overflowed &+= 1; return }
        bytes[Int(written % UInt64(Self.capacity))] = byte
        written &+= 1
    }

    /// Consumer: moves waiting bytes into the UART's receive FIFO until it is full (the rest wait here).
    public mutating func feed(_ uart: inout UART16550) {
        while taken != written, uart.receive(bytes[Int(taken % UInt64(Self.capacity))]) { taken &+= 1 }
    }
}
