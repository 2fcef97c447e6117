/* SPDX-License-Identifier: MIT */
/* The heap profile source: eBPF uprobes on the target's allocator (allocator.h) sample
 * allocations the way Go and tcmalloc do (a per-thread byte countdown with exponentially
 * distributed intervals, mean `rate` bytes), a manager thread unwinds each sampled allocation's
 * copied stack (unwind.h) and keeps, per (stack, size), how much was allocated and freed while
 * the probes were attached. Serves /debug/pprof/heap and /debug/pprof/allocs (pprof-compat.md
 * 1.8, 2.5, 3.4, 3.7), SIGUSR2 snapshots and the one-shot `profd heap`.
 *
 * A uprobe costs the target one trap per allocator call whatever the BPF program does, so the
 * probes are attached only while wanted (sources/demand.h): from start-up (--heap
 * inuse|allocs), or on demand (--heap demand, the default): during a ?seconds=N window, and from a
 * request without seconds until --heap-idle passes without one. While attached, the manager
 * estimates their cost every HEAP_BUDGET_CHECK_NS (hits counted in BPF x the calibrated cost of
 * one hit, against the target's CPU time) and pauses them when it exceeds --heap-budget; they
 * come back after demand.h's backoff. Every public function is thread-safe. */
#ifndef PROFD_HEAP_H
#define PROFD_HEAP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "pprof/provider.h"
#include "stacks/complete.h"
#include "stacks/samples.h"

struct procs;

enum heap_mode {
	HEAP_MODE_OFF = 0,
	HEAP_MODE_INUSE,  /* live and cumulative: entry, return and free probes, from start-up */
	HEAP_MODE_ALLOCS, /* cumulative only: entry probes only, cheaper, from start-up */
	HEAP_MODE_DEMAND, /* as inuse, attached only while requests ask for it (the default) */
};

#define HEAP_DEFAULT_RATE 524288
#define HEAP_DEFAULT_IDLE_NS (600ll * 1000000000)    /* --heap-idle 10m */
#define HEAP_MAX_IDLE_NS (7ll * 86400 * 1000000000)  /* a week */
#define HEAP_DEFAULT_BUDGET 2.0                      /* --heap-budget, % of the target's CPU */
#define HEAP_BUDGET_CHECK_NS 250000000ll             /* how often the cost is estimated */
/* Probes that cost less than this share of one CPU are never paused: below it the estimate is
 * noise against the target's own CPU time (an idle target that calls malloc once a second). */
#define HEAP_BUDGET_FLOOR 0.001
/* ?seconds=N windows open at once; more get -EBUSY. */
#define HEAP_MAX_WINDOWS 16
#define HEAP_DEFAULT_MAX_LIVE (1u << 20)
#define HEAP_DEFAULT_MAX_STACKS (1u << 16)
#define HEAP_DEFAULT_RING_BYTES (16u << 20)
#define HEAP_MAX_RING_BYTES (1u << 30)
#define HEAP_MAX_RATE (1ull << 40)

struct heap_config {
	enum heap_mode mode;
	uint64_t rate;            /* mean bytes between samples; 1 = every allocation */
	const char *snapshot_dir; /* where SIGUSR2 writes; NULL = snapshots disabled. Borrowed. */
	uint32_t max_live;        /* live sampled allocations tracked (BPF table and profd) */
	uint32_t max_stacks;      /* distinct (stack, size) records kept */
	uint32_t ring_bytes;      /* event ring: a power of two, 4096..HEAP_MAX_RING_BYTES */
	int64_t idle_ns;          /* demand: tracking stops after this long without a request */
	double budget_pct;        /* pause the probes above this % of the target's CPU; 100 = never */
	bool noop;                /* benchmarks only: probes attached, BPF programs do nothing */
	bool no_session;          /* benchmarks/tests: classic uretprobes even if sessions work */
};

/* Defaults: demand, 524288, idle 10 min, budget 2%, no snapshot dir, HEAP_DEFAULT_MAX_*. */
void heap_config_default(struct heap_config *cfg);
/* "demand", "inuse", "allocs" or "off" (flag --heap, env PROFD_HEAP). Returns 0 or -EINVAL; on
 * -EINVAL err holds "--heap: expected demand, inuse, allocs or off, got 'x'". */
int heap_mode_parse(const char *s, enum heap_mode *ret, char *err, size_t errlen);
const char *heap_mode_name(enum heap_mode mode);
/* A duration (flag --heap-idle): a whole number with a unit, s, m or h ("90s", "10m", "1h"),
 * 1 s to a week. Returns 0 or -EINVAL with err set. */
int heap_idle_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen);
/* A percentage of the target's CPU time (flag --heap-budget): a number above 0 and at most 100,
 * an optional '%' ("2", "0.5", "100"); 100 means no limit. Returns 0 or -EINVAL with err set. */
int heap_budget_parse(const char *s, double *ret, char *err, size_t errlen);
/* Decimal bytes 1..2^40, optional k/K, m/M suffix (flag --heap-rate, env PROFD_HEAP_RATE).
 * Returns 0 or -EINVAL with err set. */
int heap_rate_parse(const char *s, uint64_t *ret, char *err, size_t errlen);
/* A directory that exists and is writable (flag --snapshot-dir, env PROFD_SNAPSHOT_DIR).
 * Returns 0 or -errno with err set. */
int heap_snapshot_dir_check(const char *dir, char *err, size_t errlen);

struct heap_source;

