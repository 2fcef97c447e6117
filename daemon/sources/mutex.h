/* SPDX-License-Identifier: MIT */
/* The mutex profile (/debug/pprof/mutex): lock contention of the target's threads with Go's
 * meaning, the delay that waiters of a lock suffered charged to the user stack of the thread that
 * released it, from bpf/mutex.bpf.c on the futex syscall tracepoints (no uprobe: an uncontended
 * lock never enters the kernel and costs nothing). Go's sample types (contentions/count,
 * delay/nanoseconds) and sampling (--mutex-rate N: one contended unlock in N on average, values
 * scaled by N, as runtime.SetMutexProfileFraction). Condition-variable and semaphore waits are
 * not lock contention and are left to the block profile. Attached on demand (sources/demand.h):
 * the first request attaches, ?seconds=N collects a window, the tracking stops after
 * --mutex-idle without a request. Every public function is thread-safe. */
#ifndef PROFD_MUTEX_H
#define PROFD_MUTEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pprof/provider.h"

struct procs;

#define MUTEX_DEFAULT_RATE 10                        /* --mutex-rate 10 */
#define MUTEX_DEFAULT_IDLE_NS (600ll * 1000000000)   /* --mutex-idle 10m */
#define MUTEX_MAX_WINDOWS 16                          /* ?seconds=N windows at once */
#define MUTEX_DEFAULT_MAX_STACKS (1u << 16)           /* distinct (stack, labels) kept */
#define MUTEX_RING_BYTES (8u << 20)
#define MUTEX_STACK_BYTES 16384
/* Sampled wakes whose stacks are remembered for the charges that follow them (power of two). */
#define MUTEX_WAKE_TABLE 4096

struct mutex_config {
	uint32_t rate;       /* Go's mutex profile fraction: 1 (every contended unlock) .. 1,000,000 */
	int64_t idle_ns;     /* the tracking stops after this long without a request */
	uint32_t max_stacks; /* distinct samples kept; more are counted as dropped */
};

/* Defaults: rate 10, 10 min, MUTEX_DEFAULT_MAX_STACKS. */
void mutex_config_default(struct mutex_config *cfg);
/* --mutex-rate: a whole number from 1 to 1000000 (as Go's runtime.SetMutexProfileFraction: on
 * average one contention event in N is reported). Returns 0 or -EINVAL with err naming the flag. */
int mutex_rate_parse(const char *s, uint32_t *ret, char *err, size_t errlen);
/* --mutex-idle: as --heap-idle (1s..168h, unit s, m or h). Returns 0 or -EINVAL, err set. */
int mutex_idle_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen);
/* What a futex(2) call with operation op and value val is for this profile (exposed for tests):
 * PROFD_MUTEX_LOCK_WAIT, PROFD_MUTEX_WAKE or PROFD_MUTEX_OTHER (bpf/mutex.h). */
int mutex_classify(uint32_t op, uint32_t val);

struct mutex_source;

/* Starts the demand manager for the processes of ps (borrowed; must outlive the source). Nothing
 * is loaded before the first request. Returns 0 or -errno with err set. */
int mutex_source__new(struct procs *ps, const struct mutex_config *cfg, struct mutex_source **ret, char *err,
		      size_t errlen);
/* Detaches and stops the manager. NULL-safe. */
void mutex_source__free(struct mutex_source *m);
/* The /debug/pprof/mutex profile for endpoints__add_profile(). */
void mutex_source__provider(struct mutex_source *m, struct profd_profile *ret);

#endif
