import SwiftletABI
import SwiftletUser
import UserPlatform

/// The fuzzer's model of what it holds: every capability slot (type, rights, badge, which object), the
/// objects it knows (tasks, threads, endpoints, factories with their quota), and every page it may map,
/// unmap or pass on (mapped or not, rights, which mapping it derives from, pinned as a UTCB). The oracle
/// (`FuzzOracle.swift`) says from this model what each call must answer, and updates it from the answer.
struct SlotModel {
    var type: UInt8 = 0
    var rights: UInt8 = 0
    var badge: UInt64 = 0
    /// Index into the table of the slot's type; `unknown` if the model does not know the object.
    var object: UInt8 = 0
    static let unknown: UInt8 = 255
}

struct TaskModel {
    var alive = true
    /// Made by a create during the fuzzing: the fuzzer may destroy it (`FuzzDestroy.swift`).
    var fuzzMade = false
    /// The factory that made it (index), or `SlotModel.unknown`.
    var maker: UInt8 = SlotModel.unknown
    var own = false
    var vm = false
    /// The child region this task's pages are modeled in (0-3), or -1.
    var region: Int8 = -1
    /// The factory its mappings are charged to (index), or `SlotModel.unknown`.
    var factory: UInt8 = SlotModel.unknown
    /// Its capability space: occupied slots (for copyCapability into it); `spaceKnown` false: not modeled.
    var occupied = InlineArray<4, UInt64>(repeating: 0)
    var spaceKnown = false
    /// Levels of page table (0-3: PDPT, PD, PT) the child region has; each is charged once, when the
    /// first mapping needs it, and never refunded. A quota that runs out between levels keeps those made.
    var tables: UInt8 = 0

    func isOccupied(_ slot: UInt64) -> Bool { occupied[Int(slot / 64)] & (1 << (slot % 64)) != 0 }
    mutating func occupy(_ slot: UInt64) { occupied[Int(slot / 64)] |= 1 << (slot % 64) }
}

struct ThreadModel {
    var alive = true
    var fuzzMade = false
    var maker: UInt8 = SlotModel.unknown
    /// The endpoint (index) a started worker serves; after that endpoint is destroyed, the workers one.
    var serves: UInt8 = FuzzWorld.workerEndpoint
    var state: UInt64 = ThreadStateCode.inactive.rawValue
    var priority: UInt8 = 0
    var task: UInt8 = 0
    /// A non-zero entry point was set.
    var hasEntry = false
    /// The entry is the worker body (it serves the workers endpoint when started).
    var runs = false
    var vcpu = false
    /// The model page of its UTCB, or -1.
    var utcbPage: Int16 = -1
    /// The stack it was given (index), or -1.
    var stack: Int8 = -1
    /// It was started at least once (a worker that never ran still needs its UTCB for its first entry).
    var ran = false
}

struct EndpointModel {
    var alive = true
    var fuzzMade = false
    var maker: UInt8 = SlotModel.unknown
}

/// A factory's quota, exactly: frames spent on objects and page tables, and the mapping nodes alive that
/// it paid for. Nodes come `nodesPerFrame` to a frame and are refunded when freed, a frame going back once
/// a whole frame's worth is unused (Kernel/Core/Objects/Factory.swift), so they hold ceil(nodes / 51).
struct FactoryModel {
    var alive = true
    var fuzzMade = false
    var maker: UInt8 = SlotModel.unknown
    /// It made an object the model does not follow: destroying it (or a factory above it) would take
    /// objects the model cannot name, so the fuzzer does not.
    var lostTrack = false
    var exact = false
    var budget: UInt64 = 0
    var spent: UInt64 = 0
    var nodes: UInt64 = 0

    /// 4096 / MemoryLayout<Mapping>.stride (80 bytes); `identify` (frames left) checks the arithmetic.
    static let nodesPerFrame: UInt64 = 51
    var used: UInt64 { spent &+ (nodes + FactoryModel.nodesPerFrame - 1) / FactoryModel.nodesPerFrame }
    var framesLeft: UInt64 { budget &- used }
    /// A further node needs a new frame (no credit left from the last one).
    var nodeNeedsFrame: Bool { nodes % FactoryModel.nodesPerFrame == 0 }
}

struct PageModel {
    var mapped = false
    var rights: UInt8 = 0
    /// The model page this one derives from; -1: from outside the model (the root task's pool).
    var parent: Int16 = -1
    var pinned = false
    /// The model lost track of where this mapping came from (after a transfer it could not predict): it
    /// takes the kernel's word for it until the page is unmapped or mapped afresh.
    var floating = false
}

