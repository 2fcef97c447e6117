/* SPDX-License-Identifier: MIT */
/* Memory pressure on a process's memory cgroup (--snapshot-on pressure), from the kernel's own
 * notifications, never by polling figures: on cgroup v2, the memory.events counters high and max
 * (the cgroup reached memory.high or memory.max and the kernel reclaimed its memory; read on the
 * nearest cgroup up the tree that has such a limit) and a PSI trigger on the cgroup's
 * memory.pressure (its tasks stalled on memory MEMPRESSURE_PSI_STALL_US in a
 * MEMPRESSURE_PSI_WINDOW_US window); on cgroup v1, where the memory controller may still live
 * (hybrid systems), memory.pressure_level at level "low" (reclaim began) through
 * cgroup.event_control. v2 is used when the process's cgroup has the memory controller there,
 * else v1. Not thread-safe: one thread polls and checks. */
#ifndef PROFD_MEMPRESSURE_H
#define PROFD_MEMPRESSURE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MEMPRESSURE_PSI_STALL_US 100000   /* 100 ms of stall ... */
#define MEMPRESSURE_PSI_WINDOW_US 1000000 /* ... within 1 s: 10% */
#define MEMPRESSURE_MAX_FDS 2             /* descriptors to poll */

struct mempressure;

/* memory.events text: the high and max counters. Pure. Returns 0 or -EINVAL when either is
 * missing. */
int mempressure_events_parse(const char *text, uint64_t *ret_high, uint64_t *ret_max);
/* The mount point of the cgroup v1 hierarchy with the memory controller in a mountinfo text.
 * Pure. Returns 0 or -ENOENT. */
int mempressure_v1_mount(const char *mountinfo, char *ret, size_t len);
/* The same, from profd's own /proc/self/mountinfo. Returns 0, -ENOENT or -errno. */
int mempressure_v1_root(char *ret, size_t len);
/* A cgroup v1 memory.limit_in_bytes at or above this means no limit (the kernel's is 2^63 less
 * a page). */
#define MEMPRESSURE_V1_UNLIMITED (1ull << 62)

/* Watches the memory cgroup of process pid, or, when cgroup_dir is not NULL, that cgroup v2
 * directory (--cgroup, --unit). Returns 0, or -errno with one sentence for the user in err
 * (-ENOENT: no memory controller on the process's cgroup in either version). Free with
 * mempressure__free(). */
int mempressure__new(pid_t pid, const char *cgroup_dir, struct mempressure **ret, char *err, size_t errlen);
void mempressure__free(struct mempressure *m); /* NULL-safe */
/* What is watched, for the log: "cgroup v2 /sys/fs/cgroup/x: memory.events high/max of ...".
 * Borrowed, valid until mempressure__free(). */
const char *mempressure__describe(const struct mempressure *m);
/* Fills pfd (room for MEMPRESSURE_MAX_FDS) with the descriptors to poll and their events;
 * returns how many. */
int mempressure__pollfds(const struct mempressure *m, struct pollfd *pfd);
/* Whether pressure was reported since the last call (reads and re-arms every notification;
 * never blocks): 1 with what was seen in why ("memory.events max 3 -> 5"), 0 if nothing,
 * -ENODEV once when the cgroup was removed (then nothing is polled any more: 0 descriptors). */
int mempressure__check(struct mempressure *m, char *why, size_t len);

#endif
