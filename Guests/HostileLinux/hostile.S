/* hostile-linux: a tiny bzImage that attacks the VMM's board (issue 10, "Bad input"). It programs the
 * local APIC (x2APIC MSRs and xAPIC MMIO), the IOAPIC and the UART with nonsense, sends interrupts to
 * vectors that do not exist, writes over its ACPI tables, the ROM area and its zero page, and touches
 * unbacked MMIO and ports. It reports each step on COM1 and powers off by ACPI S5 (port 0x600, _S5 = 5).
 * With `flood` or `storm` on its command line it attacks the console instead (console.S), with `virtio`
 * the disk's virtqueue (virtio.S).
 * Entered by the VMM at load address + 0x200 in long mode (64-bit boot protocol), interrupts off; all
 * code is position independent (RIP-relative) so the image needs no linking: objcopy -O binary. */

#define COM1        0x3F8
#define SLEEP_CTL   0x600
#define LOAD        0x1000000

/* one probe, then the UART made sane again (probes leave it in any state) and the probe's report line */
.macro PROBE function, message
    call \function
    call uart_sane
    lea \message(%rip), %rdi
    call report
.endm

    .text
    .code16
/* ---- the boot sector and setup header (file offsets 0x000-0x3FF: setup_sects = 1) ---- */
boot:
    .org 0x1F1
    .byte 1                         /* setup_sects */
    .org 0x1FE
    .word 0xAA55
    .byte 0xEB, header_end - boot - 0x202 /* jump over the header: its length */
    .ascii "HdrS"
    .word 0x020F                    /* protocol 2.15 */
    .org 0x211
    .byte 0x01                      /* loadflags: LOADED_HIGH */
    .org 0x22C
    .long 0x7FFFFFFF                /* initrd_addr_max */
    .long 0x200000                  /* kernel_alignment */
    .byte 0                         /* relocatable_kernel: no */
    .byte 0
    .word 0x0001                    /* xloadflags: XLF_KERNEL_64 */
    .long 255                       /* cmdline_size */
    .org 0x258
    .quad LOAD                      /* pref_address */
    .long 0x100000                  /* init_size: 1 MiB */
header_end:
    .org 0x400

/* ---- the protected-mode kernel, loaded at LOAD; the 64-bit entry is at LOAD + 0x200 ---- */
    .code64
kernel:
    .org 0x600
entry64:
    cli
    lea stack_top(%rip), %rsp
    mov 0x228(%rsi), %eax           /* the command line (zero page: cmd_line_ptr, ext_cmd_line_ptr) */
    mov 0x0C8(%rsi), %edx
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, cmdline(%rip)
    call setup_idt
    call uart_sane
    lea w_flood(%rip), %rdi         /* a console attack instead of the probes (console.S) */
    call cmdline_has
    jnz flood
    lea w_storm(%rip), %rdi
    call cmdline_has
    jnz storm
    lea w_virtio(%rip), %rdi
    call cmdline_has
    jnz virtio_attack
    lea m_start(%rip), %rdi
    call puts
    lea m_forged(%rip), %rdi        /* the verdict lines, forged: the harness must not believe them */
    call puts

    PROBE probe_x2apic, m_x2apic
    PROBE probe_ioapic, m_ioapic
    PROBE probe_uart, m_uart
    PROBE irq_window, m_window
    PROBE probe_xapic, m_xapic
    PROBE probe_memory, m_memory
    PROBE probe_ports, m_ports

    lea m_done(%rip), %rdi
    call puts
power_off:
    call uart_drain
    mov $SLEEP_CTL, %dx
    mov $((5 << 2) | 0x20), %al     /* SLP_TYP = _S5 (5), SLP_EN */
    out %al, %dx
    lea m_alive(%rip), %rdi          /* only if the VMM ignored the power-off */
    call puts
1:  hlt
    jmp 1b

/* ---- x2APIC MSRs ---- */
probe_x2apic:
    /* every MSR of the x2APIC range: read, write all ones, write a pattern (ICR and SELF IPI aside) */
    mov $0x800, %ebx
