/* SPDX-License-Identifier: MIT */
/* The resource history: a ring of figures sampled every interval (RSS, threads, open fds, sampled
 * heap in use), its memory fixed at start, drawn on the index as server-rendered SVG charts and
 * served as CSV (/debug/pprof/history?format=csv), so that a leak's slope and its stair-steps show
 * at a glance. Series: for one process, its own; for a set, the set's total (series 0) and the
 * first HISTORY_MAX_PROCS processes seen, one series each (later ones count in the total only).
 * A sampler thread reads the figures (proc/procstat.h, no fds walk of threads, no cgroup) and the
 * sources' heap in use through a gather callback; it never stops a thread or attaches a probe.
 * Every public function is thread-safe. */
#ifndef PROFD_HISTORY_H
#define PROFD_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "pprof/provider.h"

#define HISTORY_DEFAULT_INTERVAL_NS (10ll * 1000000000) /* --history-interval 10s */
#define HISTORY_MIN_INTERVAL_NS 1000000000ll            /* 1s */
#define HISTORY_MAX_INTERVAL_NS (3600ll * 1000000000)   /* 1h */
#define HISTORY_DEFAULT_LENGTH 8640                     /* --history-length: 24 h at 10 s */
#define HISTORY_MAX_LENGTH 100000
#define HISTORY_MAX_PROCS 8     /* processes of a set with a series of their own */
#define HISTORY_UNKNOWN UINT32_MAX
#define HISTORY_CHART_POINTS 440 /* a chart draws at most this many points (each the max of a bucket) */

/* One series at one time; HISTORY_UNKNOWN when not known (the process was not running). */
struct history_point {
	uint32_t rss_kb, threads, fds, heap_kb;
};

struct history_config {
	int64_t interval_ns;
	uint32_t length; /* rows kept; 0: no history */
	int nprocs;      /* series of single processes besides the total: 0 for --pid (series 0 is
			  * the process), up to HISTORY_MAX_PROCS for a set */
};

/* A duration (flag --history-interval): a whole number with a unit s, m or h ("10s", "1m"),
 * HISTORY_MIN_INTERVAL_NS to HISTORY_MAX_INTERVAL_NS. Returns 0 or -EINVAL with err naming the
 * flag. */
int history_interval_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen);

struct history;
struct procs;

/* The sources' figures (endpoints gathers them from the providers' metrics callbacks); the
 * history keeps profd_heap_inuse_bytes by pid. */
typedef int (*history_gather_fn)(void *ctx, const struct profd_scope *scope, struct metrics *m);

/* Allocates the ring (length x (1 + nprocs) points: all the memory it will use). Returns 0,
 * -EINVAL (bad config) or -ENOMEM. Free with history__free(). */
int history__new(const struct history_config *cfg, struct history **ret);
/* Stops the sampler if it runs. NULL-safe. */
void history__free(struct history *h);
/* Starts the sampler thread over the processes of ps (borrowed, must outlive it): one sample
 * now, then one every interval. gather may be NULL. Returns 0 or -errno. */
int history__start(struct history *h, struct procs *ps, history_gather_fn gather, void *ctx);

/* The sampler's steps, public for tests: the series of process (pid, start_time) named comm, a
 * new one while there is room (1..nprocs), else -ENOSPC; */
int history__series(struct history *h, pid_t pid, uint64_t start_time, const char *comm);
/* a row at when_s (CLOCK_REALTIME seconds) with one point per series (1 + nprocs of them). */
void history__add_row(struct history *h, int64_t when_s, const struct history_point *points);

/* The series of pid (the newest one with that PID), 0 for the total or the one process;
 * -ENOENT when pid has none. pid 0: series 0. */
int history__find(struct history *h, pid_t pid);
/* CSV: "time,pid,process,rss_bytes,threads,open_fds,heap_inuse_bytes", one line per row and
 * series (series < 0: all of them; else that one), oldest first; time in RFC 3339 UTC, unknown
 * values empty, the set's total with an empty pid and process "(all)". Returns 0 or -ENOMEM. */
int history__write_csv(struct history *h, int series, struct buf *out);
/* HTML for the index: a caption and four inline SVG charts (RSS, threads, open fds, heap in use)
 * of one series against time, each with its last value in data-last. Returns 0 or -ENOMEM. */
int history__write_charts(struct history *h, int series, struct buf *out);
/* Rows held now. */
uint32_t history__rows(struct history *h);

#endif
