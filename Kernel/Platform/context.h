/* Offsets shared by the assembly and Swift (Kernel/Core/Objects/UserContext.swift, Machine/PerCPU.swift).
 * Checked against the Swift layout at boot. */
#pragma once

#define CONTEXT_VECTOR   (15 * 8)
#define CONTEXT_RIP      (17 * 8)
#define CONTEXT_CS       (18 * 8)
#define CONTEXT_RFLAGS   (19 * 8)
#define CONTEXT_RSP      (20 * 8)
#define CONTEXT_SIZE     (22 * 8)
#define CONTEXT_SYSCALL  0x100

#define PERCPU_CURRENT_CONTEXT  0
#define PERCPU_KERNEL_STACK     8
#define PERCPU_USER_STACK       16
