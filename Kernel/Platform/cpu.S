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
