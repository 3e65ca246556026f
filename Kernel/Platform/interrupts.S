/* Interrupt and exception entry. Every vector gets a stub that makes the stack uniform (an error code
 * slot, then the vector number), after which one common path saves the general registers into a
 * struct InterruptFrame (KernelPlatform.h) and calls the Swift dispatcher with a pointer to it. */

#include "context.h"

/* The general registers in UserContext order (the reverse of POP_REGISTERS). */
.macro PUSH_REGISTERS
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm

.macro POP_REGISTERS
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
.endm

    .text
    .code64

.macro STUB vector
    .align 16
isr_stub_\vector:
    .if (\vector == 8) || (\vector == 10) || (\vector == 11) || (\vector == 12) || (\vector == 13) || (\vector == 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
    .else
    pushq $0                               /* no error code from the CPU: keep the layout uniform */
    .endif
    pushq $\vector
    jmp interrupt_common
.endm

.altmacro
.set vector, 0
.rept 256
    STUB %vector
    .set vector, vector + 1
.endr

/* The frame is a UserContext: the CPU's five words (plus the stub's error and vector), then 15 registers.
 * From user mode the CPU pushed it into the current thread's context (TSS.RSP0 points at its end); from
 * kernel mode it is on the kernel stack and the handler returns straight to the interrupted kernel code. */
interrupt_common:
    PUSH_REGISTERS
    cld
    testb $3, CONTEXT_CS(%rsp)
    jnz from_user
    movq %rsp, %rdi
    call swiftlet_interrupt
    POP_REGISTERS
    addq $16, %rsp                         /* vector and error code */
    iretq

from_user:
    swapgs
    movq %rsp, %rdi
    movq %gs:PERCPU_KERNEL_STACK, %rsp
    call swiftlet_interrupt
    jmp return_to_user

/* SYSCALL: RCX = user RIP, R11 = user RFLAGS, interrupts off (SFMASK). Build the same UserContext as an
 * interrupt from user mode would, marked with the syscall vector so the exit can use SYSRET. */
    .global syscall_entry
syscall_entry:
    swapgs
    movq %rsp, %gs:PERCPU_USER_STACK
    movq %gs:PERCPU_CURRENT_CONTEXT, %rsp
    addq $CONTEXT_SIZE, %rsp
    pushq $0x23                            /* SS: user data */
    pushq %gs:PERCPU_USER_STACK
    pushq %r11
    pushq $0x2B                            /* CS: user code */
    pushq %rcx
    pushq $0
    pushq $CONTEXT_SYSCALL
    PUSH_REGISTERS
    movq %rsp, %rdi
    movq %gs:PERCPU_KERNEL_STACK, %rsp
    call swiftlet_syscall
    /* fall through */

/* Resume the current thread, whichever it is now. SYSRET for threads that entered by SYSCALL (their RIP
 * came from the CPU, so it is canonical), IRETQ for the rest. */
    .global return_to_user
return_to_user:
    movq %gs:PERCPU_CURRENT_CONTEXT, %rsp
    cmpq $CONTEXT_SYSCALL, CONTEXT_VECTOR(%rsp)
    je 1f
    POP_REGISTERS
    addq $16, %rsp
    swapgs
    iretq
1:  POP_REGISTERS
    movq CONTEXT_RIP - CONTEXT_VECTOR(%rsp), %rcx
    movq CONTEXT_RFLAGS - CONTEXT_VECTOR(%rsp), %r11
    movq CONTEXT_RSP - CONTEXT_VECTOR(%rsp), %rsp
    swapgs
    sysretq

/* Table of the 256 stub addresses, for building the IDT. */
.macro STUB_ADDRESS vector
    .quad isr_stub_\vector
.endm
    .section .rodata
    .align 8
    .global isr_stub_table
isr_stub_table:
.set vector, 0
.rept 256
    STUB_ADDRESS %vector
    .set vector, vector + 1
.endr
