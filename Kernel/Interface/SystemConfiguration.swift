/// The system configuration: which tasks the root task starts and what each may have — its priority,
/// kernel memory, paging budget, I/O ports and interrupts, the endpoints it holds (with which rights; see
/// ConfiguredEndpoints.swift), and whether it serves the console. Written as device-tree source
/// (`Guests/*.dts`), compiled by dtc, loaded as the boot module `config`:
///
///     / { compatible = "swiftlet,system";
///         tasks { serial { module = "serial"; priority = <100>; io-ports = <0x3f8 8>; interrupts = <4>;
///                          console-server; };
///                 vmm { module = "vmm"; guest-memory; kernel-memory = <64>; memory-pages = <1024>; };
///                 ping { module = "ping"; };
///                 heartbeat { module = "heartbeat"; period-ms = <2000>; daemon; }; }; };
///
/// A task node may have a `vm@0` child: a VM the task (a VMM) runs, see ConfiguredVirtualMachine.swift.
///
/// Everything is checked before anything starts; an error names the node it is about.
public struct SystemConfiguration {
    public static let maximumTasks = 16
    public static let maximumPriority: UInt32 = 200
    /// The pages a task may be paged in on demand unless its node says `memory-pages`: as much again as
    /// the heap it gets up front (1 MiB).
    public static let defaultMemoryPages: UInt64 = 256
    /// The most `memory-pages` can be: the part of the heap window above the heap mapped up front.
    public static let maximumMemoryPages: UInt64 = (TaskLayout.heapLimit - TaskLayout.heap) / 4096 - TaskLayout.heapPages
    /// `period-ms` bounds: at least the timer's tick, at most an hour.
    public static let periodMilliseconds: ClosedRange<UInt32> = 1...3_600_000
    /// `report-deadline-s` bounds: a second to a day.
    public static let reportDeadlineSeconds: ClosedRange<UInt32> = 1...86_400
    /// How long the root task waits for reports without a configuration module (DefaultPlan).
    public static let defaultReportDeadlineSeconds: UInt32 = 300
    /// What `restart-after-report` may be: enough for a test, bounded so that the run ends.
    public static let restartsAfterReport: ClosedRange<UInt32> = 1...1000
    /// What `restart-on-failure` may be: a driver killed many times over in a test (at least 100).
    public static let restartsOnFailure: ClosedRange<UInt32> = 1...100_000
    /// `kill-every-ms` bounds: long enough for a restart to finish, at most an hour.
    public static let killMilliseconds: ClosedRange<UInt32> = 10...3_600_000

    public struct Task {
        public var node: ByteString
        public var module: ByteString
        public var priority: UInt8 = 100
        public var kernelMemory: UInt64 = 256
        public var ports = InlineArray<4, (first: UInt16, count: UInt16)>(repeating: (0, 0))
        public var portRanges = 0
        public var interrupts = InlineArray<4, UInt8>(repeating: 0)
        public var interruptCount = 0
        public var consoleServer = false
        /// `console-raw`: the task may write the console's raw stream (ConsoleProtocol.writeRaw), bytes the
        /// serial driver sends unchanged: the VMM, for its guest's interactive shell.
        public var consoleRaw = false
        /// `guest-memory`: the task runs VMs, so the heap pages it is paged are executable too (guest RAM).
        public var guestMemory = false
        /// `memory-pages`: its paging budget, the pages the root task sets aside for it when it starts and
        /// pages in on demand (past its heap); a fault beyond the budget stops it.
        public var memoryPages = SystemConfiguration.defaultMemoryPages
        /// Its `endpoints` node: which configured endpoints it holds, in which slot, with which rights.
        public var endpoints = InlineArray<2, EndpointGrant>(repeating: EndpointGrant(endpoint: 0, slot: 0, rights: []))
        public var endpointCount = 0
        /// Its `vm@0` node: the VM the root task hands it (modules, guest RAM, a description page).
        public var virtualMachine: VirtualMachine?
        /// `period-ms`: a periodic task's period (0: none), passed in its startup block.
        public var periodMilliseconds: UInt32 = 0
        /// `daemon`: it runs until the root task stops it (Report.stopSlot) after the other tasks reported.
        public var daemon = false
        /// `restart-after-report`: how many times the root task removes the task after its report (or a fault) and
        /// starts it again from its module (a test of restartable tasks; 0: it runs once).
        public var restartsAfterReport: UInt32 = 0
        /// `service`: it serves other tasks until power-off (a device driver) and never reports, so the root
        /// task does not wait for it, as for a console server.
        public var service = false
        /// `restart-on-failure`: how many times the root task removes the task and starts it again from its
        /// module when it fails — a fault it may not have, an exception, a kill (supervision of drivers).
        public var restartsOnFailure: UInt32 = 0
        /// `kill-every-ms`: the root task kills the task on purpose this often (a test of supervision: the
        /// kill is a failure, and the task is restarted while its restarts last). 0: never.
        public var killMilliseconds: UInt32 = 0
        /// It gets the machine capability without rights in `Report.machineViewSlot` (identify only: the
        /// kernel's free frames). Default plan only (destroytest, which checks that nothing leaks).
        public var machineView = false

