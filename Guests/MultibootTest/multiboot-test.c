/* multiboot-test: a Multiboot (v1) ELF32 kernel written for Swiftlet's tests, in the manner of the test
 * programs people boot with QEMU's -kernel. It reports on COM1 what its loader gave it (the entry state,
 * the information structure: command line, memory, map, modules, loader name, and the ACPI RSDP in the
 * BIOS area) and ends through the debug-exit port (0xF4, QEMU's isa-debug-exit): the value it writes is
 * the number after "exit=" on its command line when every check passed, else 0x7F.
 * Built by tools/SwiftletTools/Guest/MultibootTestGuest.swift with the toolchain's clang and lld. */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define COM1 0x3F8
#define DEBUG_EXIT 0xF4

__attribute__((section(".multiboot"), used, aligned(4)))
static const u32 header[3] = {0x1BADB002, 0x3, (u32)-(0x1BADB002 + 0x3)};   /* page-aligned modules, memory */

__attribute__((used)) static u8 stack[4096] __attribute__((aligned(16)));

struct info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    u32 syms[4], mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
};
struct module { u32 start, end, string, reserved; };

static inline void outb(u16 port, u8 value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 value; __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port)); return value; }

static void put(char c) {
    while (!(inb(COM1 + 5) & 0x20)) {}
    outb(COM1, (u8)c);
}
static void print(const char *text) { while (*text) put(*text++); }
static void hex(u32 value) {
    print("0x");
    for (int shift = 28; shift >= 0; shift -= 4) put("0123456789abcdef"[(value >> shift) & 0xF]);
}
static void decimal(u64 value) {
    char digits[24];
    int count = 0;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value);
    while (count) put(digits[--count]);
}
/* A string from guest memory, printable bytes only, at most `limit`, up to a NUL or newline. */
static void quoted(const char *text, int limit) {
    put('"');
    for (int index = 0; index < limit && text[index] && text[index] != '\n'; index++)
        put(text[index] >= 0x20 && text[index] < 0x7F ? text[index] : '?');
    put('"');
}
static int starts(const char *text, const char *prefix) {
    while (*prefix) if (*text++ != *prefix++) return 0;
    return 1;
}

static u32 failures;
static void check(int good, const char *what) {
    if (good) return;
    failures++;
    print("multiboot-test: FAILED: ");
    print(what);
    print("\r\n");
}

void kernel_main(u32 magic, const struct info *info) {
    u32 cr0, eflags;
    u16 cs;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("pushf; pop %0" : "=r"(eflags));
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    outb(COM1 + 3, 0x03);                       /* 8N1; the VMM's UART needs no divisor */
    print("multiboot-test: entered with EAX ");
    hex(magic);
    print(", CR0 ");
    hex(cr0);
    print(", EFLAGS ");
    hex(eflags);
    print("\r\n");
    check(magic == 0x2BADB002, "EAX holds the Multiboot magic");
    check((cr0 & 0x80000001) == 1, "protected mode without paging");
    check(!(eflags & 0x200), "interrupts off");
    check(magic != 0x2BADB002 || info != 0, "EBX points at the information");
    if (magic != 0x2BADB002 || !info) goto done;

    if (info->flags & (1 << 9)) {
        print("multiboot-test: loader ");
        quoted((const char *)info->boot_loader_name, 64);
        print("\r\n");
    }
    check(info->flags & (1 << 2), "a command line");
    const char *cmdline = (info->flags & (1 << 2)) ? (const char *)info->cmdline : "";
    print("multiboot-test: command line ");
    quoted(cmdline, 200);
    print("\r\n");

    check(info->flags & 1, "memory sizes");
    u64 available = 0;
    u32 regions = 0;
    if (info->flags & (1 << 6)) {
        for (u32 at = info->mmap_addr; at < info->mmap_addr + info->mmap_length && regions < 64; regions++) {
            u32 size = *(const u32 *)at;
            u64 length = *(const u64 *)(at + 12);
            if (*(const u32 *)(at + 20) == 1) available += length;
            at += size + 4;
        }
    }
    check(regions > 0, "a memory map");
    print("multiboot-test: memory ");
    decimal(info->mem_lower);
    print(" KiB low, ");
    decimal(info->mem_upper);
    print(" KiB high; map of ");
    decimal(regions);
    print(" regions, ");
    decimal(available >> 10);
    print(" KiB available\r\n");

    u32 modules = (info->flags & (1 << 3)) ? info->mods_count : 0;
    const struct module *module = (const struct module *)info->mods_addr;
    for (u32 index = 0; index < modules && index < 16; index++) {
        print("multiboot-test: module ");
        decimal(index);
        print(" ");
        quoted((const char *)module[index].string, 100);
        print(": ");
        decimal(module[index].end - module[index].start);
        print(" bytes at ");
        hex(module[index].start);
        print(", first line ");
        quoted((const char *)module[index].start, 60);
        print("\r\n");
        check(!(module[index].start & 0xFFF), "modules page-aligned");
    }

    u32 rsdp = 0;
    for (u32 at = 0xE0000; at < 0x100000 && !rsdp; at += 16)
        if (starts((const char *)at, "RSD PTR ")) rsdp = at;
    check(rsdp != 0, "an ACPI RSDP in the BIOS area");
    print("multiboot-test: ACPI RSDP at ");
    hex(rsdp);
    print("\r\n");

done:;
    u32 status = 0;
    const char *exit = 0;
    if (magic == 0x2BADB002 && info && (info->flags & (1 << 2)))
        for (const char *at = (const char *)info->cmdline; *at; at++)
            if (starts(at, "exit=")) exit = at + 5;
    while (exit && *exit >= '0' && *exit <= '9') status = status * 10 + (u32)(*exit++ - '0');
    if (failures) status = 0x7F;
    print("multiboot-test: ");
    decimal(failures);
    print(" checks failed; writing ");
    decimal(status & 0xFF);
    print(" to the debug-exit port\r\n");
    outb(DEBUG_EXIT, (u8)status);
    for (;;) __asm__ volatile("cli; hlt");
}

/* The entry: a stack of its own, then kernel_main(EAX, EBX). */
__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "    mov $stack + 4096, %esp\n"
        "    push %ebx\n"
        "    push %eax\n"
        "    call kernel_main\n"
        "1:  hlt\n"
        "    jmp 1b\n");
