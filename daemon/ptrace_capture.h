/* SPDX-License-Identifier: MIT */
/* Capturing one thread of a live process with the shortest possible pause: PTRACE_SEIZE +
 * PTRACE_INTERRUPT, read registers, copy the top of its stack (process_vm_readv, bounded by the
 * end of the stack mapping), detach at once. Unwinding happens later, from the copy.
 * SEIZE semantics guarantee that if profd dies mid-capture the thread runs on. Signals that
 * arrive during the stop are re-injected; syscalls restart transparently. */
#ifndef PROFD_PTRACE_CAPTURE_H
#define PROFD_PTRACE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "unwind.h"

struct thread_capture {
	pid_t tid;
	struct unwind_regs regs;
	uint64_t stack_start;   /* address of stack[0] (the sp at the stop) */
	uint8_t *stack;         /* owned copy, stack_len bytes */
	size_t stack_len;
	size_t stack_wanted;    /* bytes requested; stack_len < stack_wanted when the mapping ended first */
	uint64_t pause_ns;      /* from the interrupt until the detach returned */
};

/* Captures thread tid of process pid, copying at most stack_bytes of stack. stack_end is the
 * end of the thread's stack mapping if known (0: found from /proc/PID/maps).
 * Returns 0, -ESRCH (thread exited), -EPERM (no privilege, or already traced: *ret_tracer set
 * to the tracer's PID when known), or -errno. On error nothing is left attached. */
int ptrace_capture_thread(pid_t pid, pid_t tid, size_t stack_bytes, struct thread_capture *ret,
			  pid_t *ret_tracer);
void thread_capture_release(struct thread_capture *c); /* frees the stack copy; NULL-safe */

#endif
