import KernelPlatform
import SwiftletABI

/// The kernel's entry from boot.S: bring up the machine in dependency order and report each step.
/// Order matters: the console first (so every later failure is visible), the boot information before
/// memory, memory before the page tables, the page tables before any device mapping.
@_cdecl("kmain")
func kmain(magic: UInt32, bootInfoAddress: UInt64) -> Never {
    let start = x86_rdtsc()
    SerialPort.initialize()
    log("Swiftlet microkernel 0.1 (x86_64, Embedded Swift)")

    guard magic == Multiboot2Info.bootloaderMagic else {
        panic("boot: \(Multiboot2Error.badMagic.description) (\(hex: magic))")
    }
    let bootInfo = readBootInformation(at: bootInfoAddress)
    let loader = bootInfo.bootloaderName ?? ByteString(UnsafeRawBufferPointer(start: nil, count: 0))
    let commandLine = bootInfo.commandLine ?? ByteString(UnsafeRawBufferPointer(start: nil, count: 0))
    log("boot: loader \"\(loader)\", command line \"\(commandLine)\"")
    let options = KernelOptions.parse(commandLine) { issue in
        switch issue {
        case .unknownOption(let name):
            log("cmdline: unknown option '\(name)' ignored (known: crash=, timer_hz=, fpu=, virt_selftest, verdict=)")
        case .badValue(let option, let value, let expected):
            log("cmdline: bad value '\(value)' for \(option)= ignored (expected \(expected))")
        }
    }
    VerdictLine.token = options.verdictToken

    reportMemoryMap(bootInfo)
    if let error = KernelMemory.initialize(bootInfo: bootInfo, bootInfoAddress: bootInfoAddress) {
        panic("memory: \(error.description)")
    }
    let freeMiB = (KernelMemory.freeFrames * FrameAllocator.frameSize) >> 20
    log("memory: \(KernelMemory.freeFrames) frames (\(freeMiB) MiB) free after the kernel, boot information and modules")
    reportModules(bootInfo)

    if let error = KernelMemory.activateKernelPageTables() {
        panic("paging: cannot build the kernel page tables: \(error.description)")
    }
    let directMapMiB = KernelMemory.physicalLimit >> 20
    log("paging: kernel text r-x, rodata r--, data rw- NX, stack guard page; direct map \(directMapMiB) MiB rw- NX; lower half empty")

    guard DescriptorTables.install() else { panic("cpu: no memory for the descriptor tables") }
    log("cpu: GDT with TSS, IDT with 256 vectors, double faults on their own stack")
    log(CPU.describe())
    log(CPU.report(CPU.probeVirtualization()))
    let setupEnd = x86_rdtsc()
    let uartWaitAtSetupEnd = SerialPort.waitTicks

    LegacyPIC.disable()
    guard LocalAPIC.initialize() else { panic("timer: this CPU has no local APIC") }
    log(Interrupts.initialize(rsdp: bootInfo.rsdp))
    let calibration = LocalAPIC.calibrate()
    System.scheduler = Scheduler(hz: UInt64(options.timerHz), clockHz: calibration.tscHz)
    System.scheduler.readClock = { x86_rdtsc() }
    LocalAPIC.startTimer(hz: UInt64(options.timerHz), calibration: calibration)
    let wanted: UInt64 = 10
    while LocalAPIC.ticks < wanted { x86_sti_hlt() }
    x86_cli()
    log("timer: local APIC \(LocalAPIC.id) version \(hex: LocalAPIC.version), bus \(calibration.busHz / 1000) kHz, TSC \(calibration.tscHz / 1000) kHz; ticking at \(options.timerHz) Hz (\(LocalAPIC.ticks) ticks seen), timeouts to the TSC by the \(LocalAPIC.mode == .tscDeadline ? "TSC-deadline" as StaticString : "one-shot" as StaticString) timer")

    let wallClock = readWallClock(tscKHz: calibration.tscHz / 1000)

    log("boot: kernel path \(setupEnd - start - uartWaitAtSetupEnd) instructions (TSC ticks; instructions when deterministic; excludes \(uartWaitAtSetupEnd) waiting for the UART); entered at tsc \(start)")
    if let crash = options.crash { triggerCrash(crash) }

    guard PerCPU.layoutMatchesAssembly() else { panic("cpu: UserContext layout does not match the entry code") }
    PerCPU.initialize()
    FPU.initialize(eager: options.eagerFPU)
    log("fpu: \(FPU.description)")
    guard GuestMode.layoutMatchesAssembly() else { panic("virt: VCPU layout does not match the entry stubs") }
    log(GuestMode.initialize(CPU.probeVirtualization(), tscHz: calibration.tscHz, timerHz: UInt64(options.timerHz)))
    if options.virtualizationSelfTest { log(VirtualizationSelfTest.run()) }
    ObjectHeader.locate = ObjectHeader.header(of:)      // before the first capability is placed
    IPC.transferMemory = { kind, placement, rights, sender, receiver in
        UserMemory.transfer(kind: kind, placement: placement, rights: rights, sender: sender, receiver: receiver)
    }
    IPC.transferPorts = { first, count, sender, receiver in
        IOPorts.give(from: sender.pointee.task!, to: receiver.pointee.task!, first: first, count: count) == .ok
    }
    let sigma0 = Sigma0Task.load(bootInfo)
    if let error = RootTask.load(bootInfo, timerHz: UInt64(options.timerHz), tscKHz: calibration.tscHz / 1000,
                                     wallClock: wallClock, pager: sigma0) {
        log("roottask: not started: \(error.description)")
        Power.off(.taskNotStarted)
    }
    System.start()
}