1:  mov %ebx, %ecx
    rdmsr
    cmp $0x830, %ebx
    je 2f
    cmp $0x83F, %ebx
    je 2f
    mov %ebx, %ecx
    mov $0xFFFFFFFF, %eax
    mov $0xFFFFFFFF, %edx
    wrmsr
    mov %ebx, %ecx
    mov $0x12345678, %eax
    mov $0xDEADBEEF, %edx
    wrmsr
    mov %ebx, %ecx
    rdmsr
2:  inc %ebx
    cmp $0x900, %ebx
    jb 1b
    /* the spurious vector register: garbage, disabled, enabled with vector 0x0F (illegal), then 0xFF */
    mov $0x80F, %ecx
    mov $0xFFFFFFFF, %eax
    xor %edx, %edx
    wrmsr
    mov $0x80F, %ecx
    mov $0x10F, %eax
    wrmsr
    mov $0x80F, %ecx
    mov $0x1FF, %eax
    wrmsr
    /* ICR: fixed self IPIs (shorthand self, and destination 0) to vectors 0-15 and 255 */
    xor %ebx, %ebx
3:  mov $0x830, %ecx
    mov %ebx, %eax
    or $(1 << 18), %eax             /* shorthand: self */
    xor %edx, %edx
    wrmsr
    mov $0x830, %ecx
    mov %ebx, %eax
    xor %edx, %edx                  /* destination 0: this CPU */
    wrmsr
    mov $0x83F, %ecx                /* SELF IPI register */
    mov %ebx, %eax
    wrmsr
    inc %ebx
    cmp $16, %ebx
    jb 3b
    cmp $256, %ebx
    je 4f
    mov $255, %ebx
    jmp 3b
4:  /* ICR nonsense: every delivery mode, all shorthands, to nonexistent destinations; all ones */
    xor %ebx, %ebx
5:  mov $0x830, %ecx
    mov %ebx, %eax
    shl $8, %eax
    or $0x000C0031, %eax            /* shorthand: all excluding self, vector 0x31 */
    mov $0xFFFFFFFF, %edx           /* broadcast destination */
    wrmsr
    mov $0x830, %ecx
    mov %ebx, %eax
    shl $8, %eax
    or $0x32, %eax
    mov $7, %edx                    /* destination 7: no such CPU */
    wrmsr
    inc %ebx
    cmp $8, %ebx
    jb 5b
    mov $0x830, %ecx
    mov $0xFFFFFFFF, %eax
    mov $0xFFFFFFFF, %edx
    wrmsr
    /* the timer: divide extremes, initial count extremes, every mode incl. the reserved one, vector 0 */
    xor %ebx, %ebx
6:  mov $0x83E, %ecx                /* divide configuration */
    mov %ebx, %eax
    xor %edx, %edx
    wrmsr
    mov $0x832, %ecx                /* LVT timer: mode ebx & 3, vector 0x20 + ebx */
    mov %ebx, %eax
    and $3, %eax
    shl $17, %eax
    add $0x20, %eax
    add %ebx, %eax
    wrmsr
    mov $0x838, %ecx                /* initial count */
    mov $1, %eax
    wrmsr
    mov $0x838, %ecx
    mov $0xFFFFFFFF, %eax
    wrmsr
    mov $0x839, %ecx                /* current count (read only) */
    rdmsr
    mov $0x6E0, %ecx                /* TSC deadline: 1, all ones, 0 */
    mov $1, %eax
    xor %edx, %edx
    wrmsr
    mov $0x6E0, %ecx
    mov $0xFFFFFFFF, %eax
    mov $0xFFFFFFFF, %edx
    wrmsr
    mov $0x6E0, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    inc %ebx
    cmp $16, %ebx
    jb 6b
    mov $0x832, %ecx                /* vector 0, unmasked, periodic, count 1 */
    mov $(1 << 17), %eax
    xor %edx, %edx
    wrmsr
    mov $0x838, %ecx
    mov $1, %eax
    wrmsr
    /* every LVT: all ones, then vector 0 unmasked in each delivery mode */
    mov $0x82F, %ebx
7:  mov %ebx, %ecx
    mov $0xFFFFFFFF, %eax
    xor %edx, %edx
    wrmsr
    mov %ebx, %ecx
    mov $0x00000700, %eax
    wrmsr
    inc %ebx
    cmp $0x838, %ebx
    jb 7b
    /* EOI with nothing in service (and a nonzero EOI: #GP) */
    mov $20, %ebx
