import SwiftletABI

/// Starts an ELF image as a new task: the user-level loader of an L4 system. It needs a factory (for
/// the task, its thread and its factory), memory (a PagePool whose pages it maps into the task) and
/// free slots in the caller's capability space.
///
/// The new task's capability space follows RootTaskLayout: 1 its task, 2 its thread, 3 its own factory,
/// then whatever the caller adds with `give`.
public struct TaskLauncher {
    public let factory: UInt64
    public let ownTask: UInt64
    public var pool: PagePool
    /// Next free slot in the caller's capability space.
    public var nextSlot: UInt64

    public init(factory: UInt64, ownTask: UInt64, pool: PagePool, firstFreeSlot: UInt64) {
        self.factory = factory
        self.ownTask = ownTask
        self.pool = pool
        self.nextSlot = firstFreeSlot
    }

    public struct Launched {
        public var task: UInt64
        public var thread: UInt64
        /// The caller's slot of the task's own factory (its kernel memory; `identify` tells what is left).
        public var factory: UInt64
    }

    public enum Failure: Error {
        case elf(ELFError), syscall(SyscallError), noMemory, writableAndExecutable

        public var description: StaticString {
            switch self {
            case .elf(let error): return error.description
            case .syscall(let error): return error.name
            case .noMemory: return "the memory pool is spent"
            case .writableAndExecutable: return "a segment is writable and executable"
            }
        }
    }

    public mutating func takeSlot() -> UInt64 {
        nextSlot += 1
        return nextSlot - 1
    }

    /// Loads `image` into a new task and creates (but does not start) its thread, with `startup` as the
    /// startup block at the top of its stack (StartupBlock).
    public mutating func load(_ image: UnsafeRawBufferPointer, priority: UInt8, kernelFrames: UInt64,
                              argument: UInt64, startup: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) -> Result<Launched, Failure> {
        let elf: ELF64Image
        do throws(ELFError) {
            elf = try ELF64Image(validating: image)
        } catch {
            return .failure(.elf(error))
        }
        let task = takeSlot(), thread = takeSlot(), childFactory = takeSlot()
        var error = SystemCall.create(factory, .task, into: task)
        guard error == .ok else { return .failure(.syscall(error)) }

        for segment in elf.segments where segment.type == ELF64Image.loadSegment && segment.memorySize > 0 {
            guard !(segment.isWritable && segment.isExecutable) else { return .failure(.writableAndExecutable) }
            // ELF64Image checked that the segment ends, rounded up to a page, inside user space: no wrap here.
            let first = segment.virtualAddress & ~0xFFF
            let pages = ((segment.virtualAddress + segment.memorySize + 0xFFF) & ~0xFFF - first) / 4096
            guard let memory = pool.allocate(pages: pages) else { return .failure(.noMemory) }
            if segment.fileSize > 0 {
                let destination = UnsafeMutableRawPointer(bitPattern: UInt(memory + (segment.virtualAddress - first)))!
                destination.copyMemory(from: image.baseAddress! + Int(segment.fileOffset), byteCount: Int(segment.fileSize))
            }
            let rights: UInt64 = segment.isWritable ? 1 : segment.isExecutable ? 2 : 0
            error = SystemCall.task(task, .mapPages, (memory, first, pages, rights))
            guard error == .ok else { return .failure(.syscall(error)) }
        }
        guard let stack = pool.allocate(pages: TaskLayout.stackPages), let utcb = pool.allocate(pages: 1),
              let heap = pool.allocate(pages: TaskLayout.heapPages) else {
            return .failure(.noMemory)
        }
        // The pool's pages are mapped here at their own address: the block goes into the stack's last bytes.
        let block = UnsafeMutablePointer<UInt64>(bitPattern: UInt(stack + TaskLayout.stackPages * 4096 - UInt64(StartupBlock.words) * 8))!
        (block[0], block[1], block[2], block[3]) = startup
        error = SystemCall.task(task, .mapPages, (heap, TaskLayout.heap, TaskLayout.heapPages, 1))
        guard error == .ok else { return .failure(.syscall(error)) }
        error = SystemCall.task(task, .mapPages, (stack, TaskLayout.stackTop - TaskLayout.stackPages * 4096, TaskLayout.stackPages, 1))
        guard error == .ok else { return .failure(.syscall(error)) }
        error = SystemCall.task(task, .mapPages, (utcb, TaskLayout.utcb, 1, 1))
        guard error == .ok else { return .failure(.syscall(error)) }

        error = SystemCall.createThread(factory, into: thread, task: task, priority: priority, utcb: TaskLayout.utcb)
        guard error == .ok else { return .failure(.syscall(error)) }
        error = SystemCall.thread(thread, .setEntry, (elf.entry, StartupBlock.address, argument, 0)).error
        guard error == .ok else { return .failure(.syscall(error)) }
        error = SystemCall.create(factory, .factory, into: childFactory, (kernelFrames, 0, 0))
        guard error == .ok else { return .failure(.syscall(error)) }

        let launched = Launched(task: task, thread: thread, factory: childFactory)
        for (mine, theirs) in [(task, RootTaskLayout.taskSlot), (thread, RootTaskLayout.threadSlot),
                               (childFactory, RootTaskLayout.factorySlot)] {
            error = give(mine, to: launched, at: theirs, rights: .all)
            guard error == .ok else { return .failure(.syscall(error)) }
        }
        return .success(launched)
    }

    /// Copies the caller's capability in `slot` into `launched`'s space at `destination`, with `rights`.
    public func give(_ slot: UInt64, to launched: Launched, at destination: UInt64, rights: Rights) -> SyscallError {
        SystemCall.task(launched.task, .copyCapability, (slot, destination, UInt64(rights.rawValue), 0))
    }

    public func start(_ launched: Launched) -> SyscallError {
        SystemCall.thread(launched.thread, .start).error
    }
}
