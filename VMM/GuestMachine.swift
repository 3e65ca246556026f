import SwiftletABI
import SwiftletUser
import VMMCore

/// One VM and its vCPU: the capabilities, the guest's RAM, the current exit (in place in the UTCB) and
/// the board of devices. The guest is a Linux bzImage (the x86 boot protocol, LinuxGuestSetup) or a
/// Multiboot (v1) kernel (MultibootGuestSetup), told apart by the kernel module's own header. Each exit is answered by its handler (Handlers/); then the interrupt
/// decision runs (`deliverInterrupts`), so a device's or the timer's interrupt enters at the first exit
/// where the guest can take it, or the reply asks for the interrupt window.
struct GuestMachine {
    /// What an exit handler decided.
    enum Action {
        /// Reply with the parts of the state the mask selects (as the handler left them in the message).
        case resume(TransferMask)
        /// Stop the vCPU; the run is over.
        case stop(failures: UInt64)
        /// The guest wrote its debug-exit port: the run is over with this status ((value << 1) | 1).
        case exit(status: UInt8)
    }

    /// How the guest was booted, as `build` checked and placed it: a reset places it again.
    enum Boot {
        case linux(LinuxGuestSetup.Result)
        case multiboot(MultibootGuestSetup.Result)
    }

    /// The guest's wall clock at power-on (seconds since 1970, 2026-12-01 00:00 UTC) when the kernel
    /// handed on none (`description.wallClock` 0: it read no valid CMOS time); otherwise the guest's RTC
    /// and kvmclock wall clock are the kernel's reading plus the TSC since (WallClock).
    static let epoch: UInt64 = 1_796_083_200
    /// How long a halted guest with no timer armed may wait for an interrupt before the VMM gives up on it.
    static let idleLimitMicroseconds: UInt64 = 30_000_000

    let description: MachineDescription
    let machine: UInt64, vcpu: UInt64, exits: UInt64, sleeper: UInt64, kicker: UInt64, kickerSleeper: UInt64, reader: UInt64
    let memory: GuestMemory
    let tscKHz: UInt64
    var guest: ExitMessage
    var board: LinuxBoard
    var entryState = GuestState()
    var reason: ExitReason = .startup
    /// Exits by reason over the VM's whole run, all boots together.
    var statistics = ExitStatistics()
    /// What `build` checked and placed in RAM: a reset places it again (Handlers/Reset.swift).
    var setup: Boot? = nil
    /// The TSC when the vCPU first entered: the machine's power-on, from which its RTC and wall clock run.
    var powerOnTSC: UInt64 = 0
    /// The TSC when the current boot entered: kvmclock's system time 0.
    var bootTSC: UInt64 = 0
    /// Which boot this is (1 until the guest resets), and the exits before it began.
    var boot: UInt64 = 1
    var exitsBeforeBoot: UInt64 = 0
    /// Exits the VMM answers with #UD because it does not model them.
    var unhandledExits: UInt64 = 0
    /// The virtio-blk disk's link to its block driver, and room for one request's chain (VirtioDisk.swift).
    var disk: BlockServiceClient<EndpointBlockLink>? = nil
    var diskSegments = UnsafeMutableBufferPointer<SplitVirtqueue.Segment>(start: nil, count: 0)

    var name: LogLine { description.name }

    init(description: MachineDescription, slots: UInt64, utcb: UTCB, tscKHz: UInt64) {
        self.description = description
        machine = slots
        vcpu = slots + 1
        exits = slots + 2
        sleeper = slots + 3
        kicker = slots + 4
        kickerSleeper = slots + 5
        reader = slots + 6
        memory = GuestMemory(base: description.ramAddress, bytes: description.ramBytes)
        self.tscKHz = max(tscKHz, 1)
        guest = ExitMessage(words: utcb.words)
        // The APIC timer's input clock: 25 MHz of the TSC (Linux uses the TSC deadline when CPUID offers it).
        board = LinuxBoard(tscPerBusTick: max(tscKHz / 25_000, 1), x2APIC: true)
    }

