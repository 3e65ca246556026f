import SwiftletABI
import VMMCore
import SwiftletUser
import TestGuest

/// One VM and its vCPU, as the VMM sees them: the capabilities, the guest's RAM, the current exit (in
/// place in the UTCB), and the devices.
struct VirtualMachine {
    enum Kind { case test, hostile, spinning, debugLoop, debugRegisters }
    /// What an exit handler decided.
    enum Action {
        /// Reply with the parts of the state the mask selects (as the handler left them in the message).
        case resume(TransferMask)
        /// Stop the vCPU; the run is over.
        case stop(failures: UInt64)
        /// No reply: the vCPU was stopped and started again; wait for its next exit.
        case restarted
    }

    let kind: Kind
    let machine: UInt64, vcpu: UInt64, exits: UInt64
    let memory: GuestMemory
    /// The current exit, in place in the UTCB.
    var guest: ExitMessage
    /// The state the startup reply set: the bad-reply test restores from it.
    var initial = GuestState()
    var devices = Devices()
    var exitCount: UInt64 = 0
    var ownerCheckFailures: UInt64 = 0
    var reason: ExitReason = .startup
    /// The debug-register guest ran while this vCPU was stopped at port 0x518 (`runDebugRegisterGuest`).
    var debugRegisterGuestRan = false
    /// The spinning guest's counter when it started.
    var spinStart: UInt64 = 0

    var name: StaticString {
        switch kind {
        case .test: return "test guest"
        case .hostile: return "hostile guest"
        case .spinning: return "spinning guest"
        case .debugLoop: return "debug-loop guest"
        case .debugRegisters: return "debug-register guest"
        }
    }

    init(kind: Kind, slots: UInt64, ramBase: UInt64, utcb: UTCB) {
        self.kind = kind
        guest = ExitMessage(words: utcb.words)
        machine = slots
        vcpu = slots + 1
        exits = slots + 2
        memory = GuestMemory(base: ramBase, bytes: VMM.guestRAMBytes)
    }

    /// Creates the VM, gives it RAM with the image, page tables and GDT in it, and starts its vCPU, whose
    /// first exit (`startup`) asks for the initial state.
    mutating func boot(image: UnsafePointer<UInt8>, size: UInt64) -> SyscallError {
        let factory = RootTaskLayout.factorySlot
        var error = SystemCall.create(factory, .virtualMachine, into: machine)
        if error == .ok { error = SystemCall.create(factory, .endpoint, into: exits) }
        if error == .ok { error = memory.give(to: machine) }
        guard error == .ok else { return error }
        guard memory.copy(image, size: size, to: UInt64(TEST_GUEST_LOAD)) else { return .invalidArgument }
        LongMode.build(in: memory)
        error = SystemCall.create(factory, .virtualCPU, into: vcpu, (machine, VMM.priority, 0))
        if error == .ok { error = SystemCall.thread(vcpu, .setExceptionHandler, (exits, 0, 0, 0)).error }
        if error == .ok { error = ExitMasks.install(on: vcpu) }
        if error == .ok, kind == .test { ownerCheckFailures = OwnerChecks.run(machine: machine, vcpu: vcpu, spare: exits + 1) }
        if error == .ok { error = SystemCall.thread(vcpu, .start).error }
        return error
    }

    /// The exit loop: each exit message is handled and answered until a handler stops the guest.
    /// Returns the number of failures.
    mutating func run() -> UInt64 {
        var message = SystemCall.wait(exits)
        let started = timestamp()
        while true {
            let arrival = timestamp()
            if kind == .spinning && message.error == .timeout { return stopSpinning(ranFor: arrival &- started) }
            if kind == .debugLoop && message.error == .timeout { return stopDebugLoop(ranFor: arrival &- started) }
            guard message.succeeded, message.tag.label == KernelMessageLabel.vmExit, message.tag.words >= VCPUMessage.words else {
                log("vmm: \(name): unexpected message (label \(hex: message.tag.label), \(message.error.name)); stopped")
                _ = SystemCall.thread(vcpu, .stop)
                return 1
            }
            reason = guest.reason
            exitCount += 1
            switch dispatch(raw: guest.raw, arrival: arrival) {
            case .resume(let replyMask):
                guest.reply(replyMask)
                let words = guest.words
                message = SystemCall.replyWait(exits, MessageTag(label: 0, words: VCPUMessage.words),
                                               (words[0], words[1], words[2], words[3]),
                                               timeout: kind == .spinning || kind == .debugLoop ? VMM.spinWatchdog : .infinite)
            case .stop(let failures):
                _ = SystemCall.thread(vcpu, .stop)
                return failures
            case .restarted:
                message = SystemCall.wait(exits)
            }
        }
    }

