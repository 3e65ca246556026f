// The machine-level half of the user library: the SYSCALL stub and the instructions tasks need.
#pragma once
#include <stdint.h>

/// In and out registers of one system call (see SwiftletABI.Syscall for the convention).
struct SyscallRegisters {
    uint64_t rax, rdi, rsi, rdx, r10, r8, r9, r12;
};

/// Loads the registers, executes SYSCALL, stores the results back (out of line: for raw calls).
void swiftlet_syscall(struct SyscallRegisters *registers);

/// The same, inlined into the caller: arguments go straight into the convention's registers and results
/// come straight out, which is what the IPC paths use.
static inline __attribute__((always_inline)) struct SyscallRegisters
swiftlet_syscall_inline(uint64_t number, uint64_t selector, uint64_t tag, uint64_t w0, uint64_t w1, uint64_t w2,
                        uint64_t w3, uint64_t timeout) {
    register uint64_t rax __asm__("rax") = number;
    register uint64_t rdi __asm__("rdi") = selector;
    register uint64_t rsi __asm__("rsi") = tag;
    register uint64_t rdx __asm__("rdx") = w0;
    register uint64_t r10 __asm__("r10") = w1;
    register uint64_t r8 __asm__("r8") = w2;
    register uint64_t r9 __asm__("r9") = w3;
    register uint64_t r12 __asm__("r12") = timeout;
    __asm__ volatile("syscall"
                     : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8), "+r"(r9)
                     : "r"(r12)
                     : "rcx", "r11", "memory");
    struct SyscallRegisters result = { rax, rdi, rsi, rdx, r10, r8, r9, timeout };
    return result;
}

static inline __attribute__((always_inline)) uint64_t user_rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/// CPUID from user mode (the VMM passes the host's leaves through to its guests).
struct UserCPUID { uint32_t eax, ebx, ecx, edx; };
static inline __attribute__((always_inline)) struct UserCPUID user_cpuid(uint32_t leaf, uint32_t subleaf) {
    struct UserCPUID r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

static inline __attribute__((always_inline)) void user_pause(void) { __asm__ volatile("pause"); }

/// Deliberate faults, for tests of the kernel's fault handling.
void user_fault_invalid_opcode(void);
void user_fault_privileged(void);
uint64_t user_fault_read(uint64_t address);
void user_fault_write(uint64_t address, uint64_t value);

/// 16 page-aligned pages in the task's .bss for threads it creates (see ThreadSpawner).
extern uint8_t swiftlet_thread_pages[16 * 4096];
static inline __attribute__((always_inline)) uint64_t user_thread_pages(void) { return (uint64_t)swiftlet_thread_pages; }

/// The task parameters the host wrote into the image (see TaskParameters): marker, then words.
extern volatile uint64_t swiftlet_task_parameters[4];
static inline __attribute__((always_inline)) uint64_t user_task_parameter(int index) { return swiftlet_task_parameters[2 + index]; }

/// Entry of threads made by ThreadSpawner (crt0.S): RSI = UTCB, whose start record says what to run.
void swiftlet_thread_trampoline(void);
static inline __attribute__((always_inline)) uint64_t user_thread_trampoline(void) { return (uint64_t)swiftlet_thread_trampoline; }

/// Vector registers as thread state, for tests of the kernel's FPU switching. The values live in the
/// registers between calls on purpose: the compiler never touches XMM/YMM in tasks (-mno-sse).
static inline __attribute__((always_inline)) void user_xmm3_set(uint64_t low, uint64_t high) {
    uint64_t v[2] = { low, high };
    __asm__ volatile("movdqu (%0), %%xmm3" :: "r"(v) : "memory");
}
static inline __attribute__((always_inline)) void user_xmm3_get(uint64_t *low, uint64_t *high) {
    uint64_t v[2];
    __asm__ volatile("movdqu %%xmm3, (%0)" :: "r"(v) : "memory");
    *low = v[0];
    *high = v[1];
}
static inline __attribute__((always_inline)) void user_ymm5_set(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    uint64_t v[4] = { a, b, c, d };
    __asm__ volatile("vmovdqu (%0), %%ymm5" :: "r"(v) : "memory");
}
static inline __attribute__((always_inline)) uint64_t user_ymm5_high_sum(void) {
    uint64_t v[4];
    __asm__ volatile("vmovdqu %%ymm5, (%0)" :: "r"(v) : "memory");
    return v[2] ^ (v[3] << 1);
}
static inline __attribute__((always_inline)) int user_cpu_has_avx(void) {
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    return (c >> 28) & 1;
}

/// Port I/O, for driver tasks that were given the ports (otherwise the CPU raises #GP).
static inline __attribute__((always_inline)) void user_outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" :: "a"(value), "Nd"(port));
}
static inline __attribute__((always_inline)) uint8_t user_inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
/// A device's 16-bit data port (an ATA data register): `count` words between it and `buffer`, as REP INSW
/// and REP OUTSW move them (the buffer must be mapped, writable for input).
static inline __attribute__((always_inline)) void user_insw(uint16_t port, void *buffer, uint64_t count) {
    __asm__ volatile("rep insw" : "+D"(buffer), "+c"(count) : "d"(port) : "memory");
}
static inline __attribute__((always_inline)) void user_outsw(uint16_t port, const void *buffer, uint64_t count) {
    __asm__ volatile("rep outsw" : "+S"(buffer), "+c"(count) : "d"(port) : "memory");
}