    /// The modules the description names (read-only windows that stay mapped) and the command line.
    var kernel: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(description.kernelAddress)), count: Int(description.kernelBytes))
    }
    var initrd: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(description.initrdAddress)), count: Int(description.initrdBytes))
    }
    var bootargs: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(VirtualMachineDescription.page) + UInt(VirtualMachineDescription.bootargsOffset)),
                               count: description.bootargsBytes)
    }

    /// The Multiboot modules the description names, each with its name as its string.
    var multibootModules: InlineArray<8, MultibootModule> {
        var modules = InlineArray<8, MultibootModule>(repeating: MultibootModule(bytes: UnsafeRawBufferPointer(start: nil, count: 0),
                                                                                 string: UnsafeRawBufferPointer(start: nil, count: 0)))
        let page = UnsafeRawPointer(bitPattern: UInt(VirtualMachineDescription.page))!
        for index in 0..<description.moduleCount {
            let module = description.modules[index]
            modules[index] = MultibootModule(bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(module.address)), count: Int(module.bytes)),
                                             string: MachineDescription.moduleName(index, page: page))
        }
        return modules
    }

    /// Exits of the current boot.
    var bootExits: UInt64 { statistics.total &- exitsBeforeBoot }

    /// Checks and places the kernel, initrd and command line, creates the VM, maps its RAM and starts its
    /// vCPU (whose first exit asks for the state `LinuxGuestSetup` chose). False: refused, said why.
    mutating func build() -> Bool {
        guard attachDisk(), place() else { return false }

        let factory = RootTaskLayout.factorySlot
        var error = SystemCall.create(factory, .virtualMachine, into: machine)
        if error == .ok { error = SystemCall.create(factory, .endpoint, into: exits) }
        if error == .ok { error = SystemCall.create(factory, .endpoint, into: sleeper) }
        if error == .ok { error = SystemCall.create(factory, .endpoint, into: kickerSleeper) }
        // Guest RAM in the largest calls the kernel takes (4096 pages each).
        var page: UInt64 = 0
        let pages = description.ramBytes / 4096
        while error == .ok && page < pages {
            let count = min(pages - page, 4096)
            error = SystemCall.task(machine, .mapPages, (description.ramAddress + page * 4096, page * 4096, count, 3))
            page += count
        }
        // The vCPU runs below the VMM's threads, so the timer thread preempts it when a deadline passes.
        if error == .ok { error = SystemCall.create(factory, .virtualCPU, into: vcpu, (machine, VMM.priority - 1, 0)) }
        if error == .ok { error = SystemCall.thread(vcpu, .setExceptionHandler, (exits, 0, 0, 0)).error }
        var spawner = ThreadSpawner()
        if error == .ok {
            error = TimerKick.start(vcpu: vcpu, sleeper: kickerSleeper, thread: kicker, priority: UInt8(VMM.priority), tscKHz: tscKHz,
                                    spawner: &spawner)
        }
        if error == .ok {
            error = ConsoleInput.start(vcpu: vcpu, sleeper: sleeper, thread: reader, priority: UInt8(VMM.priority), spawner: &spawner)
        }
        if error == .ok { error = SystemCall.thread(vcpu, .start).error }
        guard error == .ok else {
            log("vmm: \(name): could not create the VM (\(page) of \(pages) pages of RAM mapped): \(error.name)")
            return false
        }
        return true
    }

    /// Checks the kernel, its initrd or modules and the command line, and places them in RAM as the
    /// kernel's boot protocol says. False: refused, said why (naming the node).
    mutating func place() -> Bool {
        if MultibootImage.findHeader(in: kernel) != nil { return placeMultiboot() }
        guard description.moduleCount == 0 else {
            log("vmm: \(name): refused: a Linux kernel takes an initrd, not Multiboot modules")
            return false
        }
        let setup: LinuxGuestSetup.Result
        do {
            setup = try LinuxGuestSetup.prepare(ram: memory.buffer, kernel: kernel, initrd: initrd, bootargs: bootargs, acpi: board.acpi)
        } catch {
            if case .layout(.tooLittleMemory(let needed)) = error {
                log("vmm: \(name): refused: \(error.description) (\(description.ramBytes >> 20) MiB given, \(needed) MiB needed)")
            } else if case .kernel = error {
                log("vmm: \(name): refused: \(error.description), nor a Multiboot kernel (no header in its first 8 KiB)")
            } else {
                log("vmm: \(name): refused: \(error.description)")
            }
            return false
        }
        entryState = setup.state
        self.setup = .linux(setup)
        log("vmm: \(name): Linux boot protocol \(hex: setup.kernel.protocolVersion), kernel at \(hex: setup.layout.kernelAddress) (init_size \(setup.kernel.initSize >> 20) MiB), initrd \(description.initrdBytes) bytes at \(hex: setup.layout.initrdAddress), \(description.ramBytes >> 20) MiB of RAM, command line \(description.bootargsBytes) bytes")
        return true
    }

    mutating func placeMultiboot() -> Bool {
        guard description.initrdBytes == 0 else {
            log("vmm: \(name): refused: a Multiboot kernel takes modules, not an initrd")
            return false
        }
        let setup: MultibootGuestSetup.Result
        do {
            setup = try MultibootGuestSetup.prepare(ram: memory.buffer, kernel: kernel, modules: multibootModules,
                                                    moduleCount: description.moduleCount, commandLine: bootargs)
        } catch {
            log("vmm: \(name): refused: the Multiboot kernel: \(error.description)")
            return false
        }
        entryState = setup.state
        self.setup = .multiboot(setup)
        let format: StaticString = setup.image.isELF ? "ELF" : "address fields"
        log("vmm: \(name): Multiboot kernel (\(format), \(setup.image.segmentCount) segments up to \(hex: setup.image.loadEnd), entry \(hex: UInt64(setup.image.entry))), \(setup.moduleCount) modules, \(description.ramBytes >> 20) MiB of RAM, command line \(description.bootargsBytes) bytes")
        return true
    }

    /// The exit loop: each exit message is handled and answered until a handler stops the guest.
    /// Returns the number of failures, and the guest's exit status if it ended the run through its
    /// debug-exit port.
    mutating func run() -> (failures: UInt64, guestStatus: UInt8?) {
        var message = SystemCall.wait(exits)
        while true {
            guard message.succeeded, message.tag.label == KernelMessageLabel.vmExit, message.tag.words >= VCPUMessage.words else {
                log("vmm: \(name): unexpected message (label \(hex: message.tag.label), \(message.error.name)); VM stopped")
                _ = SystemCall.thread(vcpu, .stop)
                return (1, nil)
            }
            reason = guest.reason
            statistics.count(reason)
            let action = dispatch()
            switch action {
            case .resume(let handled):
                guest.reply(handled.union(deliverInterrupts(handlerInjected: handled.contains(.event))))
                TimerKick.deadline = board.apic.nextDeadline ?? 0
                let words = guest.words
                TimerKick.guestRunning = true
                message = SystemCall.replyWait(exits, MessageTag(label: 0, words: VCPUMessage.words), (words[0], words[1], words[2], words[3]))
                TimerKick.guestRunning = false
            case .stop, .exit:
                _ = SystemCall.thread(vcpu, .stop)
                _ = SystemCall.thread(kicker, .stop)
                _ = SystemCall.thread(reader, .stop)
                flushConsole()
                statistics.report(name, boots: boot)
                reportDisk()
                if board.msrs.unknownAccesses > 0 || board.refusedAPICAccesses > 0 || unhandledExits > 0 || board.unbackedPorts > 0 {
                    log("vmm: \(name): \(board.msrs.unknownAccesses) accesses to MSRs not modelled and \(board.refusedAPICAccesses) to x2APIC registers that fault (#GP), \(unhandledExits) exits answered with #UD, \(board.unbackedPorts) port and \(board.unbackedMemory) memory accesses nothing backs, \(TimerKick.recalls) recalls for the timer")
                }
                let input = ConsoleInput.queue
                if input.written > 0 || input.overflowed > 0 {
                    log("vmm: \(name): \(input.written) bytes of console input passed to the guest's UART, \(input.overflowed) dropped (input ring full), in \(ConsoleInput.reads) reads; it recalled the vCPU \(ConsoleInput.recalls) times and ended \(ConsoleInput.haltWakeups) halts")
                }
                if case .exit(let status) = action { return (0, status) }
                if case .stop(let failures) = action { return (failures, nil) }
                return (1, nil)
            }
        }
    }

    /// One handler per exit reason (Handlers/).
    mutating func dispatch() -> Action {
        switch reason {
        case .startup: return startup()
        case .cpuid: return cpuid()
        case .io: return io()
        case .rdmsr, .wrmsr: return msr()
        case .hlt: return hlt()
        case .nestedPageFault: return nestedPageFault()
        case .interruptWindow: return .resume([])
        case .recall:
            flushConsole()          // the guest runs on without halting: its output still shows promptly
            return .resume([])
        case .tripleFault: return fault("triple-faulted")
        case .exception where guest.qualification == 8: return fault("double-faulted")
        case .invalidGuestState: return fault("could not be entered (invalid guest state)")
        case .cacheControl, .pause:
            advance()
            return .resume(Self.stepped)
        case .hypercall: return hypercall()
        case .controlRegister: return controlRegister()
        case .taskSwitch: return fault("made a hardware task switch (not emulated)")
        default: return unhandled()
        }
    }

    /// Stepping over an instruction ends an STI or MOV SS shadow it sat in.
    static let stepped: TransferMask = [.ripAndLength, .interruptibility]

    /// Steps over the exiting instruction.
    func advance() {
        guest.rip &+= guest.instructionLength
        guest.setInterruptibility(0, activity: 0)
    }

    /// Queues a hardware exception (with an error code if `errorCode`).
    func inject(exception vector: UInt64, errorCode: UInt64? = nil) {
        guest.setEvent(vector | (3 << 8) | (errorCode != nil ? 1 << 11 : 0) | (1 << 31), errorCode: errorCode ?? 0)
    }

    /// After the handler: the interrupt the board raises enters now if the guest can take it (and no
    /// exception of the handler's takes the one event slot), else the reply asks for the window.
    mutating func deliverInterrupts(handlerInjected: Bool) -> TransferMask {
        ConsoleInput.queue.feed(&board.uart)
        let pending = board.pendingInterrupt(now: timestamp())
        if handlerInjected { return pending != nil ? .requestInterruptWindow : [] }
        switch InterruptInjection.decide(interrupted: guest.event, errorCode: guest.eventErrorCode, pending: pending,
                                         rflags: guest.rflags, interruptibility: guest.interruptibility) {
        case .nothing:
            return []
        case .reinject(let event, let errorCode):
            guest.setEvent(event, errorCode: errorCode)
            return pending != nil ? [.event, .requestInterruptWindow] : .event
        case .inject(let vector):
            guest.setEvent(InterruptInjection.externalInterrupt(vector), errorCode: 0)
            board.acknowledge(vector)
            return .event
        case .openWindow:
            return .requestInterruptWindow
        }
    }

    /// The guest's console output goes to the console's raw stream unchanged. Without that right (a
    /// configuration without `console-raw`), or without a console, it goes out as a tagged line instead.
    mutating func forwardConsole() {
        let (words, count) = board.console.take()
        guard ConsoleClient.writeRaw(words, count: count) != .ok else { return }
        var line = LogLine()
        for index in 0..<count {
            let byte = ConsoleProtocol.byte(words, index)
            if byte != 0x0A && byte != 0x0D { line.append(byte) }
        }
        if line.count > 0 { log(line) }
    }

    /// Sends what the guest wrote so far (before the VMM waits, or at the VM's end).
    mutating func flushConsole() {
        if board.console.pending { forwardConsole() }
    }

    /// The guest's wall clock now, seconds since 1970: it runs from power-on, across resets, as an RTC does.
    var wallClock: UInt64 { wallClockNanoseconds(at: timestamp()) / 1_000_000_000 }

    /// The wall clock at `tsc` in nanoseconds since 1970: the kernel's, or the fixed epoch at power-on.
    func wallClockNanoseconds(at tsc: UInt64) -> UInt64 {
        if description.wallClock != 0, let elapsed = WallClock.nanoseconds(tsc: tsc, tscKHz: tscKHz) {
            return description.wallClock &+ elapsed
        }
        let sincePowerOn = WallClock.nanoseconds(tsc: tsc &- powerOnTSC, tscKHz: tscKHz) ?? 0
        return Self.epoch &* 1_000_000_000 &+ sincePowerOn
    }

    mutating func fault(_ what: StaticString) -> Action {
        log("vmm: \(name): the guest \(what) after \(bootExits) exits (RIP \(hex: guest.rip), raw exit \(hex: guest.raw)); VM stopped")
        return .stop(failures: 1)
    }

    mutating func unhandled() -> Action {
        unhandledExits &+= 1
        if unhandledExits > 10_000 {
            log("vmm: \(name): too many exits the VMM does not handle (last \(reason.rawValue), raw \(hex: guest.raw)); VM stopped")
            return .stop(failures: 1)
        }
        inject(exception: 6)
        return .resume(.event)
    }
}
