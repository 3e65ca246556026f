/* Multiboot2 entry: GRUB leaves us in 32-bit protected mode, paging off, EAX = magic, EBX = boot
 * information (physical). This file only does what Swift cannot: build throw-away page tables, enter long
 * mode, jump to the higher half and call kmain(magic, info). kmain replaces these tables with W^X ones. */

#define KERNEL_VMA   0xFFFFFFFF80000000
#define PHYS(x)      ((x) - KERNEL_VMA)
#define PTE_P        0x1
#define PTE_W        0x2
#define PTE_PS       0x80

/* ---- Multiboot2 header (must be 8-byte aligned in the first 32 KiB) ---- */
    .section .multiboot2, "a"
    .align 8
mb2_header:
    .long 0xE85250D6                       /* magic */
    .long 0                                /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long -(0xE85250D6 + 0 + (mb2_header_end - mb2_header))
    /* information request: command line, modules, memory map, ACPI RSDPs */
    .align 8
    .short 1, 0
    .long 8 + 4 * 5
    .long 1, 3, 6, 14, 15
    .align 8
    .short 0, 0                            /* end tag */
    .long 8
mb2_header_end:

/* ---- 32-bit bootstrap ---- */
    .section .boot.text, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    movl $boot_stack_top, %esp
    pushl %eax                             /* magic and info, for kmain (SysV: rdi, rsi) */
    pushl %ebx

    /* The loader zero-fills .bss, but these tables must be zero before use whatever it did. */
    movl $boot_pml4, %edi
    movl $(4096 * 7 / 4), %ecx
    xorl %eax, %eax
    rep stosl

    /* Long mode is required: CPUID 0x80000001 EDX bit 29. */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jnc no_long_mode
    movl %edx, %ebp                        /* EDX bit 20 = NX, used below */

    /* PML4[0]   -> identity 0..1 GiB (only while switching to the higher half)
     * PML4[256] -> direct map of physical 0..4 GiB at 0xFFFF800000000000
     * PML4[511] -> PDPT[510] -> kernel at 0xFFFFFFFF80000000 = physical 0..1 GiB */
    movl $boot_pdpt_direct + PTE_P + PTE_W, boot_pml4
    movl $boot_pdpt_direct + PTE_P + PTE_W, boot_pml4 + 256 * 8
    movl $boot_pdpt_kernel + PTE_P + PTE_W, boot_pml4 + 511 * 8
    movl $boot_pd + PTE_P + PTE_W, boot_pdpt_kernel + 510 * 8
    /* boot_pdpt_direct[i] = boot_pd + i * 4096, four directories covering 4 GiB in 2 MiB pages */
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $12, %eax
    addl $boot_pd + PTE_P + PTE_W, %eax
    movl %eax, boot_pdpt_direct(, %ecx, 8)
    incl %ecx
    cmpl $4, %ecx
    jne 1b
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $PTE_P + PTE_W + PTE_PS, %eax
    movl %eax, boot_pd(, %ecx, 8)
    movl %ecx, %eax
    shrl $11, %eax                         /* high half of (i << 21) for i >= 2048 */
    movl %eax, boot_pd + 4(, %ecx, 8)
    incl %ecx
    cmpl $2048, %ecx
    jne 2b

    movl %cr4, %eax
    orl $(1 << 5), %eax                    /* PAE */
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx                 /* EFER: LME, and NXE when the CPU has NX */
    rdmsr
    orl $(1 << 8), %eax
    btl $20, %ebp
    jnc 3f
    orl $(1 << 11), %eax
3:  wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | (1 << 5) | 1), %eax   /* PG, WP, NE, PE */
    movl %eax, %cr0

    popl %esi
    popl %edi
    lgdt boot_gdtr
    ljmp $0x08, $long_mode_entry

no_long_mode:
    movl $no_long_mode_msg, %esi
    movw $0x3F8, %dx
4:  lodsb
    testb %al, %al
    jz 5f
    outb %al, %dx
    jmp 4b
5:  hlt
    jmp 5b

    .code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $higher_half_entry, %rax
    jmp *%rax

    .section .boot.data, "a"
    .align 16
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF                /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF                /* 0x10: data */
boot_gdt_end:
boot_gdtr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt
no_long_mode_msg:
    .asciz "Swiftlet: this CPU has no long mode (x86-64); halting.\r\n"

    .section .boot.bss, "aw", @nobits
    .align 4096
boot_pml4:        .skip 4096
boot_pdpt_direct: .skip 4096
boot_pdpt_kernel: .skip 4096
boot_pd:          .skip 4096 * 4
boot_stack:       .skip 4096
boot_stack_top:

/* ---- 64-bit, higher half ---- */
    .text
    .code64
higher_half_entry:
    movabsq $__kernel_stack_top, %rsp
    xorl %ebp, %ebp
    call kmain                             /* rdi = magic, rsi = info (zero-extended) */
6:  cli
    hlt
    jmp 6b
