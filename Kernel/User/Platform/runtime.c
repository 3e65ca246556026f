// C runtime symbols Embedded Swift may call. Tasks have no heap: code that allocates fails to link.
#include <stddef.h>
#include <stdint.h>

#include "../../Platform/memory_functions.inc"

// Pages for the UTCBs and stacks of threads a task creates inside itself (ThreadSpawner): the loader
// maps .bss read-write, and a thread needs its UTCB and stack before any pager could serve it.
__attribute__((aligned(4096))) uint8_t swiftlet_thread_pages[16 * 4096];

// Words the host may write into a task's image before it boots (tools/SwiftletTools/Build/TaskParameters.swift
// finds them by the 16-byte marker "SWIFTLET-PARAMS!"): word 0 is a seed (0: none). Volatile, so the
// compiler reads what the image holds instead of folding the initial zeros.
volatile uint64_t swiftlet_task_parameters[4] = { 0x54454C5446495753ULL, 0x21534D415241502DULL, 0, 0 };
