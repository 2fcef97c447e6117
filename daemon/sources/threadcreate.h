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
#include <stdint.h>

#include "pprof/provider.h"

struct procs;

#define THREADCREATE_MAX_STACKS (1u << 14) /* distinct creation stacks kept */
#define THREADCREATE_CREATIONS 4096         /* recent creations kept by new TID (direct-mapped) */
#define THREADCREATE_CREATION_FRAMES 32     /* frames kept per creation */

struct threadcreate_source;

/* Loads and attaches the program for the processes of ps (borrowed; must outlive the source)
 * and counts their threads. Returns 0 or -errno with one sentence in err. */
int threadcreate_source__new(struct procs *ps, struct threadcreate_source **ret, char *err, size_t errlen);
/* Detaches and frees. NULL-safe. */
void threadcreate_source__free(struct threadcreate_source *tc);
/* The creation of thread tid, if it was seen (since attach; among the last THREADCREATE_CREATIONS
 * whose TIDs do not collide): copies at most max of its creator's frames (leaf first, samples.h
 * convention) to pcs, the creator's TID to *ret_creator, and returns the number copied; 0 when
 * unknown. ctx is the source (threads.h's threads_creator_fn). */
int threadcreate_source__creator(void *ctx, int tid, uint64_t *pcs, int max, int *ret_creator);
/* The /debug/pprof/threadcreate profile for endpoints__add_profile(). */
void threadcreate_source__provider(struct threadcreate_source *tc, struct profd_profile *ret);

#endif