        /// The words of its startup block (StartupBlock), from its node.
        public var startupBlock: (UInt64, UInt64, UInt64, UInt64) { (UInt64(periodMilliseconds), 0, 0, 0) }

        public init(node: ByteString, module: ByteString) {
            self.node = node
            self.module = module
        }
    }

    public struct Failure: Error {
        public var path: LogLine
        public var reason: LogLine
    }

    public private(set) var tasks = InlineArray<16, Task>(repeating: Task(node: ByteString(UnsafeRawBufferPointer(start: nil, count: 0)),
                                                                         module: ByteString(UnsafeRawBufferPointer(start: nil, count: 0))))
    public private(set) var taskCount = 0
    /// The endpoints the root task creates (`/endpoints`), by the index a grant names.
    public private(set) var endpointNames = InlineArray<8, ByteString>(repeating: ByteString(UnsafeRawBufferPointer(start: nil, count: 0)))
    public private(set) var endpointCount = 0
    /// `report-deadline-s` of the root node: how long the root task waits for the tasks' reports before
    /// it gives up on them (the test systems, native.dts); nil without it: it waits for as long as the
    /// tasks run (the product, system.dts, whose interactive VM runs until the user powers it off).
    public private(set) var reportDeadlineSeconds: UInt32?

    /// Reads and checks `tree`; `moduleExists` says whether a boot module of a name was loaded.
    public init(_ tree: DeviceTree, moduleExists: (ByteString) -> Bool) throws(Failure) {
        func fail(_ path: LogLine, _ reason: LogLine) -> Failure { Failure(path: path, reason: reason) }
        guard let compatible = tree.property("compatible", of: tree.root),
              DeviceTree.text(compatible).equals("swiftlet,system") else {
            throw fail("/", "compatible must be \"swiftlet,system\"")
        }
        guard let list = tree.child("tasks", of: tree.root) else { throw fail("/", "no tasks node") }
        if let value = tree.property("report-deadline-s", of: tree.root) {
            guard value.count == 4, let seconds = DeviceTree.cell(value, 0),
                  SystemConfiguration.reportDeadlineSeconds.contains(seconds) else {
                throw fail("/", "report-deadline-s must be one cell, 1 to 86400 seconds")
            }
            reportDeadlineSeconds = seconds
        }
        let names: InlineArray<8, ByteString>, endpoints: Int
        switch SystemConfiguration.endpointNames(tree) {
        case .success(let found): (names, endpoints) = found
        case .failure(let failure): throw failure
        }
        var failure: Failure?
        var parsed = InlineArray<16, Task>(repeating: tasks[0])
        var count = 0
        tree.forEach(in: list, property: { _, _ in }, child: { node in
            guard failure == nil else { return }
            let name = tree.name(of: node)
            let path: LogLine = "/tasks/\(name)"
            guard count < SystemConfiguration.maximumTasks else {
                failure = fail(path, "more than 16 tasks")
                return
            }
            switch SystemConfiguration.task(tree, node, name: name, moduleExists: moduleExists, endpoints: names, count: endpoints) {
            case .success(let task):
                parsed[count] = task
                count += 1
            case .failure(let problem):
                var located = path
                if let child = problem.child {
                    located.append(problem.under)
                    located.append(child)
                }
                failure = fail(located, problem.reason)
            }
        })
        if let failure { throw failure }
        tasks = parsed
        taskCount = count
        endpointNames = names
        endpointCount = endpoints
    }

