/* Flat 64-bit guest images the VMM copies into guest RAM at TEST_GUEST_LOAD (position-independent code). */
#pragma once
#include <stdint.h>

#define TEST_GUEST_LOAD 0x10000
/* The spinning guest's counter (guest-physical; guest.S uses the same address). */
#define SPIN_COUNTER 0x9000
/* The debug-loop guest's count of its #DB handler's runs (guest-physical). */
#define DEBUG_LOOP_HANDLER_RUNS 0x9008

extern const uint8_t test_guest_start[], test_guest_end[];
extern const uint8_t hostile_guest_start[], hostile_guest_end[];
extern const uint8_t spin_guest_start[], spin_guest_end[];
extern const uint8_t spin_guest_loop[], spin_guest_loop_end[];
extern const uint8_t debug_loop_guest_start[], debug_loop_guest_end[];
extern const uint8_t dr_guest_start[], dr_guest_end[];

static inline const uint8_t *test_guest_image(void) { return test_guest_start; }
static inline uint64_t test_guest_size(void) { return (uint64_t)(test_guest_end - test_guest_start); }
static inline const uint8_t *hostile_guest_image(void) { return hostile_guest_start; }
static inline uint64_t hostile_guest_size(void) { return (uint64_t)(hostile_guest_end - hostile_guest_start); }
static inline const uint8_t *spin_guest_image(void) { return spin_guest_start; }
static inline uint64_t spin_guest_size(void) { return (uint64_t)(spin_guest_end - spin_guest_start); }
/* The spinning guest's loop, as offsets from its start (where a recall must find its RIP). */
static inline uint64_t spin_guest_loop_offset(void) { return (uint64_t)(spin_guest_loop - spin_guest_start); }
static inline uint64_t spin_guest_loop_end_offset(void) { return (uint64_t)(spin_guest_loop_end - spin_guest_start); }
static inline const uint8_t *debug_loop_guest_image(void) { return debug_loop_guest_start; }
static inline uint64_t debug_loop_guest_size(void) { return (uint64_t)(debug_loop_guest_end - debug_loop_guest_start); }
static inline const uint8_t *dr_guest_image(void) { return dr_guest_start; }
static inline uint64_t dr_guest_size(void) { return (uint64_t)(dr_guest_end - dr_guest_start); }