struct FuzzWorld {
    // The tables live in heap pages (`FuzzLayout.modelTables`), not in the struct: Embedded Swift copies an
    // inline array to the stack to read one element, and the fuzzer's stack would not hold those copies.
    let slots: UnsafeMutablePointer<SlotModel>
    let tasks: UnsafeMutablePointer<TaskModel>
    var taskCount = 0
    let threads: UnsafeMutablePointer<ThreadModel>
    var threadCount = 0
    let endpoints: UnsafeMutablePointer<EndpointModel>
    var endpointCount = 0
    let factories: UnsafeMutablePointer<FactoryModel>
    var factoryCount = 0
    let pages: UnsafeMutablePointer<PageModel>
    /// Child regions handed out (0-4); a destroyed task's region is free again (`freeRegions`, a bit each).
    var regionsUsed = 0
    var freeRegions: UInt8 = 0
    var childTask: UInt8 = 0
    /// Worker stacks in use (a bit each of `FuzzLayout.maximumRunningThreads`); a destroyed worker's is free.
    var stacksInUse: UInt8 = 0
    /// The occupied slots of every modeled child task's capability space: what each holds, as
    /// type << 8 | object (a destroy empties the copies of its object there too).
    let spaceEntries: UnsafeMutablePointer<UInt16>
    /// The CPU has VMX or SVM (a VM can be created).
    var virtualization = false
    let fuzzerPriority = Fuzz.priority

    init() {
        var next = UnsafeMutableRawPointer(bitPattern: UInt(FuzzLayout.modelTables))!
        func table<T>(_ type: T.Type, _ count: Int, _ value: T) -> UnsafeMutablePointer<T> {
            next = next.alignedUp(toMultipleOf: 16)
            let pointer = next.bindMemory(to: T.self, capacity: count)
            pointer.initialize(repeating: value, count: count)
            next += MemoryLayout<T>.stride * count
            return pointer
        }
        slots = table(SlotModel.self, 256, SlotModel())
        tasks = table(TaskModel.self, FuzzWorld.taskCapacity, TaskModel())
        threads = table(ThreadModel.self, 48, ThreadModel())
        endpoints = table(EndpointModel.self, 48, EndpointModel())
        factories = table(FactoryModel.self, 48, FactoryModel())
        pages = table(PageModel.self, PageIndex.count, PageModel())
        spaceEntries = table(UInt16.self, FuzzWorld.taskCapacity * 256, 0)
    }

    /// Tasks and VMs the model follows (16 filled up within 7,000 calls of seed 0x077585ba9ab0471d); a task
    /// made after that is one the model does not follow (`SlotModel.unknown`), which may be a VM.
    static let taskCapacity = 64

    /// Object indexes of what the world starts with.
    static let ownTask: UInt8 = 0
    static let fuzzEndpoint: UInt8 = 0, testEndpoint: UInt8 = 1, partnerEndpoint: UInt8 = 2, workerEndpoint: UInt8 = 3
    static let fuzzFactory: UInt8 = 0, emptyFactory: UInt8 = 1, taskFactory: UInt8 = 2, smallFactory: UInt8 = 3
    static let template: UInt8 = 0, mainThread: UInt8 = 1

    // MARK: Building the model

    // A destroyed object's entry is taken again: nothing names it any more (its slots are empty, and
    // whatever was made from it or ran in it was destroyed with it).
    mutating func addTask(_ task: TaskModel) -> UInt8 {
        for index in 0..<taskCount where !tasks[index].alive {
            tasks[index] = task
            for slot in 0..<256 { spaceEntries[index * 256 + slot] = 0 }
            return UInt8(index)
        }
        guard taskCount < FuzzWorld.taskCapacity else { return SlotModel.unknown }
        tasks[taskCount] = task
        taskCount += 1
        return UInt8(taskCount - 1)
    }

    mutating func addThread(_ thread: ThreadModel) -> UInt8 {
        for index in 0..<threadCount where !threads[index].alive {
            threads[index] = thread
            return UInt8(index)
        }
        guard threadCount < 48 else { return SlotModel.unknown }
        threads[threadCount] = thread
        threadCount += 1
        return UInt8(threadCount - 1)
    }

    mutating func addEndpoint(_ endpoint: EndpointModel = EndpointModel()) -> UInt8 {
        for index in 0..<endpointCount where !endpoints[index].alive {
            endpoints[index] = endpoint
            return UInt8(index)
        }
        guard endpointCount < 48 else { return SlotModel.unknown }
        endpoints[endpointCount] = endpoint
        endpointCount += 1
        return UInt8(endpointCount - 1)
    }

