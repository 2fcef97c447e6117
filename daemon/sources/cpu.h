/* SPDX-License-Identifier: MIT */
/* CPU profiles (/debug/pprof/profile, `profd cpu`): one sampler per target, shared by every
 * concurrent request. The sampler (bpf/cpu.bpf.c on a cpu-clock event per CPU) runs while at
 * least one window is open; a reader thread drains its ring buffer, unwinds each sample and adds
 * it to every window whose time span contains it. Windows may be opened and closed from any
 * thread; each gets exactly the samples taken between its own open and close. */
#ifndef PROFD_CPU_H
#define PROFD_CPU_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "pprof/provider.h"
#include "stacks/samples.h"

#define CPU_HZ_DEFAULT 100
#define CPU_HZ_MIN 1
#define CPU_HZ_MAX 1000
#define CPU_STACK_BYTES_DEFAULT 16384
#define CPU_STACK_BYTES_MIN 1024
#define CPU_STACK_BYTES_MAX 32768 /* PROFD_CPU_MAX_STACK in bpf/cpu.h */
#define CPU_MAX_WINDOWS 32       /* concurrent profiles; more get -EBUSY (HTTP 503) */

struct procs;
struct procset_config;
struct unwinder;
struct symbolizer;

struct cpu_config {
	int hz;               /* samples per second per CPU-busy thread (--cpu-hz) */
	unsigned stack_bytes; /* user stack bytes copied per sample (--cpu-stack-bytes) */
};

/* Fills cfg with the defaults above. */
void cpu_config_default(struct cpu_config *cfg);
/* Checks the bounds. Returns 0 or -EINVAL with a message naming the flag and the accepted range
 * in errmsg, e.g. "--cpu-hz must be between 1 and 1000 (got 5000)". */
int cpu_config_check(const struct cpu_config *cfg, char *errmsg, size_t len);

struct cpu_sampler;
struct cpu_window;

/* Creates an idle sampler of the processes of ps (one with --pid, a set otherwise: samples then
 * carry pid and process labels, and new processes are followed from their fork); nothing is
 * loaded or attached until the first window opens. ps must outlive the sampler. Returns NULL and
 * sets errno (EINVAL: bad config; ESRCH: --pid's process is gone; ENOMEM). */
struct cpu_sampler *cpu_sampler__new(struct procs *ps, const struct cpu_config *cfg);
/* Stops sampling if running. Open windows must have been closed. NULL-safe. */
void cpu_sampler__free(struct cpu_sampler *cs);

/* Opens a window starting now, starting the sampler if this is the first open window (loads the
 * BPF program, opens one perf event per CPU: about 0.1-0.3 s). Returns 0, -EBUSY (already
 * CPU_MAX_WINDOWS open), -EPERM (missing privileges) or another -errno from libbpf/perf. */
int cpu_sampler__open_window(struct cpu_sampler *cs, struct cpu_window **ret);
/* Ends the window now, waits (briefly) until every sample taken before now has been read, and
 * hands over the profile: samples/count + cpu/nanoseconds, with comments on lost and partially
 * unwound samples. The window is freed; stops the sampler when it was the last. The caller frees
 * *ret with sample_set__free(). Returns 0 or -ENOMEM. */
int cpu_sampler__close_window(struct cpu_sampler *cs, struct cpu_window *w, struct profd_sample_set **ret);

/* Open a window, wait duration_ns (ending early if cancelled(arg) becomes true or the target
 * exits; both are said in a comment), close it. cancelled may be NULL. Returns as
 * cpu_sampler__open_window / cpu_sampler__close_window. */
int cpu_sampler__profile(struct cpu_sampler *cs, int64_t duration_ns, profd_cancel_fn cancelled, void *arg,
			 struct profd_sample_set **ret);

/* Counters since the sampler was created (all windows). */
struct cpu_stats {
	uint64_t events;       /* samples read from the ring buffer */
	uint64_t lost;         /* samples the BPF program could not queue (ring buffer full) */
	uint64_t root;         /* samples unwound to the thread's root */
	uint64_t kernel;       /* samples taken in the kernel */
	uint64_t short_stack;  /* samples with no readable user stack */
	uint64_t probe;        /* samples inside profd's allocator probes ("profd: allocator probe") */
	uint64_t repaired;     /* samples whose return addresses the probes had replaced (put back) */
	uint64_t unwind_ns;    /* time spent unwinding and dispatching */
	uint64_t starts;       /* times the sampler was started */
};
void cpu_sampler__stats(struct cpu_sampler *cs, struct cpu_stats *ret);

/* Fills ret with the CPU profile (/debug/pprof/profile) served by cs, for
 * endpoints__add_profile(): it collects (cpu_sampler__profile) and has no snapshot. */
void cpu_sampler__provider(struct cpu_sampler *cs, struct profd_profile *ret);

/* `profd cpu --pid PID --seconds N -o FILE` (or a set: --children, --cgroup, --unit): profiles
 * the processes of ps for seconds (ending early when *stop becomes non-zero, e.g. from a SIGINT
 * handler; stop may be NULL) and writes the gzip profile to path ("-" = stdout). Returns 0 or
 * -errno with a message for the user in errmsg. */
int cpu_oneshot(struct procs *ps, const struct cpu_config *cfg, int seconds, const char *path,
		volatile sig_atomic_t *stop, char *errmsg, size_t len);

#endif