8:  mov $0x80B, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    dec %ebx
    jnz 8b
    mov $0x80B, %ecx
    mov $1, %eax
    wrmsr
    /* what must fault as on hardware: WRMSR to the ISR (read-only) and to reserved 0x800, RDMSR of EOI */
    mov gp_count(%rip), %rbx
    mov $0x810, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    mov $0x800, %ecx
    wrmsr
    mov $0x80B, %ecx
    rdmsr
    lea m_faulted(%rip), %rdi
    call puts
    mov gp_count(%rip), %rax
    sub %rbx, %rax
    call putdec
    lea m_of3(%rip), %rdi
    call puts
    /* sane again: enabled, TPR 0, every LVT masked, timer stopped */
    jmp apic_sane

apic_sane:                          /* faults on nothing: no CMCI (0x82F, beyond the 6 LVTs the version names) */
    mov $0x80F, %ecx
    mov $0x1FF, %eax
    xor %edx, %edx
    wrmsr
    mov $0x808, %ecx
    xor %eax, %eax
    wrmsr
    mov $0x832, %ebx
1:  mov %ebx, %ecx
    mov $0x10000, %eax
    xor %edx, %edx
    wrmsr
    inc %ebx
    cmp $0x838, %ebx
    jb 1b
    mov $0x838, %ecx
    xor %eax, %eax
    wrmsr
    ret

/* ---- the IOAPIC at 0xFEC00000: IOREGSEL at +0, IOWIN at +0x10 ---- */
probe_ioapic:
    mov $0xFEC00000, %edi
    /* every index: write all ones, read back; then index garbage */
    xor %ebx, %ebx
1:  movl %ebx, (%rdi)
    movl $0xFFFFFFFF, 0x10(%rdi)
    movl 0x10(%rdi), %eax
    inc %ebx
    cmp $0x100, %ebx
    jb 1b
    movl $0xFFFFFFFF, (%rdi)
    movl 0x10(%rdi), %eax
    movl $0xFFFFFFFF, 0x10(%rdi)
    /* odd sizes and offsets, the EOI register (+0x40), the rest of the page */
    movb $0x55, 1(%rdi)
    movw $0x1234, 0x13(%rdi)
    movb 0x11(%rdi), %al
    movw 0x12(%rdi), %ax
    movl $0x00000033, 0x40(%rdi)
    movl $0xFFFFFFFF, 0x20(%rdi)
    movq $-1, 0x18(%rdi)
    movq 0x10(%rdi), %rax
    movl $0xFFFFFFFF, 0xFFC(%rdi)
    movl 0xFFC(%rdi), %eax
    /* redirection entries: vectors 0-15, every delivery mode, nonsense destinations, unmasked */
    xor %ebx, %ebx
2:  lea 0x10(,%rbx,2), %eax         /* low dword of entry ebx */
    movl %eax, (%rdi)
    mov %ebx, %eax
    and $15, %eax                   /* vector 0-15 */
    mov %ebx, %ecx
    and $7, %ecx
    shl $8, %ecx                    /* delivery mode */
    or %ecx, %eax
    test $1, %ebx
    jz 3f
    or $0x8000, %eax                /* odd pins level triggered */
3:  movl %eax, 0x10(%rdi)
    lea 0x11(,%rbx,2), %eax         /* high dword: destination */
    movl %eax, (%rdi)
    movl $0xFF000000, 0x10(%rdi)
    inc %ebx
    cmp $24, %ebx
    jb 2b
    /* trigger: the UART's pin (4) to vector 4, level; the UART raises its line (THR empty) */
    movl $0x18, (%rdi)
    movl $0x00008004, 0x10(%rdi)
    movl $0x19, (%rdi)
    movl $0x00000000, 0x10(%rdi)
    mov $(COM1 + 4), %dx
    mov $0x0B, %al                  /* MCR: DTR, RTS, OUT2 */
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0x0F, %al                  /* IER: every source */
    out %al, %dx
    mov $(COM1 + 2), %dx
    in %dx, %al                     /* IIR: acknowledges THRE */
    mov $(COM1 + 1), %dx
    xor %al, %al
    out %al, %dx
    /* EOIs for vectors nothing delivered */
    movl $0x00000004, 0x40(%rdi)
    movl $0x000000FF, 0x40(%rdi)
    /* mask every pin again */
    xor %ebx, %ebx
