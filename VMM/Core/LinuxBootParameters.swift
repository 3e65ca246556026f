import SwiftletABI

/// The zero page (`struct boot_params`) a 64-bit Linux entry expects in RSI: the kernel's own setup
/// header, completed by the loader, plus the memory map and the ACPI root pointer. A pure function from
/// the image and the layout to one 4 KiB page.
public enum LinuxBootParameters {
    public static let size = 4096

    /// Offsets in `boot_params` (arch/x86/include/uapi/asm/bootparam.h).
    enum Offset {
        static let acpiRSDP = 0x070
        static let extRamdiskImage = 0x0C0
        static let extRamdiskSize = 0x0C4
        static let extCommandLine = 0x0C8
        static let e820Entries = 0x1E8
        static let typeOfLoader = 0x210
        static let loadFlags = 0x211
        static let ramdiskImage = 0x218
        static let ramdiskSize = 0x21C
        static let commandLine = 0x228
        static let e820Table = 0x2D0
    }
    public static let maximumE820Entries = 128

    /// Writes the zero page into `page` (at least `size` bytes): zeros, the image's setup header at 0x1F1,
    /// then what the loader fills in. `image` is the bzImage `kernel` was validated from.
    public static func build(into page: UnsafeMutableRawBufferPointer, image: UnsafeRawBufferPointer,
                             kernel: LinuxKernelImage, layout: LinuxBootLayout, rsdp: UInt64) {
        precondition(page.count >= size && image.count >= LinuxKernelImage.headerOffset + kernel.headerLength)
        page.initializeMemory(as: UInt8.self, repeating: 0)
        for index in 0..<kernel.headerLength {
            page[LinuxKernelImage.headerOffset + index] = image[LinuxKernelImage.headerOffset + index]
        }
        page.storeBytes(of: UInt64(rsdp).littleEndian, toByteOffset: Offset.acpiRSDP, as: UInt64.self)
        // 0xFF: a loader without an assigned ID. Keep LOADED_HIGH; no heap (the 64-bit entry needs none).
        page[Offset.typeOfLoader] = 0xFF
        page[Offset.loadFlags] = page[Offset.loadFlags] & 0x01
        store32(page, Offset.commandLine, Offset.extCommandLine, LinuxBootLayout.commandLine)
        if layout.initrdSize > 0 {
            store32(page, Offset.ramdiskImage, Offset.extRamdiskImage, layout.initrdAddress)
            store32(page, Offset.ramdiskSize, Offset.extRamdiskSize, layout.initrdSize)
        }
        page[Offset.e820Entries] = UInt8(LinuxBootLayout.memoryMapEntries)
        for index in 0..<LinuxBootLayout.memoryMapEntries {
            let entry = layout.memoryMapEntry(index)
            let offset = Offset.e820Table + index * 20
            page.storeBytes(of: entry.address.littleEndian, toByteOffset: offset, as: UInt64.self)
            page.storeBytes(of: entry.size.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
            page.storeBytes(of: entry.type.littleEndian, toByteOffset: offset + 16, as: UInt32.self)
        }
    }

    /// A 64-bit value split into the header's 32-bit field and boot_params' `ext_` high half.
    private static func store32(_ page: UnsafeMutableRawBufferPointer, _ low: Int, _ high: Int, _ value: UInt64) {
        page.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, toByteOffset: low, as: UInt32.self)
        page.storeBytes(of: UInt32(truncatingIfNeeded: value >> 32).littleEndian, toByteOffset: high, as: UInt32.self)
    }
}
