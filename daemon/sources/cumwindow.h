/* SPDX-License-Identifier: MIT */
/* The request side of Go's contention profiles (block, mutex): a source tracked on demand
 * (demand.h) keeps a cumulative sample set of [count, delay] fed from a BPF ring buffer; a
 * snapshot is that set since the tracking began, as Go's contentions/count and delay/nanoseconds
 * (each source scales its own values); a window (?seconds=N) is the difference of two copies N
 * seconds apart, said as such, cut short when the single target exits or the requester leaves.
 * The source keeps its lock, set, ring buffer and wording: these functions take the lock, drain
 * the ring and read its fields through the pointers given at init. */
#ifndef PROFD_CUMWINDOW_H
#define PROFD_CUMWINDOW_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pprof/provider.h"

struct demand;
struct procs;
struct ring_buffer;

/* Under the source's lock: a cumulative sample's two values as the profile's (scaled). */
typedef void (*cumwindow_values_fn)(void *ctx, const int64_t *in, int64_t *out);
/* Under the source's lock: the comments every profile of the source carries. */
typedef void (*cumwindow_comments_fn)(void *ctx, struct profd_sample_set *set, bool started);

struct cumwindow {
	void *ctx;
	pthread_mutex_t *lock;
	struct demand *const *demand;           /* the source's fields, read at each request */
	struct ring_buffer *const *rb;          /* under lock; NULL while detached */
	struct profd_sample_set *const *cum;    /* under lock */
	const int64_t *since;                   /* under lock: CLOCK_REALTIME the set counts from */
	struct procs *ps;
	pid_t single;                           /* the one target of --pid; 0 over a set */
	const char *window_what;                /* "the waits that ended in it" */
	cumwindow_values_fn values;
	cumwindow_comments_fn comments;
};

/* The cumulative profile, attaching the source if it is not (then "started" for its comments). */
int cumwindow_snapshot(const struct cumwindow *c, struct profd_sample_set **ret);
/* What the next duration_ns add to it, as a profd_profile.collect does. */
int cumwindow_collect(const struct cumwindow *c, int64_t duration_ns, profd_cancel_fn cancelled, void *arg,
		      struct profd_sample_set **ret);

#endif