4:  lea 0x10(,%rbx,2), %eax
    movl %eax, (%rdi)
    movl $0x00010000, 0x10(%rdi)
    inc %ebx
    cmp $24, %ebx
    jb 4b
    ret

/* ---- the UART: every register with nonsense; reads of every port ---- */
probe_uart:
    mov $(COM1 + 3), %dx
    mov $0x80, %al                  /* DLAB */
    out %al, %dx
    mov $COM1, %dx                  /* divisor 0 */
    xor %al, %al
    out %al, %dx
    inc %dx
    out %al, %dx
    mov $(COM1 + 3), %dx
    mov $0xFF, %al                  /* LCR all ones (DLAB, break, ...) */
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0xFF, %al                  /* IER all bits (reserved too) */
    out %al, %dx
    mov $(COM1 + 3), %dx
    mov $0x03, %al
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0xFF, %al
    out %al, %dx
    mov $(COM1 + 2), %dx            /* FCR: all ones, 0, enable+clear */
    out %al, %dx
    xor %al, %al
    out %al, %dx
    mov $0x07, %al
    out %al, %dx
    mov $(COM1 + 4), %dx            /* MCR: loopback, then all ones */
    mov $0x10, %al
    out %al, %dx
    mov $COM1, %dx                  /* in loopback: bytes to the receiver */
    mov $40, %ecx
1:  mov $'L', %al
    out %al, %dx
    loop 1b
    mov $(COM1 + 4), %dx
    mov $0xFF, %al
    out %al, %dx
    mov $(COM1 + 5), %dx            /* LSR, MSR: read-only, written */
    out %al, %dx
    inc %dx
    out %al, %dx
    mov $(COM1 + 7), %dx            /* scratch */
    mov $0xA5, %al
    out %al, %dx
    in %dx, %al
    /* every port, every size, several times */
    mov $8, %ebx
2:  mov $COM1, %dx
3:  in %dx, %al
    in %dx, %ax
    in %dx, %eax
    inc %dx
    cmp $(COM1 + 8), %dx
    jb 3b
    dec %ebx
    jnz 2b
    /* wide writes, one straddling the UART's last port */
    mov $COM1, %dx
    mov $0x4141, %ax
    out %ax, %dx
    mov $(COM1 + 6), %dx
    mov $0xFFFFFFFF, %eax
    out %eax, %dx
    mov $(COM1 + 7), %dx
    out %eax, %dx
    mov $(COM1 + 1), %dx
    xor %al, %al                    /* IER off again */
    out %al, %dx
    ret

/* 115200 8N1, FIFO on, loopback off, no interrupts */
uart_sane:
    mov $(COM1 + 1), %dx
    xor %al, %al
    out %al, %dx
    mov $(COM1 + 3), %dx
    mov $0x80, %al
    out %al, %dx
    mov $COM1, %dx
    mov $1, %al
    out %al, %dx
    inc %dx
    xor %al, %al
    out %al, %dx
    mov $(COM1 + 3), %dx
    mov $0x03, %al
    out %al, %dx
    mov $(COM1 + 2), %dx
    mov $0x07, %al
    out %al, %dx
    mov $(COM1 + 4), %dx
    mov $0x03, %al
    out %al, %dx
    ret

/* ---- interrupts with IF=1: a fast periodic timer, self IPIs, the UART through the IOAPIC ---- */
irq_window:
    call apic_sane
    mov $0x832, %ecx                /* periodic, vector 0x30, every 2500 bus ticks (not a livelock) */
    mov $(0x30 | (1 << 17)), %eax
    xor %edx, %edx
    wrmsr
    mov $0x83E, %ecx                /* divide by 1 */
    mov $0x0B, %eax
    wrmsr
    mov $0x838, %ecx
    mov $2500, %eax
    wrmsr
    mov $0x83F, %ecx                /* self IPIs: 0x40, 0x41, 0xFF, and 3 (illegal) */
    mov $0x40, %eax
    wrmsr
    mov $0x83F, %ecx
    mov $0x41, %eax
    wrmsr
    mov $0x83F, %ecx
    mov $0xFF, %eax
    wrmsr
    mov $0x83F, %ecx
    mov $0x03, %eax
    wrmsr
    mov $0xFEC00000, %edi           /* UART pin 4 -> vector 0x50, level, unmasked */
    movl $0x19, (%rdi)
    movl $0, 0x10(%rdi)
    movl $0x18, (%rdi)
    movl $0x00008050, 0x10(%rdi)
    mov $(COM1 + 4), %dx
    mov $0x0B, %al
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0x02, %al                  /* THRE interrupt: stays asserted */
    out %al, %dx
    movb $1, in_window(%rip)        /* from here to cli, vectors 0-31 are external interrupts */
    sti
    mov $2000000, %ecx
