import SwiftletABI
import SwiftletUser
import UserPlatform

/// Destroy, as the model sees it (Kernel/Machine/Destroy.swift): every capability naming the object goes
/// (in the fuzzer's space and in the child spaces it follows), its cost goes back to the factory that made
/// it, and what hung on it goes too — a task's threads and mappings (nodes and page tables refunded), a
/// factory's objects and child factories (then its whole quota back to its parent), an endpoint's waiting
/// workers (each gets `aborted` and goes on serving the workers endpoint).
///
/// The fuzzer destroys only what it made itself during the fuzzing and the model follows in full; its
/// infrastructure (own task, threads, partner, the endpoints and factories in slots 1-26) stays.
struct DestroyFigures {
    var endpoints: UInt64 = 0
    var threads: UInt64 = 0
    var tasks: UInt64 = 0
    var factories: UInt64 = 0
    /// Objects that went with a destroyed task or factory.
    var withThem: UInt64 = 0
    /// Workers blocked on a destroyed endpoint that got `aborted` (the workers' own count).
    var aborted: UInt64 = 0
    /// Workers destroyed while blocked in their receive (directly or with their factory).
    var blockedWorkers: UInt64 = 0
    /// Mappings of destroyed tasks (derived from the fuzzer's pages) revoked with them.
    var mappings: UInt64 = 0
}

/// Incremented by a worker whose receive answered `aborted` (its endpoint was destroyed). In memory the
/// compiler cannot see into (the last page of the model's), so every reading of it is a real load.
var workerAborts: UInt64 {
    get { UnsafeMutablePointer<UInt64>(bitPattern: UInt(FuzzLayout.workerAborts))!.pointee }
    set { UnsafeMutablePointer<UInt64>(bitPattern: UInt(FuzzLayout.workerAborts))!.pointee = newValue }
}

extension FuzzWorld {
    /// May the fuzzer destroy what `found` names (sanitize turns any other destroy into identify)?
    func destroyable(_ found: SlotModel) -> Bool {
        let object = Int(found.object)
        guard found.object != SlotModel.unknown else { return false }
        switch ObjectType(rawValue: found.type) {
        case .endpoint: return endpoints[object].fuzzMade
        case .thread: return threads[object].fuzzMade
        case .task: return tasks[object].fuzzMade
        case .factory:
            guard factories[object].fuzzMade else { return false }
            // Everything below it must be followed by the model.
            for index in 0..<factoryCount where factories[index].alive && factories[index].lostTrack
                && descends(UInt8(index), from: found.object) { return false }
            return true
        default: return false
        }
    }

    /// No other slot the model follows (own or in a child space) names what `found` names.
    func onlyCapability(_ found: SlotModel) -> Bool {
        var count = 0
        for slot in 1..<256 where slots[slot].type == found.type && slots[slot].object == found.object { count += 1 }
        let entry = UInt16(found.type) << 8 | UInt16(found.object)
        for task in 0..<taskCount where tasks[task].alive && tasks[task].spaceKnown {
            for slot in 1..<256 where spaceEntries[task * 256 + slot] == entry { count += 1 }
        }
        return count == 1
    }

    /// Is factory `factory` `ancestor` or made (through any chain) from it?
    func descends(_ factory: UInt8, from ancestor: UInt8) -> Bool {
        var current = factory
        var steps = 0
        while current != SlotModel.unknown && steps < 48 {
            if current == ancestor { return true }
            current = factories[Int(current)].maker
            steps += 1
        }
        return false
    }

    /// The model's side of a destroy the kernel answered `ok`.
    mutating func destroyed(_ found: SlotModel, abortsBefore: UInt64, _ context: inout FuzzContext) {
        let object = found.object
        var expectedAborts: UInt64 = 0
        switch ObjectType(rawValue: found.type) {
        case .endpoint:
            expectedAborts = destroyEndpoint(object)
            context.destroys.endpoints += 1
        case .thread:
            destroyThread(object, &context.destroys)
            context.destroys.threads += 1
        case .task:
            context.destroys.withThem += destroyTask(object, &context.destroys)
            context.destroys.tasks += 1
        case .factory:
            let (count, aborts) = destroyFactory(object, &context.destroys)
            expectedAborts = aborts
            context.destroys.withThem += count
            context.destroys.factories += 1
        default:
            break
        }
        // Workers woken with `aborted` run (at the fuzzer's priority) until they wait again.
        context.settle(&self)
        context.destroys.aborted &+= workerAborts &- abortsBefore
        if workerAborts &- abortsBefore != expectedAborts {
            context.mismatch(Mismatch(what: "destroy: workers that got aborted", expected: expectedAborts, got: workerAborts &- abortsBefore))
        }
    }