    /// The spinning guest's watchdog fired: the VMM got the CPU although the guest never exited. Measure
    /// that the guest ran (its counter in guest RAM advanced), stop it, and measure that it stays stopped.
    mutating func stopSpinning(ranFor ticks: UInt64) -> UInt64 {
        let recalled = recallSpinning()
        let counter = UInt64(SPIN_COUNTER), khz = max(VMM.tscKHz, 1)
        let before = memory.load64(counter) ?? 0
        let stopped = SystemCall.thread(vcpu, .stop).error
        let atStop = memory.load64(counter) ?? 0
        let pause = timestamp()
        _ = SystemCall.wait(exits, timeout: .microseconds(10_000))     // nothing comes: the vCPU is stopped
        let later = memory.load64(counter) ?? 0
        let advanced = before &- spinStart, pauseMilliseconds = (timestamp() &- pause) / khz
        let ok = advanced > 0 && stopped == .ok && later == atStop && recalled
        log("vmm: \(advanced > 0 && stopped == .ok && later == atStop ? "" as StaticString : "FAIL ")spinning guest ran \(ticks / khz) ms without an exit, counter advanced by \(advanced); stop: \(stopped.name), counter then unchanged for \(pauseMilliseconds) ms: \(yesNo: later == atStop) (the VMM, at the vCPU's priority, still ran)")
        return ok ? 0 : 1
    }

    /// Recall (NOVA's recall, KVM's kick) of the spinning guest, which never exits by itself: two recalls
    /// give one `recall` exit, whose RIP lies in the spin loop; after the reply the guest spins on without
    /// another exit.
    mutating func recallSpinning() -> Bool {
        let asked = timestamp()
        let first = SystemCall.thread(vcpu, .recall).error, second = SystemCall.thread(vcpu, .recall).error
        let message = SystemCall.wait(exits, timeout: .microseconds(20_000))
        let latency = timestamp() &- asked
        guard message.succeeded, message.tag.label == KernelMessageLabel.vmExit, message.tag.words >= VCPUMessage.words else {
            log("vmm: FAIL recall of the spinning guest: recall \(first.name), \(second.name); no exit came (\(message.error.name))")
            return false
        }
        let recalledReason = guest.reason, rip = guest.rip, length = guest.instructionLength
        let loop = UInt64(TEST_GUEST_LOAD) &+ spin_guest_loop_offset(), loopEnd = UInt64(TEST_GUEST_LOAD) &+ spin_guest_loop_end_offset()
        let inLoop = rip >= loop && rip < loopEnd
        // Resume it as it is; a second exit within 10 ms would mean the recall was delivered twice.
        guest.reply([])
        let words = guest.words
        let after = SystemCall.replyWait(exits, MessageTag(label: 0, words: VCPUMessage.words), (words[0], words[1], words[2], words[3]),
                                         timeout: .microseconds(10_000))
        let once = after.error == .timeout
        let ok = first == .ok && second == .ok && recalledReason == .recall && inLoop && length == 0 && once
        log("vmm: \(ok ? "" as StaticString : "FAIL ")recall of the spinning guest (twice: \(first.name), \(second.name)): exit \(recalledReason.rawValue) (recall is \(ExitReason.recall.rawValue)) after \(latency) TSC ticks at RIP \(hex: rip), in the spin loop \(hex: loop)-\(hex: loopEnd): \(yesNo: inLoop); instruction length \(length); no second exit in 10 ms: \(yesNo: once)")
        return ok
    }

    /// One handler per exit reason (Exits/).
    mutating func dispatch(raw: UInt32, arrival: UInt64) -> Action {
        if devices.badReply.active { return badReplyExit(raw: raw) }
        switch reason {
        case .startup: return startup()
        case .cpuid: return cpuid(arrival: arrival)
        case .io: return io(arrival: arrival)
        case .rdmsr, .wrmsr: return msr()
        case .hlt: return hlt()
        case .interruptWindow: return interruptWindow()
        case .nestedPageFault: return nestedPageFault()
        case .tripleFault: return tripleFault()
        case .exception where guest.qualification == 8: return tripleFault()     // #DF, if intercepted
        case .invalidGuestState: return invalidState(raw: raw)
        case .cacheControl: return cacheControl(raw: raw)
        case .monitorOrWait: return monitorOrWait(raw: raw)
        case .controlRegister: return controlRegister()
        case .taskSwitch: return taskSwitch(raw: raw)
        default: return unhandled(raw: raw)
        }
    }

    /// Steps over the exiting instruction.
    func advance() {
        guest.rip &+= guest.instructionLength
    }

    /// Queues an exception for the guest (vector, hardware exception, with an error code if `code`).
    func inject(exception vector: UInt64, errorCode: UInt64? = nil) {
        guest.setEvent(vector | (3 << 8) | (errorCode != nil ? 1 << 11 : 0) | (1 << 31), errorCode: errorCode ?? 0)
    }

    /// Queues an external interrupt (the guest must be able to take it: IF set, no interrupt shadow).
    func inject(interrupt vector: UInt64) {
        guest.setEvent(vector | (1 << 31), errorCode: 0)
    }
}
