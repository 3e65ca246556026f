/// A VM's RAM as its VMM sees it: `bytes` of the VMM's own address space at `base`, mapped into the VM at
/// guest-physical 0. The VMM reads and writes guest memory through its own mapping and never learns a
/// host-physical address. Every access is checked against the RAM's size (guest addresses are the
/// guest's to choose).
public struct GuestMemory {
    public let base: UInt64
    public let bytes: UInt64

    public init(base: UInt64, bytes: UInt64) {
        self.base = base
        self.bytes = bytes
    }

    public func contains(_ physical: UInt64, _ length: UInt64) -> Bool {
        physical < bytes && length <= bytes - physical
    }

    /// Unchecked: callers check with `contains` first.
    public func pointer(_ physical: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(base + physical))!
    }

    /// All of RAM, for the builders that fill it before the guest starts.
    public var buffer: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: pointer(0), count: Int(bytes))
    }

    public func load64(_ physical: UInt64) -> UInt64? {
        guard contains(physical, 8) else { return nil }
        return pointer(physical).loadUnaligned(as: UInt64.self)
    }

    /// Unchecked, for the VMM's own structures at addresses it chose.
    public func store64(_ physical: UInt64, _ value: UInt64) {
        pointer(physical).storeBytes(of: value, as: UInt64.self)
    }

    public func copy(_ image: UnsafePointer<UInt8>, size: UInt64, to physical: UInt64) -> Bool {
        guard contains(physical, size) else { return false }
        pointer(physical).copyMemory(from: image, byteCount: Int(size))
        return true
    }

    /// Copies `bytes` to guest-physical `physical` if all of it lies in RAM (a guest-chosen address).
    public func write(_ bytes: [UInt8], at physical: UInt64) -> Bool {
        guard contains(physical, UInt64(bytes.count)) else { return false }
        bytes.withUnsafeBytes { pointer(physical).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return true
    }

    /// As `write`, for a structure built without the heap (an exit's handler allocates nothing).
    public func write<let count: Int>(_ bytes: InlineArray<count, UInt8>, at physical: UInt64) -> Bool {
        guard contains(physical, UInt64(count)) else { return false }
        for index in bytes.indices { pointer(physical).storeBytes(of: bytes[index], toByteOffset: index, as: UInt8.self) }
        return true
    }

    public func load8(_ physical: UInt64) -> UInt8? {
        guard contains(physical, 1) else { return nil }
        return pointer(physical).load(as: UInt8.self)
    }

    /// The MOV-family instruction at guest-virtual `rip` that made an MMIO access: up to the 15 bytes an
    /// instruction can have, each through the guest's own page tables (`GuestPageWalk.fetchAvailable`), so
    /// one cut short where guest RAM ends is refused. `firstBytes`: the first 8, for a message.
    public func mmioInstruction(at rip: UInt64, cr3: UInt64) -> (instruction: MMIOInstruction?, firstBytes: UInt64) {
        var bytes: (UInt64, UInt64) = (0, 0)
        let instruction = withUnsafeMutableBytes(of: &bytes) { raw -> MMIOInstruction? in
            let buffer = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let fetched = GuestPageWalk.fetchAvailable(15, at: rip, cr3: cr3, into: buffer,
                                                       load: { load64($0) }, loadByte: { load8($0) })
            return MMIOInstruction(decoding: buffer, count: fetched)
        }
        return (instruction, bytes.0)
    }
}
