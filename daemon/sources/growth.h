/* SPDX-License-Identifier: MIT */
/* The growth profile source (/debug/pprof/growth): where the resident memory of the processes
 * profd serves grew, by stack, from their page faults alone (bpf/growth.bpf.c on the x86 user page-fault tracepoint).
 * No allocator probe: it works for any allocator (glibc, jemalloc, Go, V8, arenas, mmap pools)
 * and costs nothing while the target only reuses memory it has. Counts first touches of pages
 * (not-present faults, swap-ins too) weighed by the bytes they map, 4 KiB or 2 MiB for a
 * transparent huge page, samples them by bytes (a mean of `rate` bytes between samples, scaled
 * back as Go scales heap samples), unwinds each sampled fault's copied stack (unwind.h).
 *
 * The tracepoint runs on every fault of the machine while attached (a few instructions for
 * other processes, more for the target's), so it is attached only while wanted
 * (sources/demand.h): from start-up (--growth always), or on demand (the default) for a
 * ?seconds=N window and from a request without seconds until --growth-idle passes without one.
 * Every public function is thread-safe. */
#ifndef PROFD_GROWTH_H
#define PROFD_GROWTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "pprof/provider.h"
#include "stacks/complete.h"
#include "stacks/samples.h"

struct procs;

enum growth_mode {
	GROWTH_MODE_OFF = 0,
	GROWTH_MODE_DEMAND, /* attached while requests ask for it (the default) */
	GROWTH_MODE_ALWAYS, /* attached from start-up */
};

/* One sample per MiB faulted in on average: about one stack copy per 256 first touches of 4 KiB
 * pages, and 64 samples for 64 MiB of growth. */
#define GROWTH_DEFAULT_RATE (1u << 20)
#define GROWTH_DEFAULT_IDLE_NS (600ll * 1000000000)   /* --growth-idle 10m */
#define GROWTH_DEFAULT_MAX_STACKS (1u << 16)
/* The event ring, when the config leaves it to profd: room for the samples of
 * GROWTH_RING_GROWTH_BYTES of growth at the rate (a burst the reader may not drain in time when
 * its thread waits for a CPU on a loaded host), a power of two in MIN..MAX. 8 MiB at the default
 * rate; more only at rates below about 512 KiB. */
#define GROWTH_RING_GROWTH_BYTES (256ull << 20)
#define GROWTH_MIN_AUTO_RING_BYTES (8u << 20)
#define GROWTH_MAX_AUTO_RING_BYTES (64u << 20)
#define GROWTH_MAX_RING_BYTES (1u << 30)
#define GROWTH_STACK_BYTES 16384
/* ?seconds=N windows open at once; more get -EBUSY. */
#define GROWTH_MAX_WINDOWS 16

struct growth_config {
	enum growth_mode mode;
	uint64_t rate;        /* mean bytes between samples; 1 = every fault */
	int64_t idle_ns;      /* demand: tracking stops after this long without a request */
	uint32_t max_stacks;  /* distinct stacks kept; more are dropped and counted */
	uint32_t ring_bytes;  /* event ring: a power of two, 4096..GROWTH_MAX_RING_BYTES; 0: sized by
			       * the rate (GROWTH_RING_GROWTH_BYTES) */
	uint32_t stack_bytes; /* user stack bytes copied per sample, 1024..32768 */
};

/* Defaults: demand, GROWTH_DEFAULT_RATE, idle 10 min, GROWTH_DEFAULT_MAX_STACKS, ring sized by the
 * rate. */
void growth_config_default(struct growth_config *cfg);
/* "demand", "always" or "off" (flag --growth, env PROFD_GROWTH). Returns 0 or -EINVAL; on
 * -EINVAL err holds "--growth: expected demand, always or off, got 'x'". */
int growth_mode_parse(const char *s, enum growth_mode *ret, char *err, size_t errlen);
const char *growth_mode_name(enum growth_mode mode);

struct growth_source;

/* Checks that the kernel has the tracepoint (x86: exceptions:page_fault_user in its BTF) and
 * starts the manager thread; with --growth always it also loads and attaches before returning
 * (demand mode: at the first request). mode must not be GROWTH_MODE_OFF. Over a set
 * (procs__multi) the BPF filter follows the members that come and go (new ones from their fork,
 * as the CPU sampler does), samples carry pid and process labels and ?pid= scopes a request. ps
 * is borrowed and must outlive the source. Returns 0, -EOPNOTSUPP (no such tracepoint: another
 * architecture or no BTF), -ESRCH, -EINVAL, or the attach error (-EPERM, ...); err then holds
 * one sentence for the user. Free with growth_source__free(). */
