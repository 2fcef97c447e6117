/* SPDX-License-Identifier: MIT */
/* What a profile source offers to whoever serves it: a named profile (/debug/pprof/NAME) as a
 * table of callbacks over sample sets and text. Sources fill one in (sources/); the HTTP layer
 * (http/endpoints.c) serves every one the same way, with Go's parameters and errors, and never
 * learns which source is behind it. Include-free but for the sample set and buffer types. */
#ifndef PROFD_PPROF_PROVIDER_H
#define PROFD_PPROF_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "stacks/samples.h"

/* Polled by a collecting source every 100 ms or so: true ends the collection early. */
typedef bool (*profd_cancel_fn)(void *arg);

/* What one request asks of a profile beyond Go's parameters. */
struct profd_scope {
	int pid; /* ?pid=N: only this process of the set (the caller checked it is a member); 0: all */
	/* A snapshot written on a trigger (--snapshot-on oom, pressure), often after the process
	 * ended: what the source holds now. A source attached on demand attaches nothing and renews
	 * no lease for it. */
	bool held;
};

/* Every callback gets the request's scope; a source of one process may ignore it (the caller
 * keeps only the samples of scope->pid, by their "pid" label, in any case). */
struct profd_profile {
	const char *name;        /* the path under /debug/pprof/, e.g. "heap", "profile" */
	const char *description; /* one line for the index */
	void *ctx;
	/* Index count column (threads, records); -errno when unknown. May be NULL. */
	int (*count)(void *ctx);
	/* The profile now, for debug=0 and for ?seconds=N deltas (two snapshots subtracted). May be
	 * NULL for a profile that only collects (the CPU profile). Returns 0 or -errno; the caller
	 * frees *ret. */
	int (*snapshot)(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret);
	/* Text for debug != 0, appended to out. Returns 0 or -errno. May be NULL: then debug=1 is the
	 * generic count-profile text built from the snapshot. */
	int (*write_text)(void *ctx, const struct profd_scope *scope, int debug, struct buf *out);
	/* debug=1 from the snapshot in Go's contention shape (pprof/pprof.h,
	 * pprof_write_contention_text_procs) instead of the count text: the header's name,
	 * "contention" (block) or "mutex". NULL: the count text. Ignored when write_text is set. */
	const char *contention_text;
	/* With contention_text: the "sampling period=" line (values are divided by it); 0: none. */
	int64_t contention_period;
	/* Optional line of status for the index (e.g. "allocator: glibc, 10 probes"). May be NULL. */
	int (*status)(void *ctx, struct buf *out);
	/* Collects what happens over the next duration_ns (?seconds=N): for profiles whose window
	 * is a collection from now on (the CPU profile; sources attached on demand) rather than
	 * the difference of two snapshots. Ends early when cancelled(arg) says so or the target
	 * exits, and says which in a comment of the set. May be NULL: ?seconds=N is then a delta
	 * of snapshots. Returns 0 or -errno (-EBUSY: too many collections at once); the caller
	 * frees *ret. */
	int (*collect)(void *ctx, const struct profd_scope *scope, int64_t duration_ns, profd_cancel_fn cancelled,
		       void *arg, struct profd_sample_set **ret);
	/* Words, for the user, why the last snapshot or write_text failed with err: one sentence
	 * appended to out (e.g. "cannot stop the threads of process 12: thread 12 is already traced
	 * by process 34 (strace); ..."). Returns -EBUSY when the cause is the target's state and
	 * retrying later may work (another tracer holds its threads), err for any other cause, 0
	 * when it has nothing to add (out unchanged). May be NULL. */
	int (*explain)(void *ctx, int err, struct buf *out);
	/* The source's figures for /metrics (base/metrics.h): per process of scope (scope->pid, or
	 * every one) with labels pid and process, and its own counters (lost events, cost). Reads
	 * what the source already holds: never attaches a probe or stops a thread. Several
	 * profiles of one source set it on one of them only. Returns 0 or -errno. May be NULL. */
	int (*metrics)(void *ctx, const struct profd_scope *scope, struct metrics *m);
};

#endif
