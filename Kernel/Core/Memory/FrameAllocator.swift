import SwiftletABI

/// One 4 KiB physical frame with exactly one owner. Not copyable: handing the same frame out twice, or
/// using it after `free`, does not compile. Whoever turns it into a long-lived structure (a page table,
/// a kernel object) calls `adopt()` and becomes responsible for giving the address back.
@frozen
public struct Frame: ~Copyable {
    public let address: PhysicalAddress

    fileprivate init(address: PhysicalAddress) {
        self.address = address
    }

    /// Ends this value's ownership without freeing: the frame now belongs to whatever its address is stored in.
    public consuming func adopt() -> PhysicalAddress {
        let address = self.address
        discard self
        return address
    }

    deinit {
        // A frame must be freed or adopted, never dropped: dropping would leak it silently.
        reportDroppedFrame()
    }
}

private func reportDroppedFrame() {
    fatalError("physical frame dropped without free() or adopt()")
}

/// A bitmap allocator of 4 KiB frames: one bit per frame below `frameLimit`, set when the frame is free.
/// Boot code adds the usable RAM from the memory map, then reserves what is in use (kernel image, boot
/// information, modules, the bitmap itself). The bitmap's storage is given to it, so host tests can use
/// an ordinary array.
public struct FrameAllocator: ~Copyable {
    public static let frameSize: UInt64 = 0x1000

    private let bitmap: UnsafeMutableBufferPointer<UInt64>
    /// Frames [0, frameLimit) are tracked; the rest of physical memory is never handed out.
    public let frameLimit: UInt64
    public private(set) var freeFrames: UInt64 = 0
    /// Word index where the next search starts (next fit keeps allocation O(1) amortized at boot).
    private var searchHint = 0

    public static func bitmapWords(forFrames frames: UInt64) -> Int {
        Int((frames + 63) / 64)
    }

    /// An allocator with no memory, the state before boot code has read the memory map.
    public init() {
        self.bitmap = UnsafeMutableBufferPointer(start: nil, count: 0)
        self.frameLimit = 0
    }

    /// All frames start out reserved.
    public init(bitmap: UnsafeMutableBufferPointer<UInt64>, frameLimit: UInt64) {
        precondition(bitmap.count >= FrameAllocator.bitmapWords(forFrames: frameLimit), "bitmap too small")
        self.bitmap = bitmap
        self.frameLimit = frameLimit
        for index in bitmap.indices { bitmap[index] = 0 }
    }

    /// Marks the whole frames inside `range` free.
    public mutating func addFree(_ range: PhysicalRange) {
        let first = alignUp(range.start, FrameAllocator.frameSize) / FrameAllocator.frameSize
        let end = min(alignDown(range.end, FrameAllocator.frameSize) / FrameAllocator.frameSize, frameLimit)
        setFrames(first, end, free: true)
    }

    /// Marks every frame touching `range` in use.
    public mutating func reserve(_ range: PhysicalRange) {
        let first = alignDown(range.start, FrameAllocator.frameSize) / FrameAllocator.frameSize
        let end = min(alignUp(range.end, FrameAllocator.frameSize) / FrameAllocator.frameSize, frameLimit)
        setFrames(first, end, free: false)
    }

    /// Sets frames [first, end) a word at a time, keeping `freeFrames` exact.
    private mutating func setFrames(_ first: UInt64, _ end: UInt64, free: Bool) {
        var frame = first
        while frame < end {
            let word = Int(frame / 64)
            let low = frame % 64
            let high = min(end - UInt64(word) * 64, 64)
            let mask = (high == 64 ? UInt64.max : (1 << high) - 1) & ~((1 << low) - 1)
            let before = bitmap[word]
            let after = free ? before | mask : before & ~mask
            bitmap[word] = after
            let changed = UInt64((before ^ after).nonzeroBitCount)
            if free { freeFrames += changed } else { freeFrames -= changed }
            frame = UInt64(word + 1) * 64
        }
    }

    public mutating func allocate() -> Frame? {
        guard freeFrames > 0 else { return nil }
        for step in 0..<bitmap.count {
            let word = (searchHint + step) % bitmap.count
            let bits = bitmap[word]
            if bits != 0 {
                let frame = UInt64(word) * 64 + UInt64(bits.trailingZeroBitCount)
                setFree(frame, false)
                freeFrames -= 1
                searchHint = word
                return Frame(address: frame * FrameAllocator.frameSize)
            }
        }
        return nil
    }

    /// Two physically adjacent free frames (a capability space), or nil. Looks for a pair inside one
    /// bitmap word (bit i and i+1 both set), so it finds one whenever any word has two neighbours free.
    public mutating func allocatePair() -> PhysicalAddress? {
        guard freeFrames >= 2 else { return nil }
        for step in 0..<bitmap.count {
            let word = (searchHint + step) % bitmap.count
            let bits = bitmap[word]
            let pairs = bits & (bits >> 1)
            if pairs != 0 {
                let frame = UInt64(word) * 64 + UInt64(pairs.trailingZeroBitCount)
                setFree(frame, false)
                setFree(frame + 1, false)
                freeFrames -= 2
                return frame * FrameAllocator.frameSize
            }
        }
        return nil
    }

    public mutating func free(_ frame: consuming Frame) {
        let address = frame.adopt()
        release(address)
    }

    /// Gives back a frame that an owner adopted earlier (a page table being torn down, say).
    public mutating func release(_ address: PhysicalAddress) {
        let number = address / FrameAllocator.frameSize
        precondition(address % FrameAllocator.frameSize == 0 && number < frameLimit, "not a tracked frame")
        precondition(!isFree(number), "frame freed twice")
        setFree(number, true)
        freeFrames += 1
    }

    public func isFree(address: PhysicalAddress) -> Bool {
        let number = address / FrameAllocator.frameSize
        return number < frameLimit && isFree(number)
    }

    private func isFree(_ frame: UInt64) -> Bool {
        bitmap[Int(frame / 64)] & (1 << (frame % 64)) != 0
    }

    private mutating func setFree(_ frame: UInt64, _ free: Bool) {
        let mask: UInt64 = 1 << (frame % 64)
        if free { bitmap[Int(frame / 64)] |= mask } else { bitmap[Int(frame / 64)] &= ~mask }
    }
}
