/* void swiftlet_syscall(struct SyscallRegisters *r): the register convention of SwiftletABI.Syscall. */
    .text
    .global swiftlet_syscall
swiftlet_syscall:
    pushq %rbx
    pushq %r12
    movq %rdi, %rbx
    movq 0(%rbx), %rax
    movq 8(%rbx), %rdi
    movq 16(%rbx), %rsi
    movq 24(%rbx), %rdx
    movq 32(%rbx), %r10
    movq 40(%rbx), %r8
    movq 48(%rbx), %r9
    movq 56(%rbx), %r12
    syscall
    movq %rax, 0(%rbx)
    movq %rdi, 8(%rbx)
    movq %rsi, 16(%rbx)
    movq %rdx, 24(%rbx)
    movq %r10, 32(%rbx)
    movq %r8, 40(%rbx)
    movq %r9, 48(%rbx)
    popq %r12
    popq %rbx
    ret

    .global user_fault_invalid_opcode
user_fault_invalid_opcode:
    ud2

    .global user_fault_privileged
user_fault_privileged:
    cli
    ret

    .global user_fault_read
user_fault_read:
    movq (%rdi), %rax
    ret

    .global user_fault_write
user_fault_write:
    movq %rsi, (%rdi)
    ret
