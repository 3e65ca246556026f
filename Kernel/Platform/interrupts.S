/* Interrupt and exception entry. Every vector gets a stub that makes the stack uniform (an error code
 * slot, then the vector number), after which one common path saves the general registers into a
 * struct InterruptFrame (KernelPlatform.h) and calls the Swift dispatcher with a pointer to it. */

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

interrupt_common:
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
    cld
    movq %rsp, %rdi
    call swiftlet_interrupt
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
    addq $16, %rsp                         /* vector and error code */
    iretq

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