/// The wall clock at TSC 0 (WallClock) from the CMOS RTC, or 0 (none) when it cannot be read.
private func readWallClock(tscKHz: UInt64) -> UInt64 {
    guard let reading = RealTimeClock.read() else {
        log("clock: the CMOS RTC gave no valid time; no wall clock is handed on")
        return 0
    }
    guard let base = WallClock.atTSCZero(seconds: reading.seconds, tsc: reading.tsc, tscKHz: tscKHz) else {
        log("clock: the CMOS RTC reads \(reading.seconds) s since 1970, before the TSC's start; no wall clock is handed on")
        return 0
    }
    log("clock: the CMOS RTC reads \(reading.seconds) s since 1970 (UTC) at tsc \(reading.tsc); handed on as the wall clock")
    return base
}

/// Validates the Multiboot2 information in place (it is below 4 GiB, inside the boot direct map).
private func readBootInformation(at address: PhysicalAddress) -> Multiboot2Info {
    guard let total = Multiboot2Info.totalSize(header: PhysicalMemory.bytes(PhysicalRange(start: address, size: 8))) else {
        panic("boot: \(Multiboot2Error.badTotalSize.description)")
    }
    do throws(Multiboot2Error) {
        return try Multiboot2Info(validating: PhysicalMemory.bytes(PhysicalRange(start: address, size: UInt64(total))))
    } catch {
        panic("boot: \(error.description)")
    }
}

private func reportMemoryMap(_ bootInfo: Multiboot2Info) {
    var usable: UInt64 = 0
    var regions = 0
    for region in bootInfo.memoryMap {
        log("  [\(hex: region.range.start, digits: 12)-\(hex: region.range.end &- 1, digits: 12)] \(region.kind.name)")
        if region.kind == .usable {
            usable += region.range.size
            regions += 1
        }
    }
    log("memory: \(usable >> 20) MiB usable in \(regions) regions")
}

private func reportModules(_ bootInfo: Multiboot2Info) {
    let count = bootInfo.modules.count
    log("modules: \(count)")
    for module in bootInfo.modules {
        let bytes = PhysicalMemory.bytes(module.range)
        if bytes.count >= 4 && UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)) == 0xD00D_FEED {
            log("  module \(module.name): \(module.range.size) bytes at \(hex: module.range.start), flattened device tree (for the root task)")
            continue
        }
        do throws(ELFError) {
            let image = try ELF64Image(validating: bytes)
            log("  module \(module.name): \(module.range.size) bytes at \(hex: module.range.start), ELF64 x86-64 entry \(hex: image.entry)")
        } catch {
            log("  module \(module.name): \(module.range.size) bytes at \(hex: module.range.start), rejected: \(error.description)")
        }
    }
}

/// The `crash=` switch: a deliberate fault so tests can check the panic report.
private func triggerCrash(_ kind: KernelOptions.CrashKind) {
    log("kernel: crash=\(kind.name) requested")
    switch kind {
    case .pageFault:
        let unmapped = UnsafeMutablePointer<UInt64>(bitPattern: UInt(0x0000_0000_dead_b000))!
        unmapped.pointee = 1
    case .invalidOpcode:
        x86_trigger_invalid_opcode()
    case .generalProtection:
        x86_trigger_general_protection()
    case .divideError:
        x86_trigger_divide_error()
    case .stackOverflow:
        x86_trigger_stack_overflow()
    }
}