    mutating func addFactory(_ factory: FactoryModel) -> UInt8 {
        for index in 0..<factoryCount where !factories[index].alive {
            factories[index] = factory
            return UInt8(index)
        }
        guard factoryCount < 48 else { return SlotModel.unknown }
        factories[factoryCount] = factory
        factoryCount += 1
        return UInt8(factoryCount - 1)
    }

    mutating func set(_ slot: UInt64, _ type: ObjectType, _ rights: Rights, badge: UInt64 = 0, object: UInt8) {
        slots[Int(slot)] = SlotModel(type: type.rawValue, rights: rights.rawValue, badge: badge, object: object)
    }

    /// The world at the start of the fuzzing: the systematic tests' objects in slots 10-22 (see `Slot`),
    /// the refreshed targets, the pages of the layout.
    mutating func start(virtualization: Bool) {
        self.virtualization = virtualization
        var own = TaskModel()
        own.own = true
        _ = addTask(own)                                        // 0: this task (slot 1 after a refresh)
        var other = TaskModel()
        _ = addTask(other)                                      // 1: the systematic tests' child task
        other.factory = SlotModel.unknown
        _ = addTask(other)                                      // 2: their small task
        for _ in 0..<4 { _ = addEndpoint() }
        _ = addFactory(FactoryModel(exact: true, budget: Fuzz.factoryFrames))     // the fuzzer's
        _ = addFactory(FactoryModel(exact: true, budget: 0))                      // the 0-frame factory
        _ = addFactory(FactoryModel())                                            // the task's (no rights here)
        _ = addFactory(FactoryModel())                                            // the 9-frame one, partly used
        var template = ThreadModel()
        template.priority = 50
        _ = addThread(template)                                  // the inactive thread
        var main = ThreadModel()
        main.state = ThreadStateCode.receiving.rawValue
        main.priority = 100
        main.hasEntry = true
        main.ran = true
        main.utcbPage = Int16(PageIndex.mainUTCB)
        _ = addThread(main)
        let send = Rights.send, receive = Rights.receive
        let made = FuzzWorld.made
        set(Slot.endpoint, .endpoint, [.send, .receive, .grant, .destroy], object: FuzzWorld.testEndpoint)
        set(Slot.sendOnly, .endpoint, send, object: FuzzWorld.testEndpoint)
        set(Slot.receiveOnly, .endpoint, receive, object: FuzzWorld.testEndpoint)
        set(Slot.factoryNoRights, .factory, [], object: FuzzWorld.taskFactory)
        set(Slot.threadNoRights, .thread, [], object: FuzzWorld.mainThread)
        set(Slot.taskNoRights, .task, [], object: FuzzWorld.ownTask)
        set(Slot.emptyFactory, .factory, made, object: FuzzWorld.emptyFactory)
        set(Slot.childTask, .task, made, object: 1)
        set(Slot.inactiveThread, .thread, made, object: FuzzWorld.template)
        set(Slot.smallFactory, .factory, made, object: FuzzWorld.smallFactory)
        set(Slot.smallTask, .task, made, object: 2)
        // The mapping child (see FuzzLayout.child): region 0, its own exact factory.
        var factory = FactoryModel(exact: true, budget: FuzzLayout.childFrames)
        factory.spent = 4                                          // the task (Factory.cost(of: .task))
        var child = TaskModel()
        child.region = 0
        child.factory = addFactory(factory)
        child.spaceKnown = true
        regionsUsed = 1
        childTask = addTask(child)
        set(Slot.childCopies, .task, made, object: childTask)
        refresh()
        for index in 0..<PageIndex.count { pages[index] = PageModel() }
        for index in 0..<FuzzLayout.playgroundMapped { pages[PageIndex.playground + index] = PageModel(mapped: true, rights: 3) }
        for index in 0..<FuzzLayout.reservePages { pages[PageIndex.reserve + index] = PageModel(mapped: true, rights: 3) }
        pages[PageIndex.mainUTCB] = PageModel(mapped: true, rights: 3, pinned: true)
    }

    /// The rights of what a create made (and of full copies of it): control and destroy.
    static let made: Rights = [.control, .destroy]