    private static func task(_ tree: DeviceTree, _ node: DeviceTree.Node, name: ByteString, moduleExists: (ByteString) -> Bool,
                             endpoints: InlineArray<8, ByteString>, count: Int) -> Result<Task, StaticFailure> {
        guard let moduleValue = tree.property("module", of: node) else { return .failure(StaticFailure("no module property")) }
        let module = DeviceTree.text(moduleValue)
        guard module.bytes.count > 0, moduleExists(module) else { return .failure(StaticFailure("its module is not among the boot modules")) }
        var task = Task(node: name, module: module)
        var unknown = false
        var bad: StaticString?
        var endpointFailure: StaticFailure?
        var vmFailure: StaticFailure?
        var sawEndpoints = false
        tree.forEach(in: node, property: { key, value in
            if key.equals("module") { return }
            if key.equals("priority") {
                guard value.count == 4, let priority = DeviceTree.cell(value, 0), priority <= maximumPriority else {
                    bad = "priority must be one cell, at most 200"
                    return
                }
                task.priority = UInt8(priority)
            } else if key.equals("kernel-memory") {
                guard value.count == 4, let frames = DeviceTree.cell(value, 0), frames >= 8, frames <= 65536 else {
                    bad = "kernel-memory must be one cell, 8 to 65536 frames"
                    return
                }
                task.kernelMemory = UInt64(frames)
            } else if key.equals("memory-pages") {
                guard value.count == 4, let pages = DeviceTree.cell(value, 0), UInt64(pages) <= maximumMemoryPages else {
                    bad = "memory-pages must be one cell, 0 to 16128 pages (the on-demand heap window)"
                    return
                }
                task.memoryPages = UInt64(pages)
            } else if key.equals("io-ports") {
                guard value.count > 0, value.count % 8 == 0, value.count / 8 <= 4 else {
                    bad = "io-ports must be up to four <first count> pairs"
                    return
                }
                for pair in 0..<(value.count / 8) {
                    let first = DeviceTree.cell(value, pair * 2)!, count = DeviceTree.cell(value, pair * 2 + 1)!
                    guard count > 0, first < 65536, count <= 65536 - first else {
                        bad = "an io-ports range is empty or goes past port 0xffff"
                        return
                    }
                    task.ports[pair] = (UInt16(first), UInt16(count & 0xFFFF))
                }
                task.portRanges = value.count / 8
            } else if key.equals("interrupts") {
                guard value.count > 0, value.count % 4 == 0, value.count / 4 <= 4 else {
                    bad = "interrupts must be up to four ISA IRQ numbers"
                    return
                }
                for index in 0..<(value.count / 4) {
                    guard let irq = DeviceTree.cell(value, index), irq < 16 else {
                        bad = "an interrupt is not an ISA IRQ (0-15)"
                        return
                    }
                    task.interrupts[index] = UInt8(irq)
                }
                task.interruptCount = value.count / 4
            } else if key.equals("console-server") {
                task.consoleServer = true
            } else if key.equals("console-raw") {
                guard value.count == 0 else {
                    bad = "console-raw takes no value"
                    return
                }
                task.consoleRaw = true
            } else if key.equals("guest-memory") {
                task.guestMemory = true
            } else if key.equals("period-ms") {
                guard let period = oneCell(value, in: periodMilliseconds) else {
                    bad = "period-ms must be one cell, 1 to 3600000 milliseconds"
                    return
                }
                task.periodMilliseconds = period
            } else if key.equals("restart-after-report") {
                guard let count = oneCell(value, in: restartsAfterReport) else {
                    bad = "restart-after-report must be one cell, 1 to 1000 restarts"
                    return
                }
                task.restartsAfterReport = count
            } else if key.equals("restart-on-failure") {
                guard let count = oneCell(value, in: restartsOnFailure) else {
                    bad = "restart-on-failure must be one cell, 1 to 100000 restarts"
                    return
                }
                task.restartsOnFailure = count
            } else if key.equals("kill-every-ms") {
                guard let period = oneCell(value, in: killMilliseconds) else {
                    bad = "kill-every-ms must be one cell, 10 to 3600000 milliseconds"
                    return
                }
                task.killMilliseconds = period
            } else if key.equals("service") {
                guard value.count == 0 else {
                    bad = "service takes no value"
                    return
                }
                task.service = true
            } else if key.equals("daemon") {
                guard value.count == 0 else {
                    bad = "daemon takes no value"
                    return
                }
                task.daemon = true
            } else {
                unknown = true
            }
        }, child: { child in
            if tree.name(of: child).equals(virtualMachineNode) {
                guard vmFailure == nil, task.virtualMachine == nil else { return }
                switch virtualMachine(tree, child, moduleExists: moduleExists) {
                case .success(let vm): task.virtualMachine = vm
                case .failure(let failure): vmFailure = failure
                }
                return
            }
            guard tree.name(of: child).equals("endpoints"), endpointFailure == nil, !sawEndpoints else {
                unknown = true
                return
            }
            sawEndpoints = true
            endpointFailure = endpointGrants(tree, child, into: &task, names: endpoints, count: count)
        })
        if let bad { return .failure(StaticFailure(bad)) }
        // The console server is never told to stop: it serves until power-off.
        if task.daemon && task.consoleServer { return .failure(StaticFailure("a console server cannot be a daemon")) }
        // A restarted task is one the root task waits for (not a daemon), whose whole state it made (no VM).
        if task.restartsAfterReport > 0 && (task.daemon || task.consoleServer || task.virtualMachine != nil) {
            return .failure(StaticFailure("restart-after-report is for a task that reports: not a daemon, console server or VMM"))
        }
        // A supervised task is one whose whole state the root task made (no VM) and that the console does
        // not depend on; a kill is a failure, so a killed task must be one that is restarted.
        if task.restartsOnFailure > 0 && (task.consoleServer || task.virtualMachine != nil) {
            return .failure(StaticFailure("restart-on-failure is for a task the root task can remake: not a console server or VMM"))
        }
        if task.killMilliseconds > 0 && task.restartsOnFailure == 0 {
            return .failure(StaticFailure("kill-every-ms needs restart-on-failure"))
        }
        if task.service && (task.daemon || task.consoleServer || task.restartsAfterReport > 0) {
            return .failure(StaticFailure("a service never reports: not a daemon, console server or restart-after-report"))
        }
        if let endpointFailure { return .failure(endpointFailure) }
        if let vmFailure { return .failure(vmFailure) }
        if unknown { return .failure(StaticFailure("unknown property or child node")) }
        return .success(task)
    }

    /// A property of exactly one cell whose value lies in `range`.
    static func oneCell(_ value: UnsafeRawBufferPointer, in range: ClosedRange<UInt32>) -> UInt32? {
        guard value.count == 4, let cell = DeviceTree.cell(value, 0), range.contains(cell) else { return nil }
        return cell
    }

    struct StaticFailure: Error {
        var reason: LogLine
        /// The node below the task's the failure is about, if any: an endpoint node (under the task's
        /// `endpoints`), or `vm@0` (right under the task, `under` "/").
        var child: ByteString?
        var under: StaticString
        init(_ reason: LogLine, child: ByteString? = nil, under: StaticString = "/endpoints/") {
            self.reason = reason
            self.child = child
            self.under = under
        }
        init(_ reason: StaticString) {
            self.init(LogLine(stringLiteral: reason))
        }
    }
}
