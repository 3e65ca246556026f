/* Small routines that need exact instruction sequences. */
    .text
    .code64

/* The SysV callee-saved registers, around guest entries (the guest may leave anything in them). */
.macro SAVE_CALLEE_SAVED
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm

.macro RESTORE_CALLEE_SAVED
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
.endm

/* void x86_reload_segments(uint16_t code, uint16_t data): far return into the new code selector. */
    .global x86_reload_segments
x86_reload_segments:
    movw %si, %ds
    movw %si, %es
    movw %si, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    popq %rax                              /* return address */
    movzwq %di, %rdi
    pushq %rdi
    pushq %rax
    lretq

/* UD0 rather than UD2, so the report does not mistake it for a failed Swift runtime check. */
    .global x86_trigger_invalid_opcode
x86_trigger_invalid_opcode:
    .byte 0x0F, 0xFF, 0xC0

/* A load from a non-canonical address. */
    .global x86_trigger_general_protection
x86_trigger_general_protection:
    movabsq $0x8000000000000000, %rax
    movq (%rax), %rax
    ret

    .global x86_trigger_divide_error
x86_trigger_divide_error:
    xorl %ecx, %ecx
    movl $1, %eax
    xorl %edx, %edx
    divl %ecx
    ret

/* Recurse until the guard page below the kernel stack is hit. */
    .global x86_trigger_stack_overflow
x86_trigger_stack_overflow:
    subq $1024, %rsp
    movq $0, (%rsp)
    call x86_trigger_stack_overflow
    ret

/* int x86_rdmsr_safe(uint32_t msr, uint64_t *value): 0, or -1 when the MSR does not exist (#GP).
 * The #GP handler recognises a fault at x86_rdmsr_safe_fault and resumes at x86_rdmsr_safe_recover. */
    .global x86_rdmsr_safe, x86_rdmsr_safe_fault, x86_rdmsr_safe_recover
x86_rdmsr_safe:
    movl %edi, %ecx
x86_rdmsr_safe_fault:
    rdmsr
    movl %eax, %eax
    shlq $32, %rdx
    orq %rdx, %rax
    movq %rax, (%rsi)
    xorl %eax, %eax
    ret
x86_rdmsr_safe_recover:
    movl $-1, %eax
    ret

/* void x86_svm_run(uint64_t vmcb_physical): enter the guest described by the VMCB until its next exit.
 * The guest's general registers other than RAX are not kept (the self-test guest needs none); the host's
 * callee-saved registers are. GIF is cleared around VMRUN as the APM recommends. */
    .global x86_svm_run
x86_svm_run:
    SAVE_CALLEE_SAVED
    movq %rdi, %rax
    clgi
    vmrun
    stgi
    RESTORE_CALLEE_SAVED
    ret

/* uint64_t x86_vmx_enter(uint64_t resume): VMLAUNCH (resume = 0) or VMRESUME the current VMCS. The host
 * state fields RSP and RIP are set here, so the exit lands at vmx_exit_landing with this stack. Returns
 * 0 after a VM exit, 1 if the instruction itself failed (see the VM-instruction error field). */
    .global x86_vmx_enter
x86_vmx_enter:
    SAVE_CALLEE_SAVED
    movl $0x6C14, %eax                     /* HOST_RSP */
    vmwrite %rsp, %rax
    leaq vmx_exit_landing(%rip), %rdx
    movl $0x6C16, %eax                     /* HOST_RIP */
    vmwrite %rdx, %rax
    testq %rdi, %rdi
    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  movl $1, %eax
    jmp 3f
vmx_exit_landing:
    xorl %eax, %eax
3:  RESTORE_CALLEE_SAVED
    ret

/* The guest's general registers as GuestState keeps them (Kernel/Interface/GuestState.swift): RAX, RCX,
 * RDX, RBX, RBP, RSI, RDI, R8-R15 at these offsets. RSP, RIP and RFLAGS live in the VMCS/VMCB. */
#define G_RAX 0
#define G_RCX 8
#define G_RDX 16
#define G_RBX 24
#define G_RBP 32
#define G_RSI 40
#define G_RDI 48
#define G_R8 56
#define G_R9 64
#define G_R10 72
#define G_R11 80
#define G_R12 88
#define G_R13 96
#define G_R14 104
#define G_R15 112

