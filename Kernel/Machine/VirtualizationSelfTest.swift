import KernelPlatform
import SwiftletABI

/// The kernel command line's `virt_selftest`: a real-mode guest of three instructions (CPUID, CPUID, HLT)
/// in one page of a VM, run by the backend the kernel chose, with its CPUID exits handled here in the
/// kernel (RIP stepped over, entered again) instead of by a VMM. Its round trip is the in-kernel baseline
/// the exits through the user-level VMM are set beside.
enum VirtualizationSelfTest {
    private static let guestCode: UInt64 = 0x1000

    static func run() -> LogLine {
        let name: StaticString = GuestMode.backend == .vmx ? "VMX" : "SVM"
        guard GuestMode.backend != .none else { return "virt: self-test skipped (no usable VMX or SVM)" }
        guard case .success(let machine) = KernelObjects.newTask(factory: nil, guestPhysical: true),
              let codeFrame = KernelMemory.allocateFrame(), let vcpuFrame = KernelMemory.allocateFrame(),
              let controlFrame = KernelMemory.allocateFrame() else { return "virt: \(name) self-test: out of memory" }
        let code = codeFrame.adopt()
        PhysicalMemory.zeroFrame(code)
        PhysicalMemory.pointer(code).storeBytes(of: UInt64(0xF4_A20F_A20F), as: UInt64.self)   // CPUID; CPUID; HLT
        if let error = AddressSpace.map(in: machine.pointee.pageTableRoot, guestCode, to: code, access: .readWriteExecute) {
            return "virt: \(name) self-test: nested page tables: \(error.description)"
        }
        let address = vcpuFrame.adopt()
        PhysicalMemory.zeroFrame(address)
        let vcpu = PhysicalMemory.object(at: address, as: VCPU.self)
        vcpu.initialize(to: VCPU())
        vcpu.pointee.machine = machine
        let created = GuestMode.backend == .vmx ? VMX.create(vcpu, control: controlFrame.adopt())
            : SVM.create(vcpu, control: controlFrame.adopt())
        guard created else { return "virt: \(name) self-test FAIL: the VMCS/VMCB could not be set up" }
        // Its frame is not a vCPU's after the test: it must not stay the debug registers' owner.
        defer { DebugRegisters.forget(vcpu) }
        // The reset state is real mode at 0: start at the code instead.
        vcpu.pointee.state.rip = guestCode
        vcpu.pointee.dirty = .ripAndLength
        // A VMX exit loads the host CR0 with TS clear (vCPUs own the FPU while they run): keep the lazy-FPU trap as it was.
        let cr0 = x86_read_cr0()
        defer { x86_write_cr0(cr0) }

        var reasons: LogLine = ""
        var cpuidExits: UInt64 = 0
        var roundTrip: UInt64 = 0
        for _ in 0..<8 {
            let start = x86_rdtsc()
            let (reason, raw) = GuestMode.backend == .vmx ? VMX.enter(vcpu) : SVM.enter(vcpu)
            if reasons.count > 0 { reasons.append(", ") }
            if GuestMode.backend == .vmx { reasons.appendDecimal(UInt64(raw & 0xFFFF)) } else { reasons.appendHex(UInt64(raw)) }
            if GuestMode.backend == .vmx { VMX.load(vcpu, .ripAndLength) } else { SVM.load(vcpu, .ripAndLength) }
            guard reason == .cpuid else {
                log("bench: exit.cpuid.inkernel.instructions \(roundTrip)")
                let verdict: StaticString = reason == .hlt && cpuidExits == 2 ? "PASS" : "FAIL"
                return "virt: \(name) self-test \(verdict): real-mode guest exited \(reasons) (\(cpuidExits) CPUID, then \(reason == .hlt ? "HLT" as StaticString : "something else") at RIP \(hex: vcpu.pointee.state.rip)); in-kernel round trip \(roundTrip) TSC ticks"
            }
            cpuidExits += 1
            vcpu.pointee.state.rip &+= vcpu.pointee.state.instructionLength
            vcpu.pointee.dirty = .ripAndLength
            roundTrip = x86_rdtsc() - start
        }
        return "virt: \(name) self-test FAIL: no HLT after \(reasons)"
    }
}
