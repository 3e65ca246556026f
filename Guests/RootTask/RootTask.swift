import SwiftletABI
import SwiftletUser

/// The root task: starts every other boot module as a task, waits until each reports that it is done
/// (or until the deadline), then powers the machine off.
///
/// Each task gets, besides RootTaskLayout's slots 1-3: slot 4 = an endpoint to report to the root task
/// (send only, badged with the task's number), and in slots 5 and 6 exactly the configured endpoints its
/// plan names, with the rights named there (badged with its number). Its argument (RDI) is the TSC
/// frequency in kHz; its startup block (top of its stack) holds the settings of its node it reads. A task
/// reports with label `Report.done`; a daemon also holds its stop endpoint in `Report.stopSlot`.
enum Root {
    /// Give up waiting for reports after this long, unless the configuration says otherwise
    /// (`report-deadline-s`, or none: the product's interactive VM runs until its user powers it off).
    static let deadline = Timeout.microseconds(UInt64(SystemConfiguration.defaultReportDeadlineSeconds) * 1_000_000)
    /// How long a daemon has to take its stop message, and then to report.
    static let stopDeadline = Timeout.microseconds(2_000_000)
}

/// What the root task starts: the tasks of the configuration module, or, without one, every boot module
/// (the one named `serial` as the console server with COM1).
struct Plan {
    var tasks = InlineArray<16, SystemConfiguration.Task>(repeating: SystemConfiguration.Task(
        node: ByteString(UnsafeRawBufferPointer(start: nil, count: 0)), module: ByteString(UnsafeRawBufferPointer(start: nil, count: 0))))
    var count = 0
    /// How many endpoints the root task creates for the tasks (a grant names one by index).
    var endpointCount = 0
    /// How long the root task waits for the tasks' reports.
    var reportDeadline = Root.deadline

    static func make(_ info: BootInformation) -> Plan? {
        var plan = Plan()
        plan.endpointCount = SystemConfiguration.defaultEndpointCount
        for index in 0..<info.moduleCount where info.module(index).name.equals("config") {
            return fromConfiguration(info.module(index), info)
        }
        for index in 0..<info.moduleCount where plan.count < 16 {
            let name = info.module(index).name
            // The kernel started these two; anything that is not an ELF task is skipped by the launcher.
            if name.equals("roottask") || name.equals("sigma0") { continue }
            plan.tasks[plan.count] = SystemConfiguration.defaultTask(module: name)
            plan.count += 1
        }
        log("roottask: no configuration module; starting every boot module")
        return plan
    }

    static func fromConfiguration(_ module: BootInformation.Module, _ info: BootInformation) -> Plan? {
        var path = LogLine()
        let tree: DeviceTree
        do throws(DeviceTree.Failure) {
            tree = try DeviceTree(validating: module.bytes, path: &path)
        } catch {
            log("roottask: configuration error at \(path.count > 0 ? path : "/"): \(error.description); nothing started")
            return nil
        }
        let configuration: SystemConfiguration
        do throws(SystemConfiguration.Failure) {
            configuration = try SystemConfiguration(tree) { name in
                for index in 0..<info.moduleCount where info.module(index).name.equals(name) { return true }
                return false
            }
        } catch {
            log("roottask: configuration error at \(error.path): \(error.reason); nothing started")
            return nil
        }
        var plan = Plan()
        for index in 0..<configuration.taskCount {
            plan.tasks[index] = configuration.tasks[index]
        }
        plan.count = configuration.taskCount
        plan.endpointCount = configuration.endpointCount
        if let seconds = configuration.reportDeadlineSeconds {
            plan.reportDeadline = .microseconds(UInt64(seconds) * 1_000_000)
            log("roottask: configuration: \(plan.count) tasks, reports awaited for \(UInt64(seconds)) s")
        } else {
            plan.reportDeadline = .infinite
            log("roottask: configuration: \(plan.count) tasks, reports awaited without a deadline")
        }
        return plan
    }
}

