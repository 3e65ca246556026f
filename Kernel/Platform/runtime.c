// The C runtime symbols Embedded Swift and clang may emit calls to. The kernel has no heap on purpose:
// posix_memalign and free are not defined, so code that would allocate fails to link.
#include <stddef.h>
#include <stdint.h>
#include "KernelPlatform.h"

struct PerCPU swiftlet_percpu;

#include "memory_functions.inc"
