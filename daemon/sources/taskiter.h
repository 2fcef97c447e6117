/* SPDX-License-Identifier: MIT */
/* Reading a process's threads without stopping them: owns bpf/taskiter.bpf.c, a sleepable BPF
 * task iterator (kernel 5.18+: bpf_copy_from_user_task), and its ring buffer. One taskiter may
 * serve the processes of a whole set: the program is loaded and its ring buffer sized once, and
 * each walk names the process it visits. A walk visits the target's threads from inside the
 * kernel; each thread that is off CPU
 * gives its user registers (saved at kernel entry), kernel frames and the top of its user stack,
 * taken while it provably did not run; one on a CPU, or one that ran meanwhile, is only named.
 * Walks of one taskiter serialize on an internal lock; the callback runs on the caller's thread.
 * Test hooks, read by taskiter__new() from the environment: PROFD_TASKITER_SIMULATE=reject loads
 * a program the verifier refuses, as a kernel without the needed helpers would; =torn skips the
 * check that a thread did not run while it was copied (torn copies are then reported as read). */
#ifndef PROFD_TASKITER_H
#define PROFD_TASKITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stacks/unwind.h"

struct taskiter;

#define TASKITER_MAX_KFRAMES 64 /* PROFD_TASKITER_MAX_KFRAMES */

/* One visited thread; every pointer is borrowed for the duration of the callback only. */
struct taskiter_thread {
	pid_t tid;
	unsigned int flags;    /* PROFD_TASKITER_F_* (bpf/taskiter.h); F_READ: regs and stack valid */
	char state;            /* the letter /proc/PID/task/TID/stat shows ('S', 'D', 'R'...) */
	long syscall_nr;       /* the syscall it is blocked in, -1 none (with F_READ only) */
	pid_t tracer;          /* thread tracing it (ptrace), 0 none */
	char comm[17];
	const uint64_t *kframes; /* kernel return addresses, innermost first */
	int nkframes;
	/* kframes[i]'s name as /proc/PID/stack prints it ("futex_wait+0x9a/0x150"), NULL if unknown */
	const char *knames[TASKITER_MAX_KFRAMES];
	struct unwind_regs regs;
	struct unwind_stack stack;
	size_t stack_wanted;   /* the copy size asked for in this walk; less is copied at the mapping's end */
	uint64_t switches;     /* context switches so far (nvcsw + nivcsw) */
};

/* Called once per visited thread. A negative return stops the walk and is its result. */
typedef int (*taskiter_fn)(void *ctx, const struct taskiter_thread *th);

/* Loads and attaches the iterator for process pid (in profd's PID namespace; 0: for any, each
 * walk naming its process), copying at most stack_bytes of each stack
 * (1..PROFD_TASKITER_MAX_STACK). libbpf's messages (the verifier log) are kept quiet. Returns 0
 * and *ret, or -errno with why (no newline) saying what failed, meant to follow "the BPF task
 * iterator is unavailable: ". Free with taskiter__free(). */
int taskiter__new(pid_t pid, size_t stack_bytes, struct taskiter **ret, char *why, size_t whylen);
void taskiter__free(struct taskiter *ti); /* NULL-safe */

/* Drops what ti keeps for walks of pid (its bound link): to be called when that process has
 * ended, so that a process given the same PID later is walked through a link of its own. */
void taskiter__forget(struct taskiter *ti, pid_t pid); /* NULL-safe */

/* Visits the target's threads: every one (only == NULL), or only the nonly tids in only (at
 * most TASKITER_MAX_RETRY; more is -E2BIG), copying at most copy_bytes of each stack (0: the
 * stack_bytes given to taskiter__new). fn runs for each visited thread, in the kernel's order
 * (threads created or exited during the walk may be missed, never reported twice).
 * Returns the number of threads visited, fn's negative return, or -errno. */
#define TASKITER_MAX_RETRY 4096
int taskiter__walk(struct taskiter *ti, const pid_t *only, size_t nonly, size_t copy_bytes, taskiter_fn fn,
		   void *ctx);
/* The same for the threads of process pid (0: the one given to taskiter__new, -EINVAL if none). */
int taskiter__walk_pid(struct taskiter *ti, pid_t pid, const pid_t *only, size_t nonly, size_t copy_bytes,
		       taskiter_fn fn, void *ctx);

/* The /proc state letter of a task's __state and exit_state: 'R', 'S', 'D', 'T', 't', 'X', 'Z',
 * 'P' or 'I' (fs/proc/array.c's task_state_array order). */
char taskiter_state_letter(uint32_t state, uint32_t exit_state);

#endif
