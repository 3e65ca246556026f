import KernelPlatform
import SwiftletABI

/// I/O ports as rights: each task that holds ports has its own permission bitmap, and the one of the task
/// about to run is copied into the TSS (only when a different port-holding task runs than last time).
/// Tasks without ports run with the bitmap offset past the TSS limit: every port is denied.
enum IOPorts {
    static let bitmapBytes = 8192
    static let bitmapOffset = DescriptorTables.TaskStateSegment.size
    /// An offset beyond the TSS limit: no bitmap, no ports.
    static let noBitmap: UInt16 = 0xFFFF

    nonisolated(unsafe) private static var taskStateSegment = UnsafeMutableRawPointer(bitPattern: 8)!
    nonisolated(unsafe) private static var loaded: TaskPointer?
    nonisolated(unsafe) private static var bitmapActive = false


    static func install(taskStateSegment tss: UnsafeMutableRawPointer) {
        taskStateSegment = tss
        tss.storeBytes(of: noBitmap, toByteOffset: 102, as: UInt16.self)
        (tss + bitmapOffset + bitmapBytes).storeBytes(of: UInt8(0xFF), as: UInt8.self)    // required terminator
    }

    /// Before `task` runs: its bitmap in the TSS, or none.
    @inline(__always)
    static func switched(to task: TaskPointer) {
        if task.pointee.ioBitmapLow == 0 {
            if bitmapActive {
                taskStateSegment.storeBytes(of: noBitmap, toByteOffset: 102, as: UInt16.self)
                bitmapActive = false
            }
            return
        }
        DescriptorTables.reloadTaskRegisterIfStale()
        if loaded != task {
            let bitmap = taskStateSegment + bitmapOffset
            bitmap.copyMemory(from: PhysicalMemory.pointer(task.pointee.ioBitmapLow), byteCount: 4096)
            (bitmap + 4096).copyMemory(from: PhysicalMemory.pointer(task.pointee.ioBitmapHigh), byteCount: 4096)
            loaded = task
        }
        if !bitmapActive {
            taskStateSegment.storeBytes(of: UInt16(bitmapOffset), toByteOffset: 102, as: UInt16.self)
            bitmapActive = true
        }
    }

    /// `task` is being destroyed: its bitmap frames go back (and the charge to its factory), and the TSS
    /// copy is forgotten, so a new task at the same address cannot inherit its ports.
    static func release(_ task: TaskPointer) {
        if loaded == task { loaded = nil }
        guard task.pointee.ioBitmapLow != 0 else { return }
        KernelMemory.releaseFrame(task.pointee.ioBitmapLow)
        KernelMemory.releaseFrame(task.pointee.ioBitmapHigh)
        task.pointee.ioBitmapLow = 0
        task.pointee.ioBitmapHigh = 0
        task.pointee.factory?.pointee.refund(2)
    }

    /// Gives `task` a bitmap denying everything (charged to its factory), if it has none.
    private static func ensureBitmap(_ task: TaskPointer) -> Bool {
        if task.pointee.ioBitmapLow != 0 { return true }
        if let factory = task.pointee.factory, !factory.pointee.charge(2) { return false }
        let low = KernelMemory.allocateFrame()?.adopt(), high = KernelMemory.allocateFrame()?.adopt()
        guard let low, let high else {
            KernelObjects.release(low)
            KernelObjects.release(high)
            task.pointee.factory?.pointee.refund(2)
            return false
        }
        task.pointee.ioBitmapLow = low
        task.pointee.ioBitmapHigh = high
        PhysicalMemory.pointer(task.pointee.ioBitmapLow).initializeMemory(as: UInt8.self, repeating: 0xFF, count: 4096)
        PhysicalMemory.pointer(task.pointee.ioBitmapHigh).initializeMemory(as: UInt8.self, repeating: 0xFF, count: 4096)
        return true
    }

    private static func bit(_ task: TaskPointer, _ port: Int) -> (UnsafeMutablePointer<UInt8>, UInt8) {
        let frame = port < 32768 ? task.pointee.ioBitmapLow : task.pointee.ioBitmapHigh
        let byte = PhysicalMemory.object(at: frame, as: UInt8.self) + (port % 32768) / 8
        return (byte, UInt8(1) << UInt8(port % 8))
    }

    static func allowed(_ task: TaskPointer, _ port: Int) -> Bool {
        guard task.pointee.ioBitmapLow != 0 else { return false }
        let (byte, mask) = bit(task, port)
        return byte.pointee & mask == 0
    }

    private static func set(_ task: TaskPointer, first: Int, count: Int, allowed: Bool) {
        for port in first..<(first + count) {
            let (byte, mask) = bit(task, port)
            if allowed { byte.pointee &= ~mask } else { byte.pointee |= mask }
        }
        if loaded == task { loaded = nil }        // copy it again before the task runs next
    }

    /// The root task's ports: all but the kernel's.
    static func grantAll(to task: TaskPointer) -> Bool {
        guard ensureBitmap(task) else { return false }
        set(task, first: 0, count: 65536, allowed: true)
        // Ports the kernel keeps: the PICs, the PIT and its gate (timer calibration), and the ACPI power
        // registers (power-off belongs to the machine capability).
        set(task, first: 0x20, count: 2, allowed: false)
        set(task, first: 0xA0, count: 2, allowed: false)
        set(task, first: 0x40, count: 4, allowed: false)
        set(task, first: 0x61, count: 1, allowed: false)
        set(task, first: 0x604, count: 1, allowed: false)
        set(task, first: 0xB000, count: 0x40, allowed: false)
        return true
    }

    /// `owner` gives `task` ports [first, first + count), which it must hold itself.
    static func give(from owner: TaskPointer, to task: TaskPointer, first: UInt64, count: UInt64) -> SyscallError {
        guard count > 0, first < 65536, count <= 65536 - first else { return .invalidArgument }
        for port in Int(first)..<Int(first + count) where !allowed(owner, port) { return .missingRight }
        guard ensureBitmap(task) else { return .quotaExceeded }
        set(task, first: Int(first), count: Int(count), allowed: true)
        return .ok
    }

    static func take(from task: TaskPointer, first: UInt64, count: UInt64) -> SyscallError {
        guard count > 0, first < 65536, count <= 65536 - first else { return .invalidArgument }
        guard task.pointee.ioBitmapLow != 0 else { return .ok }
        set(task, first: Int(first), count: Int(count), allowed: false)
        return .ok
    }
}
