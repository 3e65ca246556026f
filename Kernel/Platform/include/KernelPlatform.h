// The few machine instructions Swift cannot express, as always-inline C. Everything here is a thin
// wrapper around one instruction; the policy around it lives in Swift (Kernel/Machine).
#pragma once
#include <stdint.h>

#define SWIFTLET_INLINE static inline __attribute__((always_inline))

/// Saved state of an interrupted context, as interrupts.S lays it out on the stack (lowest address first).
struct InterruptFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, errorCode;
    uint64_t rip, cs, rflags, rsp, ss;        // pushed by the CPU
};

/// Descriptor-table register image for LGDT/LIDT.
struct __attribute__((packed)) DescriptorTablePointer {
    uint16_t limit;
    uint64_t base;
};

SWIFTLET_INLINE void x86_outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" :: "a"(value), "Nd"(port)); }
SWIFTLET_INLINE void x86_outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" :: "a"(value), "Nd"(port)); }
SWIFTLET_INLINE void x86_outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" :: "a"(value), "Nd"(port)); }
SWIFTLET_INLINE uint8_t x86_inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
SWIFTLET_INLINE uint16_t x86_inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
SWIFTLET_INLINE uint32_t x86_inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

SWIFTLET_INLINE uint64_t x86_rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
SWIFTLET_INLINE void x86_wrmsr(uint32_t msr, uint64_t value) {
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}
SWIFTLET_INLINE uint64_t x86_rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