/* Loads the guest registers other than RAX and RDI from the area at RDI, then RDI itself. */
.macro LOAD_GUEST_REGISTERS_BUT_RAX
    movq G_RCX(%rdi), %rcx
    movq G_RDX(%rdi), %rdx
    movq G_RBX(%rdi), %rbx
    movq G_RBP(%rdi), %rbp
    movq G_RSI(%rdi), %rsi
    movq G_R8(%rdi), %r8
    movq G_R9(%rdi), %r9
    movq G_R10(%rdi), %r10
    movq G_R11(%rdi), %r11
    movq G_R12(%rdi), %r12
    movq G_R13(%rdi), %r13
    movq G_R14(%rdi), %r14
    movq G_R15(%rdi), %r15
    movq G_RDI(%rdi), %rdi
.endm

/* Stores the guest registers other than RAX and RDI into the area at RDI. */
.macro STORE_GUEST_REGISTERS_BUT_RAX_RDI
    movq %rcx, G_RCX(%rdi)
    movq %rdx, G_RDX(%rdi)
    movq %rbx, G_RBX(%rdi)
    movq %rbp, G_RBP(%rdi)
    movq %rsi, G_RSI(%rdi)
    movq %r8, G_R8(%rdi)
    movq %r9, G_R9(%rdi)
    movq %r10, G_R10(%rdi)
    movq %r11, G_R11(%rdi)
    movq %r12, G_R12(%rdi)
    movq %r13, G_R13(%rdi)
    movq %r14, G_R14(%rdi)
    movq %r15, G_R15(%rdi)
.endm

/* uint64_t x86_vmx_run(uint64_t *registers, uint64_t resume): enter the guest of the current VMCS with
 * its general registers from `registers` (VMLAUNCH if resume = 0, else VMRESUME) and store them back at
 * the exit. Returns 0 after a VM exit, 1 if the entry instruction failed. HOST_RIP is vmx_run_exit
 * (written once per VMCS); HOST_RSP is this stack, written here. */
    .global x86_vmx_run, vmx_run_exit
x86_vmx_run:
    SAVE_CALLEE_SAVED
    pushq %rdi
    movl $0x6C14, %eax                     /* HOST_RSP */
    vmwrite %rsp, %rax
    testq %rsi, %rsi
    movq G_RAX(%rdi), %rax
    LOAD_GUEST_REGISTERS_BUT_RAX           /* moves only: the flags of the test survive */
    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  popq %rdi
    movl $1, %eax
    jmp 3f
vmx_run_exit:
    pushq %rdi
    movq 8(%rsp), %rdi
    movq %rax, G_RAX(%rdi)
    STORE_GUEST_REGISTERS_BUT_RAX_RDI
    popq G_RDI(%rdi)
    addq $8, %rsp
    xorl %eax, %eax
3:  RESTORE_CALLEE_SAVED
    ret

/* void x86_svm_run_guest(uint64_t *registers, uint64_t vmcb, uint64_t host_area): one VMRUN of the VMCB
 * (physical address) with the guest registers from `registers` (RAX is in the VMCB), stored back at the
 * exit. VMSAVE/VMLOAD swap the state VMRUN leaves alone (FS, GS, TR, LDTR, KERNEL_GS_BASE and the SYSCALL
 * MSRs) between host and guest. IF is set across VMRUN so host interrupts exit the guest (V_INTR_MASKING);
 * GIF holds them until the exit is dealt with. */
    .global x86_svm_run_guest
x86_svm_run_guest:
    SAVE_CALLEE_SAVED
    pushq %rdi
    pushq %rdx
    pushq %rsi
    clgi
    movq %rdx, %rax
    vmsave
    movq %rsi, %rax
    vmload
    LOAD_GUEST_REGISTERS_BUT_RAX
    sti
    vmrun
    cli
    pushq %rdi
    movq 24(%rsp), %rdi
    STORE_GUEST_REGISTERS_BUT_RAX_RDI
    popq G_RDI(%rdi)
    popq %rax
    vmsave
    popq %rax
    vmload
    addq $8, %rsp
    stgi
    RESTORE_CALLEE_SAVED
    ret

/* void x86_invept(uint64_t type, uint64_t eptp): type 1 single-context, 2 all contexts. */
    .global x86_invept
x86_invept:
    subq $16, %rsp
    movq %rsi, (%rsp)
    movq $0, 8(%rsp)
    invept (%rsp), %rdi
    addq $16, %rsp
    ret
