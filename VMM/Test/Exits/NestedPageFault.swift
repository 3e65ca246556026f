import SwiftletABI
import SwiftletUser
import VMMCore

extension VirtualMachine {
    /// A nested page fault. Inside guest RAM: a page not mapped (yet, or any more), mapped now. Elsewhere,
    /// nothing backs the address: MMIO. The instruction is fetched through the
    /// guest's page tables and emulated if it is a MOV between a register and memory addressed by a
    /// register (`MMIOInstruction`); the access goes to the device at that address. Anything else: #UD.
    mutating func nestedPageFault() -> Action {
        // Guest RAM that is not mapped (taken away, or not given yet): map the page and retry.
        if memory.contains(guest.guestPhysical, 1) {
            let page = guest.guestPhysical & ~UInt64(0xFFF)
            if page == Devices.unmappedPage && devices.pageUnmapped { devices.unmappedPageFaulted = true }
            guard SystemCall.task(machine, .mapPages, (memory.base + page, page, 1, 3)) == .ok else {
                log("vmm: \(name): could not map guest page \(hex: page) back; VM stopped")
                return .stop(failures: 1)
            }
            return .resume([])
        }
        // The decoder reads at most three bytes; each is fetched through the guest's own page tables.
        var bytes: (UInt8, UInt8, UInt8) = (0, 0, 0)
        let fetched = withUnsafeMutableBytes(of: &bytes) { raw in
            memory.fetchInstruction(3, at: guest.rip, cr3: guest.cr3, into: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard fetched, let instruction = withUnsafeBytes(of: bytes, { MMIOInstruction(decoding: $0.baseAddress!) }) else {
            devices.unbackedAccesses += 1
            inject(exception: 6)
            return .resume([.event])
        }
        let address = guest.guestPhysical
        let sizeMask: UInt64 = instruction.size == 8 ? UInt64.max : 0xFFFF_FFFF
        if instruction.isWrite {
            devices.writeMemory(address, value: guest.register(instruction.register) & sizeMask)
        } else {
            guest.setRegister(instruction.register, devices.readMemory(address) & sizeMask)
        }
        guest.rip &+= UInt64(instruction.length)
        return .resume([.generalRegisters, .ripAndLength])
    }
}
