/* SPDX-License-Identifier: MIT */
/* The thread-dump profile source ("goroutine" for native threads): every thread of the target is
 * stopped alone for a few microseconds (ptrace_capture), then unwound and symbolized from the copy.
 * Exception: a thread blocked in a syscall that a ptrace stop would make fail with EINTR
 * (epoll_wait, epoll_pwait(2), rt_sigtimedwait, semop, semtimedop, io_getevents, io_pgetevents,
 * io_uring_enter) is not stopped: its sp and pc come from /proc/PID/task/TID/syscall and its stack
 * is copied while it provably stays blocked; frames needing other registers end its walk early.
 * Per thread: TID, name, scheduler state, the syscall it is blocked in, its kernel stack.
 * One dump at a time per source (internal lock); captures of all sources serialize as well.
 *
 * debug=2 text (Go's panic-style dump, pprof-compat.md 2.4), one block per thread, main first:
 *   goroutine <tid> [<state>[: <syscall or wchan>][, <note>], "<name>"]:
 *   <function>(...)
 *   \t<file>:<line> +0x<pc - function entry>
 * e.g.  goroutine 4242 [sleeping: futex, "worker-3"]:
 * <state>: running, sleeping, disk wait, stopped, tracing stop, zombie, dead, idle, parked...
 * <note>: "stack not captured: <reason>", "traced by <pid>", "stack truncated", "signal <n> pending".
 * The name is the thread's comm, quoted, with ']' '"' '\' and control characters replaced by '_'.
 * Inlined frames print (...) and no +0x, as Go does. A frame with no symbol prints its address as
 * the function and "<module path>:0 +0x<offset in the module file>". Kernel frames (from
 * /proc/PID/task/TID/stack, when readable) come first, as "<kernel function>(...)" and
 * "\t[kernel]:0 +0x<offset>". Blocks are separated by one blank line; none follows the last.
 * debug=1 and debug=0 group identical user stacks (kernel frames are not part of them). */
#ifndef PROFD_THREADS_H
#define PROFD_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "pprof/provider.h"
#include "stacks/samples.h"

struct target;
struct unwinder;
struct symbolizer;
struct threads_source;

#define THREADS_DEFAULT_STACK_BYTES (64u << 10)
/* Threads beyond this many in one dump are counted, not captured. */
#define THREADS_MAX_PER_DUMP 32768

/* Creates the source. t, uw and sym are borrowed and must outlive it. stack_bytes is the stack copy
 * size per thread (0: THREADS_DEFAULT_STACK_BYTES; at most PTRACE_CAPTURE_MAX_STACK).
 * Returns NULL and sets errno (EINVAL, ENOMEM). Free with threads_source__free(). */
struct threads_source *threads_source__new(const struct target *t, struct unwinder *uw,
					   struct symbolizer *sym, size_t stack_bytes);
void threads_source__free(struct threads_source *src); /* NULL-safe */

/* Where a thread was created, when known (threadcreate.h): fills pcs (at most max, leaf first,
 * samples.h convention) with its creator's stack at the creation and *ret_creator with the
 * creator's TID; returns the number of pcs, or 0 when unknown. */
typedef int (*threads_creator_fn)(void *ctx, int tid, uint64_t *pcs, int max, int *ret_creator);
/* With fn set, debug=2 ends the block of each thread whose creation is known with Go's trailer:
 *   created by <function> in goroutine <creator tid>
 *   \t<file>:<line> +0x<offset>
 * where <function> is the innermost frame of the creation stack outside the C library's thread
 * creation (clone, clone3, pthread_create, create_thread...). Call before serving. */
void threads_source__set_creators(struct threads_source *src, threads_creator_fn fn, void *ctx);

/* Fills *ret with the "goroutine" profile (count, snapshot, write_text, status) bound to src.
 * Register it with the HTTP layer's endpoints__add_profile(); src must outlive the endpoints. */
void threads_source__profile(struct threads_source *src, struct profd_profile *ret);

/* Takes a dump and appends its text to out: debug >= 2 the panic-style dump, debug 1 Go's
 * count text (pprof_write_count_text). Returns 0, -EINVAL (debug <= 0), -ESRCH (the target is
 * gone), -EPERM (no thread could be stopped: see threads_source__error()), -ENOSPC, -ENOMEM. */
int threads_source__dump_text(struct threads_source *src, int debug, struct buf *out);

/* Takes a dump as a sample set: sample type goroutine/count, period_type goroutine/count, period
 * 1, one sample per distinct user stack, value = number of threads, comments saying how it was
 * taken. Returns 0 or -errno as above; the caller frees *ret with sample_set__free(). */
int threads_source__snapshot(struct threads_source *src, struct profd_sample_set **ret);

/* Why the last dump failed, "" if it did not: the reason only, meant to follow "cannot stop the
 * threads of process PID: ", e.g. "thread 12 is already traced by process 34 (strace); only one
 * tracer is allowed: detach it (quit gdb or strace) and retry". Borrowed; valid until the next
 * dump from src. */
const char *threads_source__error(struct threads_source *src);

/* One line on how the last dump went (threads, captured, exited during the dump, timeouts, pause
 * median and max, truncated stacks, wall time), appended to out without a newline.
 * Returns 0, -ENODATA before the first dump, or -errno from buf. */
int threads_source__summary(struct threads_source *src, struct buf *out);

/* The name of an x86_64 syscall number ("futex"), or NULL when not in the table. */
const char *threads_syscall_name(long nr);

#endif
