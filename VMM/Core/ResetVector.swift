/// The firmware's part of a reboot. Linux on a hardware-reduced ACPI machine without EFI does not use
/// the ACPI reset register by default: `reboot_init` picks EFI (`efi_reboot_required()` is true whenever
/// the FADT says HW_REDUCED), EFI is absent, and the next way is the BIOS one — real mode and a jump to
/// the reset vector at F000:FFF0, where a PC's firmware starts a new boot. There is no firmware here, so
/// the VMM puts there what SeaBIOS does for a warm reboot: write the ACPI reset register, which the VMM
/// answers by booting the guest again. The 16 bytes sit in the BIOS area the e820 map reserves.
public enum ResetVector {
    /// F000:FFF0, the reset vector below 1 MiB (real mode; the CPU's own is its alias at 0xFFFFFFF0).
    public static let address: UInt64 = 0xF_FFF0

    /// Where the OUT's exit leaves the guest (the linear address after it): the VMM names the reset
    /// vector as the one who wrote the register.
    public static let afterOut: UInt64 = address + 6

    /// `mov dx, port; mov al, value; out dx, al`, then `hlt; jmp` back to the hlt (never reached: the
    /// OUT resets the VM), zero-padded to 16 bytes.
    public static func code(_ machine: ACPIMachine) -> InlineArray<16, UInt8> {
        var bytes = InlineArray<16, UInt8>(repeating: 0)
        bytes[0] = 0xBA                                                  // mov dx, imm16
        bytes[1] = UInt8(truncatingIfNeeded: machine.resetPort)
        bytes[2] = UInt8(truncatingIfNeeded: machine.resetPort >> 8)
        bytes[3] = 0xB0                                                  // mov al, imm8
        bytes[4] = machine.resetValue
        bytes[5] = 0xEE                                                  // out dx, al
        bytes[6] = 0xF4                                                  // hlt
        (bytes[7], bytes[8]) = (0xEB, 0xFD)                              // jmp to the hlt
        return bytes
    }
}
