import SwiftletABI
import SwiftletUser

/// The root task: starts every other boot module as a task, waits until each reports that it is done
/// (or until the deadline), then powers the machine off.
///
/// Each task gets, besides RootTaskLayout's slots 1-3: slot 4 = an endpoint to report to the root task
/// (send only, badged with the task's number), slots 5 and 6 = endpoints shared by all tasks (all
/// rights). Its argument (RDI) is the TSC frequency in kHz. A task reports with label `Report.done`.
enum Root {
    static let taskPriority: UInt8 = 100
    static let taskKernelFrames: UInt64 = 256
    /// Give up waiting for reports after this long.
    static let deadline = Timeout.microseconds(300_000_000)
}

/// Starts the serial driver with COM1's ports, its interrupt and the console endpoint to serve.
func startSerialDriver(_ module: BootInformation.Module, index: Int, launcher: inout TaskLauncher, console: UInt64,
                       tscKHz: UInt64) -> Bool {
    let interrupt = launcher.takeSlot()
    guard SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: console) == .ok,
          SystemCall.create(RootTaskLayout.factorySlot, .interrupt, into: interrupt,
                            (RootTaskLayout.interruptControllerSlot, 4, 0)) == .ok else {
        log("roottask: no console: cannot create its endpoint or COM1's interrupt")
        return false
    }
    switch launcher.load(module.bytes, priority: Root.taskPriority, kernelFrames: Root.taskKernelFrames, argument: tscKHz) {
    case .failure(let failure):
        log("roottask: serial driver not started: \(failure.description)")
        return false
    case .success(let driver):
        let ports = SystemCall.ports(driver.task, .give, first: 0x3F8, count: 8).error
        let granted = launcher.give(console, to: driver, at: ConsoleProtocol.serviceSlot, rights: .receive) == .ok
            && launcher.give(interrupt, to: driver, at: ConsoleProtocol.interruptSlot, rights: .control) == .ok
        let error = launcher.start(driver)
        log("roottask: started serial (\(module.bytes.count) bytes) with ports 0x3f8-0x3ff (\(ports.name)) and IRQ 4: \(error.name)")
        return error == .ok && ports == .ok && granted
    }
}

/// Tells the console which name goes with a client's badge.
func registerName(_ name: ByteString, badge: UInt64, console: UInt64) {
    var words: (UInt64, UInt64, UInt64, UInt64) = (badge, 0, 0, 0)
    for index in 0..<min(name.bytes.count, 24) {
        ConsoleProtocol.setByte(&words, 8 + index, name.bytes[index])
    }
    _ = SystemCall.send(console, MessageTag(label: ConsoleProtocol.name, words: 4), words, timeout: .microseconds(1_000_000))
}

@_cdecl("task_main")
func rootMain(bootInformation: UInt64, utcb: UInt64) {
    guard let info = BootInformation(address: bootInformation) else {
        log("roottask: no boot information page; stopping")
        return
    }
    log("roottask: running in user mode; \(info.moduleCount) boot modules, \(info.memoryPool.pages) pages of memory, timer \(info.timerHz) Hz")
    let pool = PagePool(base: info.memoryPool.base, pages: info.memoryPool.pages)
    var launcher = TaskLauncher(factory: RootTaskLayout.factorySlot, ownTask: RootTaskLayout.taskSlot, pool: pool,
                                firstFreeSlot: RootTaskLayout.firstFreeSlot)
    let reports = launcher.takeSlot(), shared = launcher.takeSlot(), secondShared = launcher.takeSlot()
    guard SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: reports) == .ok,
          SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: shared) == .ok,
          SystemCall.create(RootTaskLayout.factorySlot, .endpoint, into: secondShared) == .ok else {
        log("roottask: cannot create endpoints; stopping")
        return
    }

    // The serial driver, if there is one, starts first: it owns COM1 and serves every other task's console.
    let console = launcher.takeSlot()
    var consoleReady = false
    for index in 0..<info.moduleCount where info.module(index).name.equals("serial") {
        consoleReady = startSerialDriver(info.module(index), index: index, launcher: &launcher, console: console,
                                         tscKHz: info.tscKHz)
    }

    var started = 0
    for index in 0..<info.moduleCount {
        let module = info.module(index)
        if module.name.equals("roottask") || module.name.equals("serial") { continue }
        let badged = launcher.takeSlot()
        guard SystemCall.capability(reports, .copy, (badged, UInt64(Rights.send.rawValue), UInt64(index + 1), 0)).succeeded else {
            continue
        }
        switch launcher.load(module.bytes, priority: Root.taskPriority, kernelFrames: Root.taskKernelFrames, argument: info.tscKHz) {
        case .failure(let failure):
            log("roottask: module \(module.name) not started: \(failure.description)")
        case .success(let launched):
            _ = launcher.give(badged, to: launched, at: Report.reportSlot, rights: .send)
            _ = launcher.give(shared, to: launched, at: Report.sharedSlot, rights: .all)
            _ = launcher.give(secondShared, to: launched, at: Report.secondSharedSlot, rights: .all)
            if consoleReady {
                let client = launcher.takeSlot()
                _ = SystemCall.capability(console, .copy, (client, UInt64(Rights.send.rawValue), UInt64(index + 1), 0))
                _ = launcher.give(client, to: launched, at: ConsoleProtocol.clientSlot, rights: .send)
                registerName(module.name, badge: UInt64(index + 1), console: console)
            }
            let error = launcher.start(launched)
            log("roottask: started \(module.name) (\(module.bytes.count) bytes): \(error.name)")
            if error == .ok { started += 1 }
        }
    }

    var finished = 0
    while finished < started {
        let report = SystemCall.wait(reports, timeout: Root.deadline)
        guard report.succeeded else {
            log("roottask: \(started - finished) tasks did not report: \(report.error.name)")
            break
        }
        guard report.tag.label == Report.done else { continue }
        finished += 1
        let verdict: StaticString = report.words.0 == 0 ? "passed" : "FAILED"
        log("roottask: task \(report.badge - 1) done, \(verdict) (\(finished)/\(started))")
    }
    log("roottask: all done; powering off")
    _ = SystemCall.powerOff(RootTaskLayout.machineSlot)
}