1:  pause
    loop 1b
    cli
    movb $0, in_window(%rip)
    mov $(COM1 + 1), %dx
    xor %al, %al
    out %al, %dx
    movl $0x18, (%rdi)
    movl $0x00010000, 0x10(%rdi)
    call apic_sane
    ret

/* ---- xAPIC: illegal APIC base transitions, then MMIO at 0xFEE00000 with odd sizes and offsets ---- */
probe_xapic:
    mov $0x1B, %ecx
    rdmsr
    mov %eax, %ebx                  /* keep the base */
    and $0xFFFFF000, %ebx
    mov $0x1B, %ecx                 /* x2APIC -> xAPIC directly: illegal (#GP) */
    mov %ebx, %eax
    or $0x800, %eax
    xor %edx, %edx
    wrmsr
    mov $0x1B, %ecx                 /* reserved bits */
    mov $0xFFFFFFFF, %eax
    mov $0xFFFFFFFF, %edx
    wrmsr
    mov $0x1B, %ecx                 /* disable, then xAPIC */
    mov %ebx, %eax
    xor %edx, %edx
    wrmsr
    mov $0x1B, %ecx
    mov %ebx, %eax
    or $0x800, %eax
    wrmsr
    mov $0xFEE00000, %edi
    xor %ebx, %ebx                  /* every register: all ones, read (ICR aside) */
1:  cmp $0x300, %ebx
    je 2f
    movl $0xFFFFFFFF, (%rdi,%rbx)
2:  movl (%rdi,%rbx), %eax
    add $0x10, %ebx
    cmp $0x1000, %ebx
    jb 1b
    movl $0x000C4031, 0x300(%rdi)   /* ICR: all but self, vector 0x31 */
    movl $0x0000000F, 0x300(%rdi)   /* fixed, vector 15, destination 0 */
    movb $0xFF, 0x0F1(%rdi)         /* odd offsets and sizes */
    movw $0xFFFF, 0x0F2(%rdi)
    movb 0x023(%rdi), %al
    movw 0x321(%rdi), %ax
    movl $0xFFFFFFFF, 0x0F5(%rdi)
    movq $-1, 0x380(%rdi)
    movq 0x380(%rdi), %rax
    movl 0xFFD(%rdi), %eax          /* straddles the page's end */
    movl $0, 0x0B0(%rdi)            /* EOI, nothing in service */
    movl $0x1FF, 0x0F0(%rdi)        /* enabled again */
    mov $0x1B, %ecx                 /* back to x2APIC */
    mov $0xFEE00C00, %eax
    xor %edx, %edx
    wrmsr
    call apic_sane
    ret

/* ---- guest RAM the VMM wrote: ACPI tables, ROM area, zero page; unbacked MMIO ---- */
probe_memory:
    mov $0xE0000, %edi              /* the ACPI tables and the whole ROM area */
    mov $0x20000, %ecx
    mov $0xCC, %al
    cld
    rep stosb
    mov $0x7000, %edi               /* the zero page */
    mov $0x1000, %ecx
    mov $0xFF, %al
    rep stosb
    lea unbacked(%rip), %rsi
1:  mov (%rsi), %rdi
    test %rdi, %rdi
    jz 2f
    movl $0xFFFFFFFF, (%rdi)
    movb $0x5A, 1(%rdi)
    movw $0x5A5A, 2(%rdi)
    movq $-1, 8(%rdi)
    movl (%rdi), %eax
    movzbl 3(%rdi), %eax
    movq 8(%rdi), %rax
    add $8, %rsi
    jmp 1b