    /// What `refreshTargets` puts in slots 1-9 and 23-26.
    mutating func refresh() {
        let all = Rights.all
        let made = FuzzWorld.made
        set(1, .task, made, object: FuzzWorld.ownTask)
        set(2, .endpoint, [.send, .receive, .grant, .destroy], object: FuzzWorld.fuzzEndpoint)
        set(3, .factory, made, object: FuzzWorld.fuzzFactory)
        set(4, .endpoint, .send, badge: 0xF022, object: FuzzWorld.fuzzEndpoint)
        set(5, .endpoint, .receive, object: FuzzWorld.fuzzEndpoint)
        set(6, .thread, made, object: FuzzWorld.template)
        set(7, .endpoint, [.send, .receive], object: FuzzWorld.fuzzEndpoint)
        set(8, .factory, [], object: FuzzWorld.fuzzFactory)
        set(9, .task, [], object: FuzzWorld.ownTask)
        set(FuzzLayout.partnerAll, .endpoint, [.send, .receive, .grant, .destroy], object: FuzzWorld.partnerEndpoint)
        set(FuzzLayout.partnerSendBadged, .endpoint, [.send, .grant], badge: FuzzLayout.partnerBadge, object: FuzzWorld.partnerEndpoint)
        set(FuzzLayout.partnerNoGrant, .endpoint, .send, object: FuzzWorld.partnerEndpoint)
        set(FuzzLayout.workers, .endpoint, .send, object: FuzzWorld.workerEndpoint)
        set(FuzzLayout.child, .task, made, object: childTask)
    }

    // MARK: Lookups, as the kernel does them: range, presence, type, rights

    func slot(_ selector: UInt64) -> Result<SlotModel, SyscallError> {
        guard selector < 256 else { return .failure(.selectorOutOfRange) }
        let found = slots[Int(selector)]
        guard found.type != 0, selector != 0 else { return .failure(.emptySlot) }
        return .success(found)
    }

    func lookup(_ selector: UInt64, _ type: ObjectType, _ rights: Rights = []) -> Result<SlotModel, SyscallError> {
        switch slot(selector) {
        case .failure(let error): return .failure(error)
        case .success(let found):
            guard found.type == type.rawValue else { return .failure(.wrongObjectType) }
            guard Rights(rawValue: found.rights).isSuperset(of: rights) else { return .failure(.missingRight) }
            return .success(found)
        }
    }

    func canInsert(_ selector: UInt64) -> SyscallError {
        guard selector < 256, selector != 0 else { return .selectorOutOfRange }
        return slots[Int(selector)].type == 0 ? .ok : .slotOccupied
    }

    // MARK: Pages

    /// The model page of `address` in `task`, or nil.
    func page(_ task: UInt8, _ address: UInt64) -> Int? {
        guard task != SlotModel.unknown else { return nil }
        if tasks[Int(task)].own { return PageIndex.own(address) }
        let region = Int(tasks[Int(task)].region)
        return region >= 0 ? PageIndex.child(region, address) : nil
    }

    /// Floating itself or derived from a floating page.
    func isFloating(_ page: Int) -> Bool {
        var current = page
        var steps = 0
        while current >= 0 && steps < PageIndex.count {
            if pages[current].floating { return true }
            current = Int(pages[current].parent)
            steps += 1
        }
        return false
    }

    /// Does `page` (an own page) show a frame of the playground or the reserve: its lineage is known all the
    /// way (nothing floats) and starts at one of their pages, not the image or a page outside the model?
    func derivesFromPassablePage(_ page: Int) -> Bool {
        var current = page
        var steps = 0
        while steps < PageIndex.count {
            guard current >= 0, current < PageIndex.ownCount, pages[current].mapped, !pages[current].floating else { return false }
            if pages[current].parent < 0 { return current < PageIndex.text }
            current = Int(pages[current].parent)
            steps += 1
        }
        return false
    }

    var anyFloating: Bool {
        for index in 0..<PageIndex.count where pages[index].floating { return true }
        return false
    }

    /// Page `index` differs from the model: the kernel's `rights` hold from now on, and the page floats
    /// (its lineage is unknown). What derives from it in the model may really derive from a mapping
    /// outside the model now (a grant moved the page away, its children with it): those float too, and
    /// its children no longer name it as their parent. Otherwise a later mapping at `index` would adopt
    /// them, and revoking that mapping would unmap them in the model while the kernel keeps them (they
    /// derive from the moved page, not from the new one: seed 0x1da1ea4c08be1184).
    mutating func takeKernelWord(_ index: Int, rights: UInt64) {
        // A child page (charged to its task's factory) gone: its node was refunded; one that appeared was
        // charged where the model did not see it.
        if let factory = factoryCharged(for: index), factories[Int(factory)].exact {
            if pages[index].mapped && rights == 0 && factories[Int(factory)].nodes > 0 { factories[Int(factory)].nodes -= 1 }
            if !pages[index].mapped && rights != 0 { factories[Int(factory)].exact = false }
        }
        for other in 0..<PageIndex.count where other != index && pages[other].mapped && derives(other, from: index) {
            pages[other].floating = true
        }
        for other in 0..<PageIndex.count where pages[other].parent == Int16(index) { pages[other].parent = -1 }
        // A UTCB the kernel no longer maps writable was detached by a revocation the model did not see:
        // its thread stopped then (seed 0x604d97134bd29efa: a UTCB on a page lent by an IPC transfer).
        if rights & 2 == 0 { releasePin(index) }
        pages[index].mapped = rights != 0
        pages[index].rights = UInt8(truncatingIfNeeded: rights)
        pages[index].floating = rights != 0
        pages[index].parent = -1
    }