extension Plan {
    /// Pool pages the plan's tasks take, about: each task's image (and its bss, rounded up generously),
    /// stack, UTCB and heap, its paging budget, its VM's RAM and description; and 2 MiB to spare.
    func pagesNeeded(_ info: BootInformation) -> UInt64 {
        var pages: UInt64 = 512
        for index in 0..<count {
            let task = tasks[index]
            if let module = VirtualMachineHandoff.module(task.module, info) { pages += UInt64(module.bytes.count) / 4096 + 64 }
            pages += TaskLayout.stackPages + 1 + TaskLayout.heapPages
            if !task.consoleServer { pages += task.memoryPages }
            if let vm = task.virtualMachine { pages += VirtualMachineHandoff.poolPages(vm) }
        }
        return pages
    }

    /// Whether the pool can hold what the plan's VMs need: a VM it cannot is a configuration the root task
    /// refuses before anything starts, naming the VM's node (logged).
    func fits(_ info: BootInformation) -> Bool {
        let needed = pagesNeeded(info)
        for index in 0..<count {
            guard let vm = tasks[index].virtualMachine, needed > info.memoryPool.pages else { continue }
            log("roottask: configuration error at /tasks/\(tasks[index].node)/vm@0: \(vm.memoryMiB) MiB of guest RAM and the tasks' \((needed - VirtualMachineHandoff.poolPages(vm)) >> 8) MiB are more than the memory pool holds (\(info.memoryPool.pages >> 8) MiB); nothing started")
            return false
        }
        return true
    }
}

/// The root task's view of what it has set up for the tasks it starts.
struct Services {
    var reports: UInt64 = 0, console: UInt64 = 0
    /// The configured endpoints (root's slots, all rights), by index.
    var endpoints = InlineArray<8, UInt64>(repeating: 0)
    var consoleReady = false
    var pager = HeapPager()
    /// Each started task's first thread (root's slot), by task number, to stop it after a bad fault.
    var threads = InlineArray<17, UInt64>(repeating: 0)
    /// Each daemon's stop endpoint (root's slot, all rights), by task number.
    var stops = InlineArray<17, UInt64>(repeating: 0)
    /// What was made for each task the root task restarts (`restart-after-report`), by task number.
    var footprints = InlineArray<17, Footprint?>(repeating: nil)
    /// When each task with `kill-every-ms` is killed next (TSC; 0: never), by task number.
    var nextKill = InlineArray<17, UInt64>(repeating: 0)
}