int growth_source__new(struct procs *ps, const struct growth_config *cfg, struct growth_source **ret, char *err,
		       size_t errlen);
/* Detaches and stops the manager. NULL-safe. */
void growth_source__free(struct growth_source *g);

/* The /debug/pprof/growth profile, for the HTTP layer's endpoints__add_profile(). */
void growth_source__profile(struct growth_source *g, struct profd_profile *ret);
/* One line for the log at start-up: the rate and how THP faults are weighed. Borrowed, valid
 * until growth_source__free(). */
const char *growth_source__describe(const struct growth_source *g);

/* Counters since the source was created (all attachments). */
struct growth_stats {
	uint64_t faults;        /* not-present faults of the target seen (first touches, swap-ins) */
	uint64_t fault_bytes;   /* the bytes they were weighed with (exact, not sampled) */
	uint64_t huge;          /* of them, weighed as 2 MiB THP faults */
	uint64_t swapin;        /* of them, swap-ins */
	uint64_t other;         /* faults of the target not counted (protection faults, races) */
	uint64_t numa;          /* NUMA-balancing hint faults, not counted */
	uint64_t sampled;       /* faults sampled in BPF */
	uint64_t events;        /* samples read and unwound */
	uint64_t dropped_ringbuf;  /* samples lost: ring buffer full */
	uint64_t dropped_stacks;   /* samples not kept: max_stacks reached */
	uint64_t no_walk;       /* faults whose page tables could not be read (weighed 4 KiB) */
	uint64_t vma_busy;      /* THP candidates whose mapping could not be looked up (4 KiB) */
	uint64_t observed;      /* samples whose mapped page profd read back (/proc/PID/pagemap) */
	uint64_t huge_fallback; /* sampled 2 MiB candidates that mapped small pages instead */
	uint64_t unwind_partial; /* samples not unwound to the thread's root (stacks, summed) */
	struct stack_tally stacks; /* sampled stacks by the rule of stacks/complete.h */
	/* what the BPF program cost the target, timed by itself (one fault in 64, every sample) */
	uint64_t timed, timed_ns, sample_ns, sample_timed; /* the raw timing counters (bpf/growth.h) */
	double ns_per_fault;    /* its common path, per fault of the target */
	double ns_per_sample;   /* the copy of a sampled fault, on top of that */
	uint64_t cost_ns;       /* estimated in all: faults x ns_per_fault + sample copies */
};
void growth_source__stats(struct growth_source *g, struct growth_stats *ret);

/* The profile now: pagefaults/count and growth/bytes by stack, cumulative over every period
 * profd tracked, scaled. Does not start the tracking (the profile's snapshot callback does).
 * The caller frees *ret. Returns 0 or -errno. */
int growth_source__snapshot(struct growth_source *g, struct profd_sample_set **ret);
/* A window (?seconds=N): attaches if not attached (windows share one attachment), waits
 * duration_ns (ending early when cancelled(arg) says so or the target exits, said in a comment)
 * and answers with the growth of the window only. Returns 0, -EBUSY (GROWTH_MAX_WINDOWS open) or
 * the attach error; the caller frees *ret. */
int growth_source__collect(struct growth_source *g, int64_t duration_ns, profd_cancel_fn cancelled, void *arg,
			   struct profd_sample_set **ret);

/* ---- pure parts, exposed for tests ---- */

/* The probability that a fault weighed `weight` bytes is sampled at mean `rate` bytes between
 * samples: 1 - exp(-weight / rate); 1 when rate <= 1. */
double growth_sample_probability(uint64_t weight, uint64_t rate);
/* The PMD THP mode (PROFD_GROWTH_THP_* of bpf/growth.h) from the contents of
 * /sys/kernel/mm/transparent_hugepage/enabled and of .../hugepages-2048kB/enabled (NULL when the
 * kernel has no per-size setting, before 6.8): "always [madvise] never", "[inherit] ...". */
int growth_thp_mode(const char *enabled, const char *pmd_enabled);
/* The bytes of the folio that holds page idx of an aligned block of n /proc/kpageflags words
 * (n a power of two, idx < n): 4096 for a small page, the compound page's size otherwise (found
 * from its head and tails within the block). */
uint64_t growth_folio_bytes(const uint64_t *kpageflags, size_t n, size_t idx);
/* Fills table[n] with -ln(u) * rate for u = (i + 0.5) / n: the BPF sampler's intervals. */
void growth_fill_exp_table(uint64_t *table, size_t n, uint64_t rate);

#endif
