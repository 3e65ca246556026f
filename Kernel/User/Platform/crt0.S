/* Task entry: RDI = the argument its creator chose, RSI = the UTCB address. task_main(argument, utcb)
 * is the task's Swift entry; when it returns the thread stops itself. */
    .text
    .global _start
_start:
    xorl %ebp, %ebp
    andq $-16, %rsp
    call task_main
    call swiftlet_thread_exit
1:  ud2
    jmp 1b

/* Threads made by ThreadSpawner start here with RSI = their UTCB; swiftlet_thread_main runs the function
 * recorded there and stops the thread when it returns. */
    .global swiftlet_thread_trampoline
swiftlet_thread_trampoline:
    xorl %ebp, %ebp
    andq $-16, %rsp
    movq %rsi, %rdi
    call swiftlet_thread_main
2:  ud2
    jmp 2b