2:  ret

/* ---- ports: every port read once (none powers off on a read), unbacked ones written ---- */
probe_ports:
    xor %edx, %edx
1:  in %dx, %al
    inc %dx
    jnz 1b
    lea ports(%rip), %rsi
2:  movzwl (%rsi), %edx
    test %edx, %edx
    jz 3f
    mov $0xFFFFFFFF, %eax
    out %al, %dx
    out %ax, %dx
    out %eax, %dx
    in %dx, %eax
    add $2, %rsi
    jmp 2b
3:  ret

/* ---- interrupts and exceptions ---- */
setup_idt:
    lea idt(%rip), %rdi
    lea stubs(%rip), %rsi
    xor %ecx, %ecx
1:  mov %rsi, %rax
    movw %ax, (%rdi)                /* offset 15:0 */
    movw %cs, %dx
    movw %dx, 2(%rdi)
    movw $0x8E00, 4(%rdi)           /* present, interrupt gate */
    shr $16, %rax
    movw %ax, 6(%rdi)
    shr $16, %rax
    movl %eax, 8(%rdi)
    movl $0, 12(%rdi)
    add $16, %rdi
    add $16, %rsi                   /* each stub is 16 bytes */
    inc %ecx
    cmp $256, %ecx
    jb 1b
    lea idtr(%rip), %rax
    lea idt(%rip), %rdx
    mov %rdx, 2(%rax)
    lidt (%rax)
    ret

    .balign 16
stubs:
    .set vec, 0
    .rept 256
    .balign 16
    pushq $vec
    jmp interrupt
    .set vec, vec + 1
    .endr

/* stack: vector, [error code], RIP, CS, RFLAGS, RSP, SS */
interrupt:
    push %rax
    push %rcx
    push %rdx
    mov 24(%rsp), %rax
    cmp $32, %rax
    jae external
    cmpb $0, in_window(%rip)
    jne low_vector
    cmp $2, %rax
    je nmi
    cmp $13, %rax
    jne unexpected
    incq gp_count(%rip)             /* #GP from RDMSR/WRMSR (2 bytes): skip it */
    addq $2, 40(%rsp)
    pop %rdx
    pop %rcx
    pop %rax
    add $16, %rsp
    iretq
nmi:
    incq nmi_count(%rip)
    jmp done_noeoi
low_vector:                         /* an external interrupt on an exception vector */
    incq low_count(%rip)
    jmp eoi
external:
    incq irq_count(%rip)
    cmp $0x30, %rax
    jne 1f
    incq timer_count(%rip)
1:  cmp $0x50, %rax
    jne eoi
    incq uart_count(%rip)
    mov $(COM1 + 2), %dx            /* IIR */
    in %dx, %al
eoi:
    mov $0x80B, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
done_noeoi:
    pop %rdx
    pop %rcx
    pop %rax
    add $8, %rsp
    iretq
unexpected:
    call uart_sane
    lea m_unexpected(%rip), %rdi
    call puts
    mov 24(%rsp), %rax
    call puthex
    lea m_rip(%rip), %rdi
    call puts
    mov 32(%rsp), %rax
    call puthex
    mov $' ', %al
    call putc
    mov 40(%rsp), %rax
    call puthex
    mov $'\n', %al
    call putc
    call uart_drain
    mov $SLEEP_CTL, %dx
    mov $((5 << 2) | 0x20), %al
    out %al, %dx
1:  hlt
    jmp 1b

#include "console.S"
#include "virtio.S"

/* ---- output ---- */
/* "<rdi> done; #GP so far N, interrupts N (timer N, uart N), on exception vectors N, NMIs N" */
report:
    call puts
    lea m_gp(%rip), %rdi
    call puts
    mov gp_count(%rip), %rax
    call putdec
    lea m_irq(%rip), %rdi
    call puts
    mov irq_count(%rip), %rax
    call putdec
    lea m_timer(%rip), %rdi
    call puts
    mov timer_count(%rip), %rax
    call putdec
    lea m_uartirq(%rip), %rdi
    call puts
    mov uart_count(%rip), %rax
    call putdec
    lea m_low(%rip), %rdi
    call puts
    mov low_count(%rip), %rax
    call putdec
    lea m_nmi(%rip), %rdi
    call puts
    mov nmi_count(%rip), %rax
    call putdec
    mov $'\n', %al
    jmp putc

