// The machine-level half of the user library: the SYSCALL stub and the instructions tasks need.
#pragma once
#include <stdint.h>

/// In and out registers of one system call (see SwiftletABI.Syscall for the convention).
struct SyscallRegisters {
    uint64_t rax, rdi, rsi, rdx, r10, r8, r9, r12;
};

/// Loads the registers, executes SYSCALL, stores the results back.
void swiftlet_syscall(struct SyscallRegisters *registers);

static inline __attribute__((always_inline)) uint64_t user_rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
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

/// Entry of threads made by ThreadSpawner (crt0.S): RSI = UTCB, whose start record says what to run.
void swiftlet_thread_trampoline(void);
static inline __attribute__((always_inline)) uint64_t user_thread_trampoline(void) { return (uint64_t)swiftlet_thread_trampoline; }
