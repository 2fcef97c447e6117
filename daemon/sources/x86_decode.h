/* SPDX-License-Identifier: MIT */
/* Just enough x86-64 decoding to place uprobes cheaply: which leading instructions of a function
 * the kernel would have to single-step (slow) and which it emulates (push, jumps, calls, nops),
 * and which leading instructions can be skipped because they write no argument register and not
 * the stack pointer. Pure functions over byte buffers; no state, thread-safe. */
#ifndef PROFD_X86_DECODE_H
#define PROFD_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Argument registers of the System V ABI, as a mask: bit i = argument i (rdi rsi rdx rcx r8 r9). */
#define X86_ARGS(n) ((1u << (n)) - 1)

/* Most instructions skipped before a probe (jemalloc's free needs 9). */
#define X86_MAX_SKIP 12

/* Length of the instruction at code if it is one the kernel's uprobe code emulates without
 * single-stepping (push reg, jmp, jcc, call rel32, nop); 0 otherwise. */
int x86_emulated_len(const uint8_t *code, size_t len);

/* Length of the instruction at code if it only sets flags or writes caller-saved registers that
 * are not in args_mask (endbr64, test, cmp, loads, lea, add/sub/and/or/xor, shifts; memory is
 * only read); 0 if unknown or not skippable (anything that writes memory, rsp, a callee-saved
 * register or an argument, or branches). */
int x86_skippable_len(const uint8_t *code, size_t len, unsigned args_mask);

/* Where to put an entry uprobe in a function whose first bytes are code[0..len): the offset of
 * the first emulated instruction reached through at most X86_MAX_SKIP skippable ones, or 0 (the
 * entry) when there is none. body[0..body_len) is the whole function (from the entry): if any
 * byte sequence in it could encode a branch landing inside (0, offset], the entry is used
 * instead, so that the probe fires exactly once per call. */
size_t x86_probe_offset(const uint8_t *body, size_t body_len, unsigned args_mask);

/* Calls back for every direct jmp rel32 (is_call false) or call rel32 (is_call true) that a linear
 * decode cannot rule out, i.e. every e8/e9 byte in body: target is relative to body[0].
 * Used to find tail calls to other allocator functions. Returns the number of candidates. */
int x86_scan_rel32(const uint8_t *body, size_t body_len,
		   void (*fn)(void *ctx, size_t at, int64_t target, bool is_call), void *ctx);

#endif