struct heap_stats {
	uint64_t calls, frees, sampled, nested;
	uint64_t events, unwind_failed, live, records; /* unwind_failed: stacks.short_by summed */
	uint64_t dropped_ringbuf;   /* sampled allocations lost: ring buffer full */
	uint64_t dropped_free_ev;   /* free events lost: those allocations stay "in use" */
	uint64_t dropped_live_full; /* sampled allocations not tracked: live table full */
	uint64_t dropped_records;   /* sampled allocations not kept: max_stacks reached */
	uint64_t pending_lost, failed, no_thread, stack_fail;
	uint64_t unwind_stops[8];   /* sampled stacks by why the walk ended (enum unwind_stop) */
	struct stack_tally stacks;  /* sampled stacks by the one rule (stacks/complete.h) */
};

/* Detects the allocator of each process of ps (a set shares one plan per binary layout: forked
 * workers) and starts the manager thread; with --heap inuse or allocs it also loads the BPF
 * program and attaches the probes before returning (demand mode: at the first request). Over a
 * set (procs__multi) it follows the members that come and go, probing those whose allocator can
 * be probed, and labels samples with pid and process; one process must be probeable, or it fails.
 * mode must not be HEAP_MODE_OFF. ps is borrowed and must outlive the source. Returns 0,
 * -EPROTONOSUPPORT (a Go program), -ENOENT (no allocator found), -ESRCH, -EPERM, or -errno; err
 * then holds one sentence for the user. Free with heap_source__free(). */
int heap_source__new(struct procs *ps, const struct heap_config *cfg, struct heap_source **ret, char *err,
		     size_t errlen);
/* Detaches the probes and stops the manager. NULL-safe. */
void heap_source__free(struct heap_source *h);

/* The /debug/pprof/heap and /debug/pprof/allocs profiles, ready for the HTTP layer's endpoints__add_profile(). */
void heap_source__profiles(struct heap_source *h, struct profd_profile *ret_heap,
			   struct profd_profile *ret_allocs);
/* One line, e.g. "allocator: glibc (libc.so.6), 9 probes: malloc, free+3, ...". Borrowed,
 * valid until heap_source__free(). For the log at start-up. */
const char *heap_source__describe(const struct heap_source *h);

/* The heap (allocs=false) or allocs profile now: values scaled as Go scales them, from what was
 * tracked so far (in demand mode, this does not start the tracking: the profiles' snapshot
 * callbacks do). The caller frees *ret with sample_set__free(). Returns 0 or -errno. */
int heap_source__snapshot(struct heap_source *h, bool allocs, struct profd_sample_set **ret);
/* A window (?seconds=N): attaches the probes if they are not (overlapping windows share them),
 * waits duration_ns (ending early when cancelled(arg) says so or the target exits, said in a
 * comment), and answers with alloc_* = what was allocated in the window, inuse_* = what of that is
 * still in use at its end. Returns 0, -EBUSY (HEAP_MAX_WINDOWS open), or the attach error; the
 * caller frees *ret. */
int heap_source__collect(struct heap_source *h, bool allocs, int64_t duration_ns, profd_cancel_fn cancelled,
			 void *arg, struct profd_sample_set **ret);
/* debug=1 text (pprof-compat.md 2.5): raw sampled counts, records by in-use bytes. */
int heap_source__write_text(struct heap_source *h, struct buf *out);
void heap_source__stats(struct heap_source *h, struct heap_stats *ret);

/* For SIGUSR2, from the main loop: starts writing the heap profile to the rolling path
 * <snapshot_dir>/profd-heap-<pid>.pb.gz (over a set: profd-heap-set-<profd's pid>.pb.gz) (through a temporary file and rename) on a helper
 * thread and copies that path to ret_path. Returns 0, -EBUSY (a write is still in progress:
 * the request is ignored), -ENOTDIR (no --snapshot-dir), or -errno. */
int heap_source__request_snapshot(struct heap_source *h, char *ret_path, size_t len);
/* As heap_source__request_snapshot, to a file of its own, <snapshot_dir>/profd-heap-<pid>-
 * <UTC time to the millisecond>.pb.gz (over a set: profd-heap-set-<profd's pid>-...), after
 * which only the newest `keep` such files of this process remain. Returns as
 * heap_source__request_snapshot, or -EINVAL when keep < 1. */
int heap_source__request_kept_snapshot(struct heap_source *h, int keep, char *ret_path, size_t len);
/* Waits until no snapshot write is in progress; returns the result of the last one (0 or -errno). */
int heap_source__wait_snapshot(struct heap_source *h);

/* `profd heap --pid PID --seconds N -o FILE` (or a set's selector): attaches (demand mode counts
 * as inuse), samples for seconds (within cfg->budget_pct like the daemon), writes the heap
 * profile (allocs profile when cfg->mode is HEAP_MODE_ALLOCS) gzip-compressed to out_path
 * (through out_path.tmp and rename; "-" writes to stdout). Ends early if the one target exits or
 * *stop becomes non-zero (NULL: never). Returns 0 or -errno with err set. */
int heap_oneshot(struct procs *ps, int seconds, const struct heap_config *cfg, const char *out_path,
		 volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Go's scaleHeapSample (pprof-compat.md 3.7), bit-identical: exposed for tests. */
void heap_scale(int64_t count, int64_t size, int64_t rate, int64_t *ret_count, int64_t *ret_size);
/* Fills table[n] with -ln(u) * rate for u = (i + 0.5) / n: the BPF sampler's intervals. */
void heap_fill_exp_table(uint64_t *table, size_t n, uint64_t rate);

#endif
