/* SPDX-License-Identifier: MIT */
/* Snapshots on triggers (--snapshot-on oom, pressure): when the OOM killer chooses a process of
 * the set (sources/oomwatch.h) or its memory cgroup reports pressure (proc/mempressure.h), the
 * profiles of SNAPSHOT_PROFILES that profd serves are taken at once from what their sources
 * hold (struct profd_scope.held: nothing attached for it), then encoded and written on a helper
 * thread to DIR/profd-PROFILE-PID-TIME.pb.gz (over a set's pressure: PID is "set-" and profd's
 * own). Single-flight (pressure while files are written is skipped and said; an OOM kill waits
 * for them, milliseconds, rather than lose its pre-mortem), rate-limited (an
 * OOM kill at most once a second, pressure at most once per SNAPSHOT_PRESSURE_INTERVAL_NS), each
 * logged once; only the newest --snapshot-keep of each profile and process stay, and over a set
 * the files of the last --snapshot-keep OOM victims. The main loop polls the triggers'
 * descriptors and calls check; every function is called from that one thread. */
#ifndef PROFD_SNAPSHOTS_H
#define PROFD_SNAPSHOTS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct procs;
struct endpoints;

/* The profiles a triggered snapshot writes, those profd serves. */
#define SNAPSHOT_PROFILES { "heap", "growth", "fd" }
#define SNAPSHOT_MAX_PROFILES 8
#define SNAPSHOT_OOM_INTERVAL_NS (1ll * 1000000000)
#define SNAPSHOT_PRESSURE_INTERVAL_NS (30ll * 1000000000)
#define SNAPSHOT_MAX_FDS 4 /* descriptors the triggers ask to poll */

struct snapshot_config {
	const char *dir;      /* --snapshot-dir */
	int keep;             /* --snapshot-keep */
	bool oom, pressure;   /* the triggers asked for */
	pid_t pid;            /* --pid (with --children, the first process): whose cgroup pressure
			       * watches; 0 for --cgroup and --unit, whose cgroup it is */
};

struct snapshot_triggers;

/* Starts the triggers asked for over the processes of ps, writing the profiles ep serves (both
 * borrowed, must outlive it). A trigger the kernel or the cgroup cannot give is said in the log
 * and left out; the others work. Returns 0 or -ENOMEM. */
int snapshot_triggers__new(const struct snapshot_config *cfg, struct procs *ps, const struct endpoints *ep,
			   struct snapshot_triggers **ret);
/* Waits for a write in progress and frees. NULL-safe. */
void snapshot_triggers__free(struct snapshot_triggers *t);
/* Fills pfd (room for SNAPSHOT_MAX_FDS) with what to poll; returns how many. */
int snapshot_triggers__pollfds(const struct snapshot_triggers *t, struct pollfd *pfd);
/* Reads the OOM victims and the pressure notifications queued, and takes the snapshots they call
 * for. Never blocks for long: the files are written on the helper thread. */
void snapshot_triggers__check(struct snapshot_triggers *t);
/* The one process of --pid ended: reads the OOM queue once more (the kernel queues its victim
 * before the victim dies) and waits until the files are written, so that profd's exit comes
 * after its pre-mortem. */
void snapshot_triggers__finish(struct snapshot_triggers *t);

#endif