putc:                               /* al; waits for THR empty (bounded) */
    push %rcx
    push %rdx
    push %rax
    mov $100000, %ecx
    mov $(COM1 + 5), %dx
1:  in %dx, %al
    test $0x20, %al
    jnz 2f
    loop 1b
2:  pop %rax
    mov $COM1, %dx
    out %al, %dx
    pop %rdx
    pop %rcx
    ret

uart_drain:                         /* waits for TEMT (bounded) */
    mov $1000000, %ecx
    mov $(COM1 + 5), %dx
1:  in %dx, %al
    test $0x40, %al
    jnz 2f
    loop 1b
2:  ret

puts:                               /* rdi: NUL-terminated */
    mov (%rdi), %al
    test %al, %al
    jz 1f
    call putc
    inc %rdi
    jmp puts
1:  ret

puthex:                             /* rax, 16 digits */
    push %rbx
    mov %rax, %rbx
    mov $16, %esi
1:  rol $4, %rbx
    mov %ebx, %eax
    and $15, %eax
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '9' - 1), %al
2:  call putc
    dec %esi
    jnz 1b
    pop %rbx
    ret

putdec:                             /* rax, unsigned decimal */
    push %rbx
    lea numbuf_end(%rip), %rdi
    movb $0, (%rdi)
    mov $10, %ebx
1:  xor %edx, %edx
    div %rbx
    add $'0', %dl
    dec %rdi
    mov %dl, (%rdi)
    test %rax, %rax
    jnz 1b
    call puts
    pop %rbx
    ret

m_start:      .asciz "hostile-linux: started; probing the board\n"
m_forged:     .asciz "\r\nkernel: powering off: all tasks passed\r\nKERNEL PANIC: forged by the guest\r\nkernel: halted\r\n"
m_x2apic:     .asciz "hostile-linux: x2APIC nonsense"
m_ioapic:     .asciz "hostile-linux: IOAPIC nonsense"
m_uart:       .asciz "hostile-linux: UART nonsense"
m_window:     .asciz "hostile-linux: interrupt window"
m_xapic:      .asciz "hostile-linux: xAPIC MMIO nonsense"
m_memory:     .asciz "hostile-linux: ACPI, ROM, zero page and unbacked MMIO writes"
m_ports:      .asciz "hostile-linux: every port read, unbacked ports written"
m_gp:         .asciz " done; #GP so far "
m_irq:        .asciz ", interrupts "
m_timer:      .asciz " (timer "
m_uartirq:    .asciz ", uart "
m_low:        .asciz "), on exception vectors "
m_nmi:        .asciz ", NMIs "
m_faulted:    .asciz "hostile-linux: x2APIC ISR write, reserved MSR write and EOI read faulted (#GP): "
m_of3:        .asciz " of 3\n"
m_done:       .asciz "hostile-linux: all probes done\n"
m_alive:      .asciz "hostile-linux: still running after the ACPI power-off\n"
m_unexpected: .asciz "hostile-linux: unexpected exception "
m_rip:        .asciz " stack "

    .balign 8
unbacked:     .quad 0xFED00000, 0xFEB00000, 0xE0000000, 0xF0000000, 0xFFFFFFF0, 0xFEE01000, 0xFEC01000, 0x10000000, 0xC0000000, 0
ports:        .word 0x20, 0x21, 0xA0, 0xA1, 0x40, 0x43, 0x61, 0x80, 0x92, 0xCF8, 0xCFC, 0x402, 0x510, 0x601, 0x603, 0x604, 0xB004, 0x8900, 0x2F8, 0x3F7, 0xFFFC, 0

    .balign 8
gp_count:     .quad 0
irq_count:    .quad 0
timer_count:  .quad 0
uart_count:   .quad 0
low_count:    .quad 0
nmi_count:    .quad 0
in_window:    .byte 0
numbuf:       .space 24
numbuf_end:   .byte 0
    .balign 16
idtr:         .word 256 * 16 - 1
              .quad 0
    .balign 16
idt:          .space 256 * 16
    .balign 16
              .space 8192
stack_top:
