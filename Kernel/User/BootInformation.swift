import SwiftletABI

/// The root task's boot-information page (RootTaskLayout): the modules and the memory pool.
public struct BootInformation {
    let words: UnsafePointer<UInt64>

    public init?(address: UInt64) {
        guard let words = UnsafePointer<UInt64>(bitPattern: UInt(address)), words[RootTaskLayout.Word.magic] == RootTaskLayout.magic else {
            return nil
        }
        self.words = words
    }

    public var moduleCount: Int { Int(words[RootTaskLayout.Word.moduleCount]) }
    public var memoryPool: (base: UInt64, pages: UInt64) {
        (words[RootTaskLayout.Word.memoryPoolBase], words[RootTaskLayout.Word.memoryPoolPages])
    }
    public var timerHz: UInt64 { words[RootTaskLayout.Word.timerHz] }
    public var factoryFrames: UInt64 { words[RootTaskLayout.Word.factoryFrames] }
    public var tscKHz: UInt64 { words[RootTaskLayout.Word.tscKHz] }
    /// Nanoseconds since 1970 at TSC 0 (WallClock), 0 when the kernel read no clock.
    public var wallClock: UInt64 { words[RootTaskLayout.Word.wallClock] }

    public struct Module {
        public var bytes: UnsafeRawBufferPointer
        public var name: ByteString
    }

    public func module(_ index: Int) -> Module {
        let record = RootTaskLayout.Word.modules + index * RootTaskLayout.moduleRecordWords
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(words[record])), count: Int(words[record + 1]))
        let nameStart = UnsafeRawPointer(words + record + 2)
        var length = 0
        while length < RootTaskLayout.moduleNameBytes - 1 && nameStart.load(fromByteOffset: length, as: UInt8.self) != 0 { length += 1 }
        return Module(bytes: bytes, name: ByteString(UnsafeRawBufferPointer(start: nameStart, count: length)))
    }
}

/// Pages of the root task's memory pool, handed out once each (a bump allocator: tasks are not torn down yet).
public struct PagePool {
    public private(set) var next: UInt64
    public let end: UInt64

    public init(base: UInt64, pages: UInt64) {
        next = base
        end = base + pages * 4096
    }

    /// The next `pages` pages as a pool of their own (zeroed when they are allocated from it), or nil when
    /// this pool has not that many left: memory set aside for one user.
    public mutating func split(pages: UInt64) -> PagePool? {
        guard pages <= pagesLeft else { return nil }
        let part = PagePool(base: next, pages: pages)
        next += pages * 4096
        return part
    }

    /// What is left, in pages.
    public var pagesLeft: UInt64 { (end - next) / 4096 }

    /// `pages` zeroed pages, or nil when the pool is spent.
    public mutating func allocate(pages: UInt64) -> UInt64? {
        guard pages <= pagesLeft else { return nil }
        let address = next
        next += pages * 4096
        UnsafeMutableRawPointer(bitPattern: UInt(address))!.initializeMemory(as: UInt8.self, repeating: 0, count: Int(pages * 4096))
        return address
    }
}