struct CPUIDResult { uint32_t eax, ebx, ecx, edx; };
SWIFTLET_INLINE struct CPUIDResult x86_cpuid(uint32_t leaf, uint32_t subleaf) {
    struct CPUIDResult r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

SWIFTLET_INLINE uint64_t x86_read_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE uint64_t x86_read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE void x86_write_cr2(uint64_t v) { __asm__ volatile("mov %0, %%cr2" :: "r"(v) : "memory"); }
/// DR6, which VMX does not switch: the guest sees the physical register (a reflected #DB writes it).
SWIFTLET_INLINE uint64_t x86_read_dr6(void) { uint64_t v; __asm__ volatile("mov %%dr6, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE void x86_write_dr6(uint64_t v) { __asm__ volatile("mov %0, %%dr6" :: "r"(v) : "memory"); }
/* DR0-3, switched between vCPUs (DebugRegisters.swift). */
SWIFTLET_INLINE uint64_t x86_read_dr0(void) { uint64_t v; __asm__ volatile("mov %%dr0, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE uint64_t x86_read_dr1(void) { uint64_t v; __asm__ volatile("mov %%dr1, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE uint64_t x86_read_dr2(void) { uint64_t v; __asm__ volatile("mov %%dr2, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE uint64_t x86_read_dr3(void) { uint64_t v; __asm__ volatile("mov %%dr3, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE void x86_write_dr0(uint64_t v) { __asm__ volatile("mov %0, %%dr0" :: "r"(v) : "memory"); }
SWIFTLET_INLINE void x86_write_dr1(uint64_t v) { __asm__ volatile("mov %0, %%dr1" :: "r"(v) : "memory"); }
SWIFTLET_INLINE void x86_write_dr2(uint64_t v) { __asm__ volatile("mov %0, %%dr2" :: "r"(v) : "memory"); }
SWIFTLET_INLINE void x86_write_dr3(uint64_t v) { __asm__ volatile("mov %0, %%dr3" :: "r"(v) : "memory"); }
/// Opens an interrupt window of one instruction (an interrupt pending since a VM exit is taken here).
SWIFTLET_INLINE void x86_sti_nop_cli(void) { __asm__ volatile("sti; nop; cli" ::: "memory"); }
SWIFTLET_INLINE uint64_t x86_read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE uint64_t x86_read_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
SWIFTLET_INLINE void x86_write_cr0(uint64_t v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
SWIFTLET_INLINE void x86_write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
SWIFTLET_INLINE void x86_write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
SWIFTLET_INLINE void x86_invlpg(uint64_t address) { __asm__ volatile("invlpg (%0)" :: "r"(address) : "memory"); }

SWIFTLET_INLINE void x86_lgdt(const struct DescriptorTablePointer *p) { __asm__ volatile("lgdt (%0)" :: "r"(p) : "memory"); }
SWIFTLET_INLINE void x86_lidt(const struct DescriptorTablePointer *p) { __asm__ volatile("lidt (%0)" :: "r"(p) : "memory"); }
SWIFTLET_INLINE void x86_ltr(uint16_t selector) { __asm__ volatile("ltr %0" :: "r"(selector)); }

SWIFTLET_INLINE void x86_cli(void) { __asm__ volatile("cli" ::: "memory"); }
SWIFTLET_INLINE void x86_sti(void) { __asm__ volatile("sti" ::: "memory"); }
/// Enable interrupts and halt until the next one, without a window in which a wakeup could be lost.
SWIFTLET_INLINE void x86_sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
SWIFTLET_INLINE void x86_hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
SWIFTLET_INLINE void x86_pause(void) { __asm__ volatile("pause"); }

/// The per-CPU block GS points at in kernel mode. The entry code uses its first three fields (context.h).
struct PerCPU {
    uint64_t currentContext;     // the current thread's UserContext; TSS.RSP0 points at its end
    uint64_t kernelStackTop;
    uint64_t userStackScratch;
    uint64_t reserved;
};
extern struct PerCPU swiftlet_percpu;
SWIFTLET_INLINE struct PerCPU *percpu_block(void) { return &swiftlet_percpu; }

/// Resumes the thread whose context `swiftlet_percpu.currentContext` names (interrupts.S).
void return_to_user(void) __attribute__((noreturn));
void syscall_entry(void);
SWIFTLET_INLINE uint64_t syscall_entry_address(void) { return (uint64_t)syscall_entry; }

SWIFTLET_INLINE void x86_clts(void) { __asm__ volatile("clts" ::: "memory"); }
SWIFTLET_INLINE void x86_fxsave(void *area) { __asm__ volatile("fxsave64 (%0)" :: "r"(area) : "memory"); }
SWIFTLET_INLINE void x86_fxrstor(const void *area) { __asm__ volatile("fxrstor64 (%0)" :: "r"(area) : "memory"); }
SWIFTLET_INLINE void x86_xsave(void *area, uint64_t mask) {
    __asm__ volatile("xsave64 (%0)" :: "r"(area), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32)) : "memory");
}
SWIFTLET_INLINE void x86_xrstor(const void *area, uint64_t mask) {
    __asm__ volatile("xrstor64 (%0)" :: "r"(area), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32)) : "memory");
}
SWIFTLET_INLINE void x86_xsetbv(uint32_t index, uint64_t value) {
    __asm__ volatile("xsetbv" :: "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}
SWIFTLET_INLINE uint64_t x86_xgetbv(uint32_t index) {
    uint32_t low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(index));
    return ((uint64_t)high << 32) | low;
}

/// Reload CS and the data segment registers after installing a new GDT (defined in cpu.S).
void x86_reload_segments(uint16_t code, uint16_t data);

/// RDMSR that returns -1 instead of faulting when the MSR does not exist (cpu.S; see Exceptions.swift).
int x86_rdmsr_safe(uint32_t msr, uint64_t *value);
extern char x86_rdmsr_safe_fault[], x86_rdmsr_safe_recover[];
SWIFTLET_INLINE uint64_t x86_rdmsr_safe_fault_address(void) { return (uint64_t)x86_rdmsr_safe_fault; }
SWIFTLET_INLINE uint64_t x86_rdmsr_safe_recover_address(void) { return (uint64_t)x86_rdmsr_safe_recover; }

/// VMX instructions. Each returns 0 on success, 1 on VMfailInvalid/VMfailValid (CF or ZF set).
SWIFTLET_INLINE int x86_vmxon(uint64_t region) {
    uint8_t failed;
    __asm__ volatile("vmxon %1; setbe %0" : "=q"(failed) : "m"(region) : "cc", "memory");
    return failed;
}
SWIFTLET_INLINE int x86_vmclear(uint64_t vmcs) {
    uint8_t failed;
    __asm__ volatile("vmclear %1; setbe %0" : "=q"(failed) : "m"(vmcs) : "cc", "memory");
    return failed;
}
/// INVVPID: type 1 flushes the translations tagged with `vpid`, type 2 those of every VPID. 1 when it failed.
SWIFTLET_INLINE int x86_invvpid(uint64_t type, uint64_t vpid) {
    struct { uint64_t vpid, address; } descriptor = { vpid & 0xFFFF, 0 };
    uint8_t failed;
    __asm__ volatile("invvpid %1, %2; setbe %0" : "=q"(failed) : "m"(descriptor), "r"(type) : "cc", "memory");
    return failed;
}
SWIFTLET_INLINE int x86_vmptrld(uint64_t vmcs) {
    uint8_t failed;
    __asm__ volatile("vmptrld %1; setbe %0" : "=q"(failed) : "m"(vmcs) : "cc", "memory");
    return failed;
}
SWIFTLET_INLINE int x86_vmwrite(uint64_t field, uint64_t value) {
    uint8_t failed;
    __asm__ volatile("vmwrite %2, %1; setbe %0" : "=q"(failed) : "r"(field), "rm"(value) : "cc", "memory");
    return failed;
}
SWIFTLET_INLINE uint64_t x86_vmread(uint64_t field) {
    uint64_t value = 0;
    __asm__ volatile("vmread %1, %0" : "=rm"(value) : "r"(field) : "cc", "memory");
    return value;
}
SWIFTLET_INLINE void x86_vmxoff(void) { __asm__ volatile("vmxoff" ::: "cc", "memory"); }
SWIFTLET_INLINE void x86_sgdt(struct DescriptorTablePointer *p) { __asm__ volatile("sgdt (%0)" :: "r"(p) : "memory"); }
SWIFTLET_INLINE void x86_sidt(struct DescriptorTablePointer *p) { __asm__ volatile("sidt (%0)" :: "r"(p) : "memory"); }
/// VMLAUNCH or VMRESUME; 0 after a VM exit, 1 if the entry instruction failed (cpu.S).
uint64_t x86_vmx_enter(uint64_t resume);

/// One VMRUN of the VMCB at this physical address (cpu.S).
void x86_svm_run(uint64_t vmcb_physical);

/// Guest entries of the vCPU backends (cpu.S): `registers` is the GuestState's RAX...R15 block.
uint64_t x86_vmx_run(uint64_t *registers, uint64_t resume);
extern char vmx_run_exit[];
SWIFTLET_INLINE uint64_t vmx_run_exit_address(void) { return (uint64_t)vmx_run_exit; }
void x86_svm_run_guest(uint64_t *registers, uint64_t vmcb, uint64_t host_area);
void x86_invept(uint64_t type, uint64_t eptp);

/// Deliberate faults for the kernel's crash=... switch (tests of the panic path), in cpu.S.
void x86_trigger_invalid_opcode(void);
void x86_trigger_general_protection(void);
void x86_trigger_divide_error(void);
void x86_trigger_stack_overflow(void);

/// Addresses from kernel.ld and interrupts.S.
extern const uint64_t isr_stub_table[256];
extern char __kernel_phys_start[], __kernel_phys_end[];
extern char __kernel_text_start[], __kernel_text_end[];
extern char __kernel_rodata_start[], __kernel_rodata_end[];
extern char __kernel_data_start[], __kernel_data_end[];
extern char __kernel_stack_guard[], __kernel_stack_bottom[], __kernel_stack_top[];
extern char __kernel_ist_bottom[], __kernel_ist_top[];

/// The linked image's layout (virtual addresses, except the two physical bounds).
struct KernelImageLayout {
    uint64_t physicalStart, physicalEnd;
    uint64_t textStart, textEnd, rodataStart, rodataEnd, dataStart, dataEnd;
    uint64_t stackGuard, stackBottom, stackTop, interruptStackBottom, interruptStackTop;
};
SWIFTLET_INLINE struct KernelImageLayout kernel_image_layout(void) {
    struct KernelImageLayout l = {
        (uint64_t)__kernel_phys_start, (uint64_t)__kernel_phys_end,
        (uint64_t)__kernel_text_start, (uint64_t)__kernel_text_end,
        (uint64_t)__kernel_rodata_start, (uint64_t)__kernel_rodata_end,
        (uint64_t)__kernel_data_start, (uint64_t)__kernel_data_end,
        (uint64_t)__kernel_stack_guard, (uint64_t)__kernel_stack_bottom, (uint64_t)__kernel_stack_top,
        (uint64_t)__kernel_ist_bottom, (uint64_t)__kernel_ist_top,
    };
    return l;
}
SWIFTLET_INLINE uint64_t isr_stub_address(unsigned vector) { return isr_stub_table[vector & 255]; }
