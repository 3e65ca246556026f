// C runtime symbols Embedded Swift may call. Tasks have no heap: code that allocates fails to link.
#include <stddef.h>
#include <stdint.h>

#include "../../Platform/memory_functions.inc"

// Pages for the UTCBs and stacks of threads a task creates inside itself (ThreadSpawner): the loader
// maps .bss read-write, and a thread needs its UTCB and stack before any pager could serve it.
__attribute__((aligned(4096))) uint8_t swiftlet_thread_pages[16 * 4096];
