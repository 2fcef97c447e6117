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

#include "stacks/unwind.h"

struct procmaps;

/* Longest a thread may take to reach the ptrace stop (a thread in uninterruptible sleep cannot
 * stop). Past it the capture gives up with -ETIMEDOUT and the thread is released. The wait is
 * not a pause: until the thread reaches the stop it runs or waits for a CPU. On a loaded
 * machine (two cores, a dozen runnable tasks) getting a CPU can take a few hundred ms, so
 * 200 ms lost threads there; 1 s does not, and only lengthens a dump that meets such a thread. */
#define PTRACE_CAPTURE_TIMEOUT_MS 1000
/* Largest stack copy accepted (-EINVAL above). */
#define PTRACE_CAPTURE_MAX_STACK (8u << 20)

struct thread_capture {
	pid_t tid;
	struct unwind_regs regs;
	uint64_t stack_start;   /* address of stack[0] (the sp at the stop) */
	uint8_t *stack;         /* owned copy, stack_len bytes */
	size_t stack_len;
	size_t stack_wanted;    /* bytes requested; stack_len < stack_wanted when the mapping ended first */
	uint64_t pause_ns;      /* from the interrupt until the detach returned */
	int signal;             /* a signal the thread was stopped delivering (re-injected at detach), or 0 */
};

/* Captures thread tid of process pid, copying at most stack_bytes of stack, bounded by the end
 * of the stack mapping (found from /proc/PID/maps, read before the stop).
 * Returns 0, -ESRCH (thread exited, or a zombie), -EPERM (no privilege, or already traced:
 * *ret_tracer set to the tracer's PID when known, else 0), -ETIMEDOUT, or -errno. On error
 * nothing is left attached. ret_tracer may be NULL. Captures from all threads of the calling
 * process serialize on one lock (ptrace is done by one internal worker thread). */
int ptrace_capture_thread(pid_t pid, pid_t tid, size_t stack_bytes, struct thread_capture *ret,
			  pid_t *ret_tracer);
/* Same, with the target's mappings read beforehand (once per dump) so that the end of the stack
 * mapping is found without reading /proc/PID/maps per thread, and a deadline in ms for the stop
 * (0: PTRACE_CAPTURE_TIMEOUT_MS). maps may be NULL: then they are read here, before the thread is
 * stopped. A sp in no mapping of maps (a stack mapped since) is copied up to stack_bytes, stopping
 * at the first unmapped page. Same returns as above (-ETIMEDOUT: the thread did not stop in time;
 * it was released). */
int ptrace_capture_thread_maps(pid_t pid, pid_t tid, size_t stack_bytes, const struct procmaps *maps,
			       unsigned int timeout_ms, struct thread_capture *ret, pid_t *ret_tracer);
void thread_capture_release(struct thread_capture *c); /* frees the stack copy; NULL-safe */

#endif
