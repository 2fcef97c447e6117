/* SPDX-License-Identifier: MIT */
/* The one definition of a complete stack, and the tally every source keeps of the stacks that
 * fell short of it. A stack is complete when its walk reached the thread's start: the frame
 * whose CFI marks the return address undefined (glibc's _start, clone and clone3, which run
 * start_thread; musl's the same), a zero frame pointer, the ABI's mark of the outermost frame,
 * or a function known as a root by name (stack_root_function: Go's runtime.goexit...); the
 * unwinder says so with UNWIND_STOP_ROOT. Anything else fell short, for one reason of enum unwind_stop:
 * a depth bound is a reason too. The CPU, heap, thread, block, threadcreate and growth sources
 * count with it and say the same sentence in their profiles and summaries. Not thread-safe: a
 * tally belongs to its source's lock. */
#ifndef PROFD_STACKS_COMPLETE_H
#define PROFD_STACKS_COMPLETE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stacks/unwind.h"

struct stack_tally {
	uint64_t stacks;                         /* every stack counted */
	uint64_t short_by[UNWIND_STOP__COUNT];   /* the ones that fell short, by reason (ROOT unused) */
};

/* Whether a function, by its symbol, is where a thread's stack begins: _start, glibc's
 * start_thread, clone and clone3, musl's _start_c, and runtimes' roots (Go: runtime.goexit
 * under every goroutine, runtime.mstart under every thread, runtime.rt0_go; runtime.mcall,
 * runtime.systemstack and runtime.morestack, where a stack switched to the thread's g0 stack,
 * whose frames begin there). The unwinder
 * ends a walk there as complete (UNWIND_STOP_ROOT) when the CFI or frame pointer did not. */
bool stack_root_function(const char *name);
/* Whether a walk that returned n pcs (unwinder__unwind: n <= 0 when nothing was walked) and
 * ended for why reached the thread's start. */
bool stack_complete(int n, enum unwind_stop why);
/* The reason a walk counts under: why itself, UNWIND_STOP_ERROR for a walk that gave nothing
 * (n <= 0) or an out-of-range why, UNWIND_STOP_ROOT when complete. */
enum unwind_stop stack_short_reason(int n, enum unwind_stop why);
/* Counts one stack. NULL-safe. */
void stack_tally__add(struct stack_tally *t, int n, enum unwind_stop why);
/* Adds o's counts to t. */
void stack_tally__merge(struct stack_tally *t, const struct stack_tally *o);
/* How many stacks fell short (0 for NULL). */
uint64_t stack_tally__short(const struct stack_tally *t);
/* What a reason means, for a reader of a profile ("the stack copy was too short", ...). */
const char *stack_short_meaning(enum unwind_stop why);
/* Writes the sentence: "N of M <what> (P%) fell short of the thread's start: K <reason> (<meaning>),
 * ..." or, when none did, "all M <what> reached the thread's start". what is a plural noun phrase
 * ("sampled stacks"). Always NUL-terminates (out may be cut to len). Returns the length it wanted
 * (as snprintf), or -EINVAL. */
int stack_tally__sentence(const struct stack_tally *t, const char *what, char *out, size_t len);

#endif