/// Loads `task`, gives it its configured rights and the common capabilities, and starts it.
func start(_ task: SystemConfiguration.Task, number: UInt64, info: BootInformation, launcher: inout TaskLauncher,
           services: inout Services) -> Bool {
    var image: BootInformation.Module?
    for index in 0..<info.moduleCount where info.module(index).name.equals(task.module) { image = info.module(index) }
    guard let module = image else { return false }
    let (firstSlot, firstPage, figures) = (launcher.nextSlot, launcher.pool.next, Figures.now)
    // A VMM with a VM gets the kernel memory the VM's mappings will cost besides its own.
    var kernelFrames = task.kernelMemory
    if let vm = task.virtualMachine {
        kernelFrames += VirtualMachineHandoff.kernelFrames(ramPages: vm.ramPages)
    }
    switch launcher.load(module.bytes, priority: task.priority, kernelFrames: kernelFrames, argument: info.tscKHz,
                         startup: task.startupBlock) {
    case .failure(let failure):
        log("roottask: \(task.node) not started: \(failure.description)")
        return false
    case .success(let launched):
        // Its console lines are tagged with its node's name (a name the kernel refuses leaves `[task]`).
        let named = SystemCall.nameTask(RootTaskLayout.machineSlot, launched.task, task.node)
        if named != .ok { log("roottask: \(task.node) keeps no console name: \(named.name)") }
        // Its paging budget, set aside now so that no other task can take it.
        if !task.consoleServer {
            let left = launcher.pool.pagesLeft
            guard services.pager.reserve(task.memoryPages, for: number, from: &launcher.pool) else {
                log("roottask: \(task.node) not started: its budget of \(task.memoryPages) pages is more than the pool has left (\(left) pages)")
                return false
            }
        }
        if let vm = task.virtualMachine,
           !VirtualMachineHandoff.handOver(vm, node: task.node, to: launched, info: info, pool: &launcher.pool) { return false }
        var granted = true
        for range in 0..<task.portRanges {
            let (first, count) = task.ports[range]
            granted = granted && SystemCall.ports(launched.task, .give, first: UInt64(first), count: UInt64(count)).error == .ok
        }
        let firstInterrupt = launcher.nextSlot
        for index in 0..<task.interruptCount {
            let slot = launcher.takeSlot()
            granted = granted && SystemCall.create(RootTaskLayout.factorySlot, .interrupt, into: slot,
                                                   (RootTaskLayout.interruptControllerSlot, UInt64(task.interrupts[index]), 0)) == .ok
                && launcher.give(slot, to: launched, at: ConsoleProtocol.interruptSlot + UInt64(index), rights: .control) == .ok
        }
        if task.machineView {
            granted = granted && launcher.give(RootTaskLayout.machineSlot, to: launched, at: Report.machineViewSlot, rights: []) == .ok
        }
        if task.consoleServer {
            granted = granted && launcher.give(services.console, to: launched, at: ConsoleProtocol.serviceSlot, rights: .receive) == .ok
        } else {
            let badged = launcher.takeSlot()
            _ = SystemCall.capability(services.reports, .copy, (badged, UInt64(Rights.send.rawValue), number, 0))
            _ = launcher.give(badged, to: launched, at: Report.reportSlot, rights: .send)
            // The root task pages the task's heap in on demand: its faults come here, badged like its reports.
            granted = granted && SystemCall.thread(launched.thread, .setPager, (badged, 0, 0, 0)).error == .ok
            // A supervised task's exceptions come here too, so that it is restarted rather than left stopped.
            if task.restartsOnFailure > 0 {
                granted = granted && SystemCall.thread(launched.thread, .setExceptionHandler, (badged, 0, 0, 0)).error == .ok
            }
            if number < 17 { services.threads[Int(number)] = launched.thread }
            if services.consoleReady {
                let client = launcher.takeSlot()
                _ = SystemCall.capability(services.console, .copy, (client, UInt64(Rights.send.rawValue), number, 0))
                _ = launcher.give(client, to: launched, at: ConsoleProtocol.clientSlot, rights: .send)
                registerName(task.node, badge: number, raw: task.consoleRaw, console: services.console)
            }
        }
        // A daemon sleeps on an endpoint of its own, where only the root task can send (its stop).
        if task.daemon && number < 17 {
            let stop = launcher.takeSlot()
            services.stops[Int(number)] = stop
            granted = granted && SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: stop) == .ok
                && launcher.give(stop, to: launched, at: Report.stopSlot, rights: .receive) == .ok
        }
        // Exactly the endpoints its plan names, with those rights; its number as badge, which it cannot change.
        for index in 0..<task.endpointCount {
            let grant = task.endpoints[index]
            let badged = launcher.takeSlot()
            granted = granted && grant.endpoint < 8
                && SystemCall.capability(services.endpoints[grant.endpoint], .copy, (badged, UInt64(grant.rights.rawValue), number, 0)).error == .ok
                && launcher.give(badged, to: launched, at: grant.slot, rights: grant.rights) == .ok
        }
        let error = launcher.start(launched)
        if (task.restartsAfterReport > 0 || task.restartsOnFailure > 0) && number < 17 {
            services.footprints[Int(number)] = Footprint(launched: launched, slots: firstSlot..<launcher.nextSlot,
                                                         pages: firstPage..<launcher.pool.next,
                                                         interrupts: (firstInterrupt, task.interruptCount),
                                                         restartsLeft: task.restartsAfterReport,
                                                         failureRestartsLeft: task.restartsOnFailure, beforeFirstStart: figures,
                                                         afterFirstStart: Figures.now)
        }
        if task.killMilliseconds > 0 && number < 17 {
            services.nextKill[Int(number)] = timestamp() &+ UInt64(task.killMilliseconds) &* info.tscKHz
        }
        var rights: LogLine = ""
        if task.portRanges > 0 { rights = " with ports \(hex: task.ports[0].first)+\(task.ports[0].count)" }
        if task.interruptCount > 0 { rights.append(" and IRQ "); rights.appendDecimal(UInt64(task.interrupts[0])) }
        log("roottask: started \(task.node) (\(module.bytes.count) bytes, priority \(task.priority))\(rights): \(granted ? error.name : "rights not granted" as StaticString)")
        return error == .ok && granted
    }
}