    /// "lineage 109 <- 65 (unmapped) <- outside": the page and the model pages it derives from (diagnostics).
    func lineage(_ page: Int) -> LogLine {
        var line: LogLine = "lineage"
        var current = page
        var steps = 0
        while current >= 0 && steps < 12 {
            line.append(steps == 0 ? " " : " <- ")
            line.appendDecimal(UInt64(current))
            if pages[current].floating { line.append(" (floating)") }
            if !pages[current].mapped { line.append(" (unmapped)") }
            current = Int(pages[current].parent)
            steps += 1
        }
        line.append(current < 0 ? " <- outside" : " ...")
        return line
    }

    /// Is `page` a descendant of `ancestor` (or the same)?
    func derives(_ page: Int, from ancestor: Int) -> Bool {
        var current = page
        var steps = 0
        while current >= 0 && steps < PageIndex.count {
            if current == ancestor { return true }
            current = Int(pages[current].parent)
            steps += 1
        }
        return false
    }

    /// Removes every mapping derived from `top` (and `top` with `includingSelf`). Revocation wins over a
    /// pin: a UTCB among them is detached from its thread, which stops (UserMemory.releasePin).
    mutating func revoke(_ top: Int, includingSelf: Bool, charge: Bool = true) {
        for index in 0..<PageIndex.count where pages[index].mapped && index != top && derives(index, from: top) {
            unmapPage(index)
        }
        if includingSelf && pages[top].mapped { unmapPage(top) }
    }

    /// The thread whose UTCB page `index` is loses it and stops (an inactive one too: it can never run
    /// with that UTCB); the page is no longer pinned.
    mutating func releasePin(_ index: Int) {
        guard pages[index].pinned else { return }
        pages[index].pinned = false
        for thread in 0..<threadCount where threads[thread].utcbPage == Int16(index) {
            threads[thread].utcbPage = -1
            threads[thread].state = ThreadStateCode.stopped.rawValue
        }
    }

    /// The thread (model index) whose UTCB page `index` is, or nil.
    func pinHolder(_ index: Int) -> Int? {
        for thread in 0..<threadCount where threads[thread].utcbPage == Int16(index) { return thread }
        return nil
    }

    /// The started workers waiting on `endpoint` (a stopped one no longer answers).
    func waitingWorkers(on endpoint: UInt8) -> Int {
        var count = 0
        for index in 0..<threadCount where threads[index].runs && threads[index].serves == endpoint
            && threads[index].state == ThreadStateCode.receiving.rawValue { count += 1 }
        return count
    }

    mutating func unmapPage(_ index: Int) {
        releasePin(index)
        pages[index].mapped = false
        pages[index].rights = 0
        pages[index].floating = false
        if let factory = factoryCharged(for: index), factories[Int(factory)].nodes > 0 { factories[Int(factory)].nodes -= 1 }
    }

    /// Takes `rights` away from every mapping derived from `top` (not from `top`); a UTCB that loses write
    /// is detached and its thread stops.
    mutating func restrict(_ top: Int, removing rights: UInt8) {
        for index in 0..<PageIndex.count where pages[index].mapped && index != top && derives(index, from: top) {
            pages[index].rights &= ~rights
            if pages[index].rights & 2 == 0 { releasePin(index) }
            if pages[index].rights & 1 == 0 { pages[index].rights = 0 }
            if pages[index].rights == 0 { unmapPage(index) }
        }
    }

    /// The factory a mapping at `index` was charged to (child-region pages only; the own task's is the
    /// root task's factory, which the model does not count).
    func factoryCharged(for index: Int) -> UInt8? {
        guard index >= PageIndex.ownCount else { return nil }
        let region = (index - PageIndex.ownCount) / FuzzLayout.childPages
        for task in 0..<taskCount where tasks[task].region == Int8(region) {
            let factory = tasks[task].factory
            return factory == SlotModel.unknown ? nil : factory
        }
        return nil
    }
}
