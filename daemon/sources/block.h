/* SPDX-License-Identifier: MIT */
/* The block profile (/debug/pprof/block): where the target's threads wait off-CPU, by user
 * stack, with Go's sample types (contentions/count, delay/nanoseconds) and Go's sampling rule
 * (--block-rate: a wait of d ns is kept with probability min(1, d/rate) and scaled), from
 * bpf/block.bpf.c on sched_switch and syscall exit. Each sample has a `wait` label naming the
 * syscall the thread waited in. Attached on demand (sources/demand.h): the first request
 * attaches, ?seconds=N collects a window, the tracking stops after --block-idle without a
 * request. Every public function is thread-safe. */
#ifndef PROFD_BLOCK_H
#define PROFD_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pprof/provider.h"

struct procs;

#define BLOCK_DEFAULT_RATE_NS 10000000ull            /* --block-rate 10ms */
#define BLOCK_DEFAULT_IDLE_NS (600ll * 1000000000)   /* --block-idle 10m */
#define BLOCK_MAX_WINDOWS 16                          /* ?seconds=N windows at once */
#define BLOCK_DEFAULT_MAX_STACKS (1u << 16)           /* distinct (stack, labels) kept */
#define BLOCK_RING_BYTES (8u << 20)
#define BLOCK_STACK_BYTES 16384                       /* PROFD_BLOCK_MAX_STACK */

struct block_config {
	uint64_t rate_ns;    /* Go's block profile rate: 1 (every wait) .. 1 s */
	int64_t idle_ns;     /* the tracking stops after this long without a request */
	uint32_t max_stacks; /* distinct samples kept; more are counted as dropped */
};

/* Defaults: 10 ms, 10 min, BLOCK_DEFAULT_MAX_STACKS. */
void block_config_default(struct block_config *cfg);
/* A duration for --block-rate: a whole number with an optional unit ns (the default, as Go's
 * runtime.SetBlockProfileRate), us, ms or s; 1ns to 1s. Returns 0 or -EINVAL with err naming
 * the flag ("--block-rate: ..."). */
int block_rate_parse(const char *s, uint64_t *ret_ns, char *err, size_t errlen);
/* --block-idle: as --heap-idle (1s..168h, unit s, m or h). Returns 0 or -EINVAL, err set. */
int block_idle_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen);
/* The `wait` label of a wait in syscall nr (x86_64 numbers): "futex", "read", ...; "syscall N"
 * for one without a name here, "none" for nr < 0 (a wait outside a syscall, e.g. a page fault).
 * Writes into buf (at least 24 bytes) and returns it. */
const char *block_wait_name(int nr, char *buf, size_t len);
/* Go's scaled values of one kept wait of d ns at rate (exposed for tests): count in thousandths. */
void block_scale(uint64_t d, uint64_t rate, uint64_t *count_milli, uint64_t *delay_ns);
/* Go's keep rule, with rand uniform over 32 bits (exposed for tests). */
bool block_keep(uint64_t d, uint64_t rate, uint32_t rand);

struct block_source;

/* Starts the demand manager for the processes of ps (borrowed; must outlive the source). Nothing
 * is loaded before the first request. Returns 0 or -errno with err set. */
int block_source__new(struct procs *ps, const struct block_config *cfg, struct block_source **ret, char *err,
		      size_t errlen);
/* Detaches and stops the manager. NULL-safe. */
void block_source__free(struct block_source *b);
/* The /debug/pprof/block profile for endpoints__add_profile(). */
void block_source__provider(struct block_source *b, struct profd_profile *ret);

#endif
