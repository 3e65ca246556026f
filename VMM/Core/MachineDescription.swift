import SwiftletABI

/// The VM the root task described on the VMM's description page (`VirtualMachineDescription`), checked
/// again here: the page comes from another task, so every window must lie where the contract puts it,
/// inside its window, and every size must be one the VMM can use.
public struct MachineDescription {
    public let ramAddress: UInt64, ramBytes: UInt64
    public let kernelAddress: UInt64, kernelBytes: UInt64
    public let initrdAddress: UInt64, initrdBytes: UInt64
    public let bootargsBytes: Int
    /// The Multiboot modules: address and size of each (`moduleCount` of them, none with an initrd).
    public let modules: InlineArray<8, (address: UInt64, bytes: UInt64)>
    public let moduleCount: Int
    /// Nanoseconds since 1970 at TSC 0 (WallClock), 0 when the kernel read no clock: any value is a time.
    public let wallClock: UInt64
    /// The configuration node's path, for messages ("/tasks/vmm/vm@0").
    public let name: LogLine

    public enum Failure: Error, Equatable {
        case noMagic, badRAM, badKernel, badInitrd, badBootargs, badModules

        public var description: StaticString {
            switch self {
            case .noMagic: return "the description page has no SWIFTVM1 magic"
            case .badRAM: return "guest RAM is not a non-empty multiple of 2 MiB at the RAM window"
            case .badKernel: return "the kernel module is missing or lies outside the module window"
            case .badInitrd: return "the initrd module lies outside the module window"
            case .badBootargs: return "bootargs is longer than the description page holds"
            case .badModules: return "more than 8 modules, a module outside the module window, or modules beside an initrd"
            }
        }
    }

    /// `words`: the description page (4096 bytes).
    public init(page words: UnsafePointer<UInt64>) throws(Failure) {
        typealias D = VirtualMachineDescription
        guard words[D.Word.magic] == D.magic else { throw .noMagic }
        let nameBytes = UnsafeRawPointer(words + D.Word.name)
        var name = LogLine()
        for index in 0..<D.nameBytes {
            let byte = nameBytes.load(fromByteOffset: index, as: UInt8.self)
            if byte == 0 { break }
            name.append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
        }
        self.name = name
        ramAddress = words[D.Word.ramAddress]
        ramBytes = words[D.Word.ramBytes]
        guard ramAddress == D.guestRAM, ramBytes > 0, ramBytes % (2 << 20) == 0, ramBytes <= D.maximumRAMBytes else { throw .badRAM }
        kernelAddress = words[D.Word.kernelAddress]
        kernelBytes = words[D.Word.kernelBytes]
        guard kernelBytes > 0, Self.inModuleWindow(kernelAddress, kernelBytes) else { throw .badKernel }
        initrdAddress = words[D.Word.initrdAddress]
        initrdBytes = words[D.Word.initrdBytes]
        guard initrdBytes == 0 || Self.inModuleWindow(initrdAddress, initrdBytes) else { throw .badInitrd }
        let bootargs = words[D.Word.bootargsBytes]
        guard bootargs <= UInt64(D.maximumBootargsBytes), bootargs <= UInt64(4096 - D.bootargsOffset) else { throw .badBootargs }
        bootargsBytes = Int(bootargs)
        let count = words[D.Word.moduleCount]
        guard count <= UInt64(D.maximumModules), count == 0 || initrdBytes == 0 else { throw .badModules }
        var modules = InlineArray<8, (address: UInt64, bytes: UInt64)>(repeating: (0, 0))
        for index in 0..<Int(count) {
            let address = words[D.Word.modules + 2 * index], bytes = words[D.Word.modules + 2 * index + 1]
            // An empty module is a module (Multiboot allows it); its address must still be in the window.
            guard Self.inModuleWindow(address, bytes) else { throw .badModules }
            modules[index] = (address, bytes)
        }
        self.modules = modules
        moduleCount = Int(count)
        wallClock = words[D.Word.wallClock]
    }

    /// Module `index`'s name as the page holds it (up to 63 bytes, NUL-padded): the string the guest gets.
    public static func moduleName(_ index: Int, page: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        typealias D = VirtualMachineDescription
        let start = page + D.moduleNamesOffset + index * D.moduleNameBytes
        var length = 0
        while length < D.moduleNameBytes - 1 && start.load(fromByteOffset: length, as: UInt8.self) != 0 { length += 1 }
        return UnsafeRawBufferPointer(start: start, count: length)
    }

    /// Page-aligned, inside the module window (which ends where guest RAM's begins).
    static func inModuleWindow(_ address: UInt64, _ bytes: UInt64) -> Bool {
        let window = VirtualMachineDescription.modules, end = VirtualMachineDescription.guestRAM
        return address & 0xFFF == 0 && address >= window && address < end && bytes <= end - address
    }
}