    /// Empties every slot (own and in followed child spaces) naming object `object` of `type`.
    mutating func forget(_ type: ObjectType, _ object: UInt8) {
        for slot in 1..<256 where slots[slot].type == type.rawValue && slots[slot].object == object { slots[slot] = SlotModel() }
        let entry = UInt16(type.rawValue) << 8 | UInt16(object)
        for task in 0..<taskCount where tasks[task].alive && tasks[task].spaceKnown {
            for slot in 1..<256 where spaceEntries[task * 256 + slot] == entry {
                spaceEntries[task * 256 + slot] = 0
                tasks[task].occupied[slot / 64] &= ~(1 << UInt64(slot % 64))
            }
        }
    }

    /// `frames` back to `factory` (a destroyed object's cost, a task's page tables).
    mutating func refund(_ factory: UInt8, _ frames: UInt64) {
        guard factory != SlotModel.unknown, factories[Int(factory)].exact else { return }
        factories[Int(factory)].spent &-= frames
    }

    /// Returns how many workers waiting on it get `aborted`.
    mutating func destroyEndpoint(_ endpoint: UInt8) -> UInt64 {
        forget(.endpoint, endpoint)
        endpoints[Int(endpoint)].alive = false
        refund(endpoints[Int(endpoint)].maker, 1)
        var aborted: UInt64 = 0
        for index in 0..<threadCount where threads[index].alive && threads[index].runs && threads[index].serves == endpoint {
            // A stopped one finds the slot empty when started again and falls back the same way, uncounted.
            if threads[index].state == ThreadStateCode.receiving.rawValue { aborted += 1 }
            threads[index].serves = FuzzWorld.workerEndpoint
        }
        return aborted
    }

    mutating func destroyThread(_ thread: UInt8, _ figures: inout DestroyFigures) {
        let index = Int(thread)
        forget(.thread, thread)
        let model = threads[index]
        if model.runs && model.state == ThreadStateCode.receiving.rawValue { figures.blockedWorkers += 1 }
        refund(model.maker, model.vcpu ? 3 : 1)
        if model.utcbPage >= 0 { pages[Int(model.utcbPage)].pinned = false }
        if model.stack >= 0 { stacksInUse &= ~(1 << UInt8(model.stack)) }
        // Its protected copy is empty now: the settling no longer asks about it.
        FuzzContext.workerSlots[index] = 0
        threads[index] = ThreadModel()
        threads[index].alive = false
    }

    /// Returns how many threads went with it.
    mutating func destroyTask(_ task: UInt8, _ figures: inout DestroyFigures) -> UInt64 {
        let index = Int(task)
        forget(.task, task)
        var threadsGone: UInt64 = 0
        for thread in 0..<threadCount where threads[thread].alive && threads[thread].task == task {
            destroyThread(UInt8(thread), &figures)
            threadsGone += 1
        }
        // Its mappings: each node back to the factory that paid for it (the task's), then the tables.
        let region = Int(tasks[index].region)
        if region >= 0 {
            for page in 0..<FuzzLayout.childPages {
                let pageIndex = PageIndex.ownCount + region * FuzzLayout.childPages + page
                if pages[pageIndex].mapped {
                    unmapPage(pageIndex)
                    figures.mappings += 1
                }
                pages[pageIndex] = PageModel()
            }
            freeRegions |= 1 << UInt8(region)
        }
        refund(tasks[index].factory, UInt64(tasks[index].tables))
        refund(tasks[index].maker, 4)
        tasks[index] = TaskModel()
        tasks[index].alive = false
        return threadsGone
    }

    /// Everything made from `top` and the factories below it, then `top`: its budget and own frame go
    /// back to its parent (every charge to it was refunded by then). Returns the objects that went with
    /// it and the workers that got `aborted`.
    mutating func destroyFactory(_ top: UInt8, _ figures: inout DestroyFigures) -> (objects: UInt64, aborted: UInt64) {
        var objects: UInt64 = 0
        func below(_ maker: UInt8) -> Bool { maker != SlotModel.unknown && descends(maker, from: top) }
        // Tasks first (their threads with them), then threads: a worker destroyed before its endpoint never
        // runs again, whichever order the kernel takes them in, so only workers from elsewhere are aborted.
        for index in 0..<taskCount where tasks[index].alive && below(tasks[index].maker) {
            objects += 1 + destroyTask(UInt8(index), &figures)
        }
        for index in 0..<threadCount where threads[index].alive && below(threads[index].maker) {
            destroyThread(UInt8(index), &figures)
            objects += 1
        }
        var aborted: UInt64 = 0
        for index in 0..<endpointCount where endpoints[index].alive && below(endpoints[index].maker) {
            aborted += destroyEndpoint(UInt8(index))
            objects += 1
        }
        let parent = factories[Int(top)].maker
        let budget = factories[Int(top)].budget
        // Which factories go, found before any is marked gone (`descends` walks their makers).
        var gone: UInt64 = 0
        for index in 0..<factoryCount where factories[index].alive && descends(UInt8(index), from: top) { gone |= 1 << UInt64(index) }
        for index in 0..<factoryCount where gone & (1 << UInt64(index)) != 0 {
            if index != Int(top) { objects += 1 }
            forget(.factory, UInt8(index))
            factories[index] = FactoryModel(alive: false)
        }
        refund(parent, budget &+ 1)
        return (objects, aborted)
    }
}