/// Tells the console which name goes with a client's badge, and whether it may write the raw stream.
func registerName(_ name: ByteString, badge: UInt64, raw: Bool, console: UInt64) {
    var words: (UInt64, UInt64, UInt64, UInt64) = (badge, 0, 0, 0)
    for index in 0..<min(name.bytes.count, 24) {
        ConsoleProtocol.setByte(&words, 8 + index, name.bytes[index])
    }
    let label = ConsoleProtocol.label(ConsoleProtocol.name, count: raw ? ConsoleProtocol.rawAllowed : 0)
    _ = SystemCall.send(console, MessageTag(label: label, words: 4), words, timeout: .microseconds(1_000_000))
}

/// With a sigma0, the memory pool is asked for: 2 MiB at a time, mapped into the pool's place, `pages` of
/// it (what the plan needs, at least 16 MiB: sigma0 zeroes every frame it gives, so taking all the
/// machine has would cost every boot). Device memory is handed out once: a page of the VGA text buffer is
/// asked for twice to show it.
func fillPoolFromSigma0(_ info: BootInformation, pages: UInt64, utcb: UTCB) -> Bool {
    let chunk: UInt64 = 512
    let start = timestamp()
    var address = info.memoryPool.base
    while address < info.memoryPool.base + pages * 4096 {
        utcb.receiveWindow = Flexpage(base: address, order: 21, rights: .all)
        let answer = SystemCall.call(RootTaskLayout.sigma0Slot, MessageTag(label: Sigma0.allocate, words: 1), (chunk, 0, 0, 0))
        guard answer.succeeded, answer.tag.label == Sigma0.allocate, !answer.tag.transferFailed else {
            log("roottask: sigma0 refused memory at \(hex: address): \(answer.error.name), label \(hex: answer.tag.label)")
            return false
        }
        address += chunk * 4096
    }
    log("roottask: taking the pool's \(pages) pages from sigma0 took \(timestamp() &- start) TSC ticks")
    let window: UInt64 = 0x0000_7000_0000_0000
    utcb.receiveWindow = Flexpage(base: window, order: 12, rights: .all)
    let first = SystemCall.call(RootTaskLayout.sigma0Slot, MessageTag(label: Sigma0.device, words: 2), (0xB8000, 1, 0, 0))
    utcb.receiveWindow = Flexpage(base: window + 4096, order: 12, rights: .all)
    let second = SystemCall.call(RootTaskLayout.sigma0Slot, MessageTag(label: Sigma0.device, words: 2), (0xB8000, 1, 0, 0))
    let onceOnly = first.tag.label == Sigma0.device && second.tag.label == Sigma0.refused
        && second.words.0 == SyscallError.slotOccupied.rawValue
    utcb.receiveWindow = Flexpage(raw: 0)
    // sigma0 is also this task's pager: touching a page nobody mapped faults to it and gets a fresh page.
    let untouched = UnsafeMutablePointer<UInt64>(bitPattern: UInt(0x0000_6F00_0000_0000))!
    untouched.pointee = 0x600D
    log("roottask: a page fault at 0x6f0000000000 was answered by sigma0 (read back \(hex: untouched.pointee))")
    log("roottask: \(pages) pages of memory from sigma0; device page 0xb8000 given once: \(onceOnly ? "yes, a second request was refused" as StaticString : "NO")")
    return true
}

