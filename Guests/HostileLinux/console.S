/* hostile-linux's console attacks (issue 11, "Bad input"), chosen by a word on the command line instead
 * of the board probes; included by hostile.S, whose helpers (puts, putdec, uart_drain) they use.
 *   flood  writes COM1 as fast as it can (one OUT per byte, no wait for the transmitter) for 4 seconds
 *          of guest time (the CMOS clock's seconds turning over 4 times), in 64-byte numbered lines,
 *          then says how many bytes it wrote and powers off.
 *   storm  says it ignores input, reads nothing for 3 seconds while the harness types a burst, then
 *          reads slowly (a byte at most per clock read) until 3 seconds pass without a byte, says how many
 *          bytes it received and powers off.
 * Time comes from the CMOS clock's seconds (ports 0x70/0x71), read every 256 bytes in the flood. */

#define CMOS_INDEX  0x70
#define CMOS_DATA   0x71

/* al: the CMOS clock's seconds register */
rtc_seconds:
    push %rdx
    mov $CMOS_INDEX, %dx
    xor %al, %al
    out %al, %dx
    mov $CMOS_DATA, %dx
    in %dx, %al
    pop %rdx
    ret

/* r13 counts the turns of the seconds register, r14b holds the seconds last read */
clock_turns:
    call rtc_seconds
    cmp %al, %r14b
    je 1f
    mov %al, %r14b
    inc %r13
1:  ret

/* ZF clear (jnz) when the NUL-terminated word at rdi is in the boot command line; rdi is kept */
cmdline_has:
    push %rsi
    push %rcx
    mov cmdline(%rip), %rsi
    test %rsi, %rsi
    jz 3f
1:  mov $0, %rcx                       /* compare rdi with the command line at rsi */
2:  mov (%rdi,%rcx), %al
    test %al, %al
    jz 4f                               /* the whole word matched */
    cmp (%rsi,%rcx), %al
    jne 5f
    inc %rcx
    jmp 2b
5:  cmpb $0, (%rsi)
    je 3f
    inc %rsi
    jmp 1b
3:  xor %eax, %eax                      /* not found: ZF set */
    jmp 6f
4:  mov $1, %eax
    test %eax, %eax                     /* found: ZF clear */
6:  pop %rcx
    pop %rsi
    ret

/* the console flood */
flood:
    cld
    lea m_flood(%rip), %rdi
    call puts
    xor %r12, %r12                      /* bytes written */
    xor %r13, %r13                      /* seconds turned over */
    call rtc_seconds
    mov %al, %r14b                      /* the seconds last read */
1:  lea flood_line(%rip), %rsi          /* one line: "flood " + 8 hex digits of its offset + dots + "\n" */
    mov %r12, %rax
    lea flood_line + 13(%rip), %rdi
    mov $8, %ecx
2:  mov %eax, %ebx                      /* the offset's hex digits, last first */
    and $15, %ebx
    add $'0', %bl
    cmp $'9', %bl
    jbe 3f
    add $('a' - '9' - 1), %bl
3:  mov %bl, (%rdi)
    dec %rdi
    shr $4, %rax
    loop 2b
    mov $COM1, %dx
    mov $64, %ecx
4:  lodsb
    out %al, %dx                        /* no wait for the transmitter: as fast as the VMM takes it */
    loop 4b
    add $64, %r12
    test $255, %r12                     /* the clock every 256 bytes */
    jnz 1b
    call clock_turns
    cmp $4, %r13
    jb 1b
    lea m_flood_done(%rip), %rdi
    lea m_bytes(%rip), %rsi
    jmp count_and_power_off

/* the input storm */
storm:
    lea m_storm(%rip), %rdi
    call puts
    xor %r12, %r12                      /* bytes received */
    call rtc_seconds                    /* 3 seconds without reading */
    mov %al, %r14b
    xor %r13, %r13
1:  pause
    call clock_turns
    cmp $3, %r13
    jb 1b
    lea m_storm_read(%rip), %rdi
    call puts
    xor %r13, %r13                      /* seconds since the last byte */
2:  mov $200, %ecx                      /* slowly: a short spin between reads */
3:  pause
    loop 3b
    mov $(COM1 + 5), %dx
    in %dx, %al
    test $1, %al
    jz 4f
    mov $COM1, %dx
    in %dx, %al
    inc %r12
    xor %r13, %r13
4:  call clock_turns
    cmp $3, %r13
    jb 2b
    lea m_storm_done(%rip), %rdi
    lea m_bytes_in(%rip), %rsi
    jmp count_and_power_off

/* the attack's last line, "<rdi><r12><rsi>", then the ACPI power-off */
count_and_power_off:
    push %rsi
    call puts
    mov %r12, %rax
    call putdec
    pop %rdi
    call puts
    jmp power_off

m_flood:      .asciz "hostile-linux: flooding the console for 4 s\n"
m_flood_done: .asciz "\nhostile-linux: flood done; "
m_bytes:      .asciz " bytes written\n"
m_storm:      .asciz "hostile-linux: storm: ignoring input for 3 s\n"
m_storm_read: .asciz "hostile-linux: storm: reading input slowly\n"
m_storm_done: .asciz "hostile-linux: storm done; "
m_bytes_in:   .asciz " bytes received\n"
w_flood:      .asciz "flood"
w_storm:      .asciz "storm"
flood_line:   .ascii "flood 00000000 ................................................\n"
    .balign 8
cmdline:      .quad 0
