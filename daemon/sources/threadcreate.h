/* SPDX-License-Identifier: MIT */
/* The threadcreate profile (/debug/pprof/threadcreate): where the target's threads are created,
 * by the creator's user stack, one sample per creation (threadcreate/count, as Go's), from
 * bpf/threadcreate.bpf.c on the task_newtask tracepoint. Attached from start-up (thread creation
 * is rare, and a tracepoint costs nothing on other paths) and cumulative since; the threads that
 * existed at attach are one sample per process under the frame "created before profd attached".
 * Every public function is thread-safe. */
#ifndef PROFD_THREADCREATE_H
#define PROFD_THREADCREATE_H

#include <stddef.h>

#include "pprof/provider.h"

struct procs;

#define THREADCREATE_MAX_STACKS (1u << 14) /* distinct creation stacks kept */

struct threadcreate_source;

/* Loads and attaches the program for the processes of ps (borrowed; must outlive the source)
 * and counts their threads. Returns 0 or -errno with one sentence in err. */
int threadcreate_source__new(struct procs *ps, struct threadcreate_source **ret, char *err, size_t errlen);
/* Detaches and frees. NULL-safe. */
void threadcreate_source__free(struct threadcreate_source *tc);
/* The /debug/pprof/threadcreate profile for endpoints__add_profile(). */
void threadcreate_source__provider(struct threadcreate_source *tc, struct profd_profile *ret);

#endif