@_cdecl("task_main")
func rootMain(bootInformation: UInt64, utcb: UInt64) {
    guard let info = BootInformation(address: bootInformation) else {
        log("roottask: no boot information page; stopping")
        return
    }
    log("roottask: running in user mode; \(info.moduleCount) boot modules, a memory pool of up to \(info.memoryPool.pages) pages, timer \(info.timerHz) Hz")
    guard let plan = Plan.make(info), plan.fits(info) else {
        _ = SystemCall.powerOff(RootTaskLayout.machineSlot, reason: .configurationRejected)
        return
    }
    var poolPages = info.memoryPool.pages
    if SystemCall.capability(RootTaskLayout.sigma0Slot, .identify).words.0 == UInt64(ObjectType.endpoint.rawValue) {
        poolPages = min(poolPages, max(RootTaskLayout.memoryPoolPages, (plan.pagesNeeded(info) + 511) & ~511))
        guard fillPoolFromSigma0(info, pages: poolPages, utcb: UTCB(address: utcb)) else {
            _ = SystemCall.powerOff(RootTaskLayout.machineSlot, reason: .taskNotStarted)
            return
        }
    }
    let pool = PagePool(base: info.memoryPool.base, pages: poolPages)
    var launcher = TaskLauncher(factory: RootTaskLayout.factorySlot, ownTask: RootTaskLayout.taskSlot, pool: pool,
                                firstFreeSlot: RootTaskLayout.firstFreeSlot)
    var services = Services()
    services.reports = launcher.takeSlot()
    services.console = launcher.takeSlot()
    for index in 0..<min(plan.endpointCount, 8) { services.endpoints[index] = launcher.takeSlot() }
    var created = SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: services.reports) == .ok
        && SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: services.console) == .ok
    for index in 0..<min(plan.endpointCount, 8) {
        created = created && SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: services.endpoints[index]) == .ok
    }
    guard created else {
        log("roottask: cannot create endpoints; nothing started")
        _ = SystemCall.powerOff(RootTaskLayout.machineSlot, reason: .taskNotStarted)
        return
    }

    // Console servers first: every other task writes through them.
    var notStarted = 0
    for index in 0..<plan.count where plan.tasks[index].consoleServer {
        let ready = start(plan.tasks[index], number: UInt64(index + 1), info: info, launcher: &launcher, services: &services)
        services.consoleReady = ready || services.consoleReady
        if !ready { notStarted += 1 }
    }
    var started = 0, serviceCount = 0
    var reports = Reports()
    for index in 0..<plan.count where !plan.tasks[index].consoleServer {
        if start(plan.tasks[index], number: UInt64(index + 1), info: info, launcher: &launcher, services: &services) {
            // A service (a driver) serves until power-off: nobody waits for its report.
            if plan.tasks[index].service {
                serviceCount += 1
                continue
            }
            started += 1
            reports.started[index + 1] = true
        } else {
            notStarted += 1
        }
    }

    // The daemons run until every other task has reported (or the deadline passed); then each is told
    // to stop and has a short while to report.
    reports.collect(daemons: false, plan, &services, &launcher, info, timeout: plan.reportDeadline)
    if !reports.allFinished(daemons: true, plan) {
        reports.stopDaemons(plan, services)
        reports.collect(daemons: true, plan, &services, &launcher, info, timeout: Root.stopDeadline)
    }
    // A service restarted along the way: its summary, and figures that moved across its restarts are a leak.
    for index in 0..<plan.count where plan.tasks[index].service && index + 1 < 17 {
        guard let footprint = services.footprints[index + 1], footprint.restarts > 0 else { continue }
        footprint.logSummary(plan.tasks[index].node)
        if !footprint.unchanged { reports.servicesLost += 1 }
    }
    let finished = reports.finishedCount, passed = reports.passed
    // The verdict says what was seen: a task that failed, faulted, never reported or never started counts.
    let failed = finished - passed + reports.servicesLost, silent = started - finished
    var reason: PowerOffReason = notStarted > 0 ? .taskNotStarted : failed + silent > 0 ? .tasksFailed : .allPassed
    if reason == .allPassed {
        log("roottask: all done (\(services.pager.pagedIn) pages paged in on demand); powering off: all \(passed) tasks passed")
    } else {
        log("roottask: \(passed) of \(started + serviceCount + notStarted) tasks passed: \(failed) failed, \(silent) did not report, \(notStarted) not started (\(services.pager.pagedIn) pages paged in on demand); powering off")
    }
    // A guest's debug-exit status is the run's result, once everything passed (QEMU's isa-debug-exit).
    if reason == .allPassed, let status = reports.guestStatus {
        reason = .guestExited
        log("roottask: a guest exited with status \(UInt64(status)) through its debug-exit port; the run returns it")
    }
    _ = SystemCall.powerOff(RootTaskLayout.machineSlot, reason: reason, guestStatus: reports.guestStatus ?? 0)
}
