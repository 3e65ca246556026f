/* tsc: prints the time-stamp counter in decimal and exits. A static binary without a C library (the
 * initramfs has only busybox), built by the guest recipe with the Swift toolchain's clang. */
static long write_all(const char *buffer, unsigned long length) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(1L), "D"(1L), "S"(buffer), "d"(length) : "rcx", "r11", "memory");
    return result;
}

__attribute__((noreturn)) void _start(void) {
    unsigned int low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    unsigned long long value = (unsigned long long)high << 32 | low;
    char text[24];
    int start = 23;
    text[23] = '\n';
    do {
        text[--start] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    write_all(text + start, (unsigned long)(24 - start));
    __asm__ volatile("syscall" : : "a"(60L), "D"(0L));
    for (;;) {}
}
