// SPDX-License-Identifier: MIT
/* CPU profiles: owns bpf/cpu.bpf.c (one cpu-clock perf event per CPU, filtered by tgid in BPF),
 * its ring buffer, the reader thread that unwinds samples, and the windows of the requests that
 * share it. Threads: any number of callers open/close windows; one reader thread per running
 * sampler. `life` serializes start/stop; `lock` guards windows, counters and the drain mark.
 *
 * Why a per-CPU event + BPF filter (measured.md 5): an inherited per-process event cannot be
 * mmapped, per-thread events miss threads created later, and per-thread x per-CPU inherited
 * events cost threads x CPUs file descriptors. One event per CPU costs CPUs fds whatever the
 * target does, sees new threads at once, and the tgid test in BPF costs the other processes on
 * the machine a few instructions per tick. Measured by tests/bench/bench_cpu.sh on a 2-vCPU VM:
 * 7-10 us of BPF per target sample (0.1% of a busy thread at 100 Hz), 6 us to unwind it here,
 * every qsort stack to the thread's root (frame-pointer callchains: 1.0 frame). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "cpu.skel.h"
#include "base/clock.h"
#include "base/log.h"
#include "bpf/cpu.h"
#include "pprof/pprof.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/cpu.h"
#include "sources/probeframes.h"
#include "sources/tgidmap.h"
#include "stacks/complete.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

/* Samples stamped before the drain mark minus this are certainly in the ring buffer (a BPF
 * program commits its record microseconds after taking the time). */
#define DRAIN_SLACK_NS 2000000ll
/* A close never waits longer than this for the reader (it only matters if the reader died). */
#define DRAIN_TIMEOUT_NS 3000000000ll
#define READER_POLL_MS 50
#define RING_MIN_BYTES (2u << 20)
#define RING_MAX_BYTES (64u << 20)
#define REFRESH_INTERVAL_NS 1000000000ll

struct cpu_window {
	int64_t start_ns, end_ns; /* CLOCK_MONOTONIC; end_ns = INT64_MAX while open */
	int64_t start_real_ns;
	struct profd_sample_set *set;
	uint64_t lost_at_start;
	uint64_t samples, kernel, short_stack, add_failed;
	uint64_t probe; /* samples inside profd's allocator probes */
	struct stack_tally stacks; /* complete.h: which samples reached the thread's start */
	int add_errno;
};

struct cpu_sampler {
	struct procs *ps;             /* the processes sampled */
	struct proc *single;          /* --pid: the one target (referenced), whose exit ends windows */
	struct symbolizer *ksym;      /* kernel names for probe frames: the target's, or profd's own */
	bool own_ksym;
	bool multi;                   /* several processes: samples carry pid and process labels */
	int64_t last_rescan_ns;       /* a sample of an unknown process rescans the set, at most 10/s */
	struct cpu_config cfg;
	struct tgidmap tgids;         /* the BPF filter, kept as the set changes */

	pthread_mutex_t life; /* start/stop of the sampler */
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t drained_cond;
	struct cpu_window *windows[CPU_MAX_WINDOWS];
	int nwindows;
	int64_t drained_ns;   /* every sample stamped before this (minus slack) has been dispatched */
	bool reader_dead;
	struct cpu_stats stats;
	int64_t last_refresh_ns;
	struct probe_frames *probes; /* recognises uprobe handling in kernel frames */
	bool said_no_btf;

	/* the running sampler (valid while running) */
	bool running;
	struct cpu_bpf *skel;
	int ncpus;
	int *perf_fds;
	struct bpf_link **links;
	struct ring_buffer *rb;
	int wake_fd;
	atomic_bool stop;
	pthread_t reader;
};

void cpu_config_default(struct cpu_config *cfg)
{
	cfg->hz = CPU_HZ_DEFAULT;
	cfg->stack_bytes = CPU_STACK_BYTES_DEFAULT;
}

int cpu_config_check(const struct cpu_config *cfg, char *errmsg, size_t len)
{
	if (cfg->hz < CPU_HZ_MIN || cfg->hz > CPU_HZ_MAX) {
		snprintf(errmsg, len, "--cpu-hz must be between %d and %d samples per second (got %d)",
			 CPU_HZ_MIN, CPU_HZ_MAX, cfg->hz);
		return -EINVAL;
	}
	if (cfg->stack_bytes < CPU_STACK_BYTES_MIN || cfg->stack_bytes > CPU_STACK_BYTES_MAX) {
		snprintf(errmsg, len, "--cpu-stack-bytes must be between %d and %d bytes (got %u)",
			 CPU_STACK_BYTES_MIN, CPU_STACK_BYTES_MAX, cfg->stack_bytes);
		return -EINVAL;
	}
	return 0;
}

struct cpu_sampler *cpu_sampler__new(struct procs *ps, const struct cpu_config *cfg)
{
	struct cpu_sampler *cs;
	char msg[128];

	if (!ps || !cfg || cpu_config_check(cfg, msg, sizeof(msg))) {
		errno = EINVAL;
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->ps = ps;
	cs->multi = procs__multi(ps);
	cs->cfg = *cfg;
	cs->wake_fd = -1;
	pthread_mutex_init(&cs->life, NULL);
	pthread_mutex_init(&cs->lock, NULL);
	pthread_cond_init(&cs->drained_cond, NULL);
	if (!cs->multi) {
		struct proc **list = NULL;
		int n = procs__list(ps, &list);

		cs->single = n > 0 ? proc__ref(list[0]) : NULL;
		procs__list_free(list, n > 0 ? n : 0);
		if (!cs->single) {
			cpu_sampler__free(cs);
			errno = ESRCH;
			return NULL;
		}
		cs->ksym = cs->single->sym;
	} else {
		/* kernel frames are every process's: profd's own symbolizer names them */
		cs->ksym = symbolizer__new(getpid());
		cs->own_ksym = true;
	}
	cs->probes = probe_frames__new(cs->ksym);
	if (!cs->probes || tgidmap__init(&cs->tgids, ps) < 0) {
		cpu_sampler__free(cs);
		errno = ENOMEM;
		return NULL;
	}
	return cs;
}

/* The process of a sample, referenced; NULL when it is not (yet) a known member. */
static struct proc *sample_proc(struct cpu_sampler *cs, pid_t tgid)
{
	struct proc *p;

	if (cs->single)
		return proc__ref(cs->single);
	/* a child the BPF side followed at its fork may be news to the set */
	p = procs__get_rescan(cs->ps, tgid, &cs->last_rescan_ns);
	return p;
}

/* ---- reader thread: ring buffer -> unwind -> windows ---- */

static void dispatch(struct cpu_sampler *cs, const struct profd_cpu_event *e, const struct proc *p,
		     const uint64_t *pcs, int n, enum unwind_stop why, bool probe)
{
	int64_t t = (int64_t)e->time_ns;
	int64_t values[2] = { 1, 1000000000ll / cs->cfg.hz };
	struct profd_label labels[3] = {
		{ .key = "thread" },
		{ .key = "pid", .num = (int64_t)e->tgid },
		{ .key = "process", .str = p ? (char *)p->target.comm : "?" },
	};
	uint32_t nlabels = cs->multi ? 3 : 1;
	char comm[PROFD_CPU_COMM_LEN + 1];

	memcpy(comm, e->comm, PROFD_CPU_COMM_LEN);
	comm[PROFD_CPU_COMM_LEN] = '\0';
	labels[0].str = comm;
	for (int i = 0; i < CPU_MAX_WINDOWS; i++) {
		struct cpu_window *w = cs->windows[i];
		int err;

		if (!w || t < w->start_ns || t >= w->end_ns)
			continue;
		w->samples++;
		stack_tally__add(&w->stacks, n, why);
		if (e->flags & PROFD_CPU_F_KERNEL)
			w->kernel++;
		if (e->flags & PROFD_CPU_F_NO_STACK)
			w->short_stack++;
		w->probe += probe;
		err = sample_set__add(w->set, pcs, (uint32_t)n, values, labels, nlabels);
		if (err) {
			w->add_failed++;
			w->add_errno = -err;
		}
	}
}

/* The kernel emulates a probed push (malloc's first instruction in glibc) or call in two steps,
 * sp first, then ip: a sample in between has sp one word below where ip's CFI expects it, and
 * its walk stops at once. Walks again from the state before the push; keeps that walk only if it
 * reaches the root. Returns the number of pcs now in pcs. */
static int unwind_torn(struct unwinder *uw, const struct unwind_regs *regs, const struct unwind_stack *stack,
		       uint64_t *pcs, int max, int n, enum unwind_stop *why)
{
	uint64_t again[PROFD_MAX_FRAMES];
	struct unwind_regs before = *regs;
	enum unwind_stop why2 = UNWIND_STOP_ERROR;
	int n2;

	before.r[UNWIND_REG_RSP] += 8;
	n2 = unwinder__unwind(uw, &before, stack, again, max, &why2);
	if (n2 <= 0 || why2 != UNWIND_STOP_ROOT)
		return n;
	memcpy(pcs, again, (size_t)n2 * sizeof(*pcs));
	*why = why2;
	return n2;
}

/* Walks again with the return address probe_frames__in_flight() guessed; keeps that walk only
 * if it reaches the root. Returns the number of pcs of the new walk, or 0 (pcs unchanged). */
static int unwind_guess(struct unwinder *uw, const struct unwind_regs *regs, const struct unwind_stack *stack,
			uint64_t *pcs, int max, enum unwind_stop *why)
{
	uint64_t again[PROFD_MAX_FRAMES];
	enum unwind_stop why2 = UNWIND_STOP_ERROR;
	int n2;

	n2 = unwinder__unwind(uw, regs, stack, again, max, &why2);
	if (n2 <= 0 || why2 != UNWIND_STOP_ROOT)
		return 0;
	memcpy(pcs, again, (size_t)n2 * sizeof(*pcs));
	*why = why2;
	return n2;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const size_t hdr = offsetof(struct profd_cpu_event, stack);
	struct cpu_sampler *cs = ctx;
	const struct profd_cpu_event *e = data;
	uint64_t pcs[PROFD_MAX_FRAMES];
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct unwind_regs regs;
	struct unwind_stack stack = { 0 };
	struct probe_fix fix;
	int64_t t0 = profd_mono_ns();
	int nk = 0, n = 0, guessed = 0;
	struct unwinder *uw;
	struct proc *p;
	bool probe;

	if (size < hdr)
		return 0;
	p = sample_proc(cs, (pid_t)e->tgid);
	uw = p ? p->uw : NULL;
	memcpy(regs.r, e->regs, sizeof(regs.r));
	stack.start = e->regs[UNWIND_REG_RSP];
	stack.data = e->stack;
	stack.len = e->stack_len < size - hdr ? e->stack_len : size - hdr;
	/* what profd's heap probes changed: the walk goes through them to the thread's root */
	probe_fix_sample(&e->up, &regs, &stack, &fix);
	if (fix.no_btf && !cs->said_no_btf) {
		cs->said_no_btf = true;
		log_debug("cpu: this kernel's BTF has no uprobe task fields: stacks through profd's heap probes "
			  "are not repaired (they may stop at [uprobes])");
	}
	if (e->flags & PROFD_CPU_F_KERNEL)
		nk = (int)(e->nkframes < PROFD_CPU_MAX_KFRAMES ? e->nkframes : PROFD_CPU_MAX_KFRAMES);
	/* Inside profd's probe machinery (the trap and its handlers, the out-of-line slot, the return
	 * trampoline): one frame says so, under the probed function, instead of the kernel's frames
	 * of the trap, so that profiles show profd's cost as profd's and not as malloc's. */
	probe = fix.in_uprobes || probe_frames__match(cs->probes, (const uint64_t *)e->kframes, nk);
	if (probe) {
		pcs[0] = sample_pc_exact(sym_synthetic_addr(SYM_SYNTHETIC_ALLOC_PROBE));
		nk = 1;
	} else {
		/* Kernel frames are the leaf side of the stack: kframes[0] is the interrupted
		 * instruction, the others are return addresses. */
		for (int i = 0; i < nk; i++)
			pcs[i] = i == 0 ? sample_pc_exact(e->kframes[i]) : e->kframes[i];
	}
	if (uw) {
		n = unwinder__unwind(uw, &regs, &stack, pcs + nk, PROFD_MAX_FRAMES - nk, &why);
		if (n < 0) {
			n = 0;
			why = UNWIND_STOP_ERROR;
		}
	}
	if (probe && !fix.in_uprobes && n <= 2 && why != UNWIND_STOP_ROOT && uw)
		n = unwind_torn(uw, &regs, &stack, pcs + nk, PROFD_MAX_FRAMES - nk, n, &why);
	if (probe && !fix.in_uprobes && why != UNWIND_STOP_ROOT && uw &&
	    probe_frames__in_flight(cs->probes, e->tid, &e->up, &regs, &stack, &fix)) {
		guessed = unwind_guess(uw, &regs, &stack, pcs + nk, PROFD_MAX_FRAMES - nk, &why);
		if (guessed)
			n = guessed;
		else
			fix.nwords--;
	}
	probe_frames__learn(cs->probes, e->tid, &e->up, &regs, &stack, probe && !fix.in_uprobes);
	if (n == 0 && regs.r[UNWIND_REG_RIP]) {
		/* no unwinder, or it failed outright: keep at least the user leaf */
		pcs[nk] = sample_pc_exact(regs.r[UNWIND_REG_RIP]);
		n = 1;
	}
	/* the trampoline stood for a return: the leaf is the caller at its return address */
	if (fix.leaf_is_return && n > 0)
		pcs[nk] = regs.r[UNWIND_REG_RIP];
	if (why >= UNWIND_STOP__COUNT)
		why = UNWIND_STOP_ERROR;
	pthread_mutex_lock(&cs->lock);
	dispatch(cs, e, p, pcs, nk + n, why, probe);
	cs->stats.events++;
	cs->stats.root += why == UNWIND_STOP_ROOT;
	cs->stats.kernel += !!(e->flags & PROFD_CPU_F_KERNEL);
	cs->stats.short_stack += !!(e->flags & PROFD_CPU_F_NO_STACK);
	cs->stats.probe += probe;
	cs->stats.repaired += fix.nwords > 0 || fix.leaf_is_return;
	cs->stats.unwind_ns += (uint64_t)(profd_mono_ns() - t0);
	pthread_mutex_unlock(&cs->lock);

	/* A pc outside every known module usually means a dlopen since the unwinder read the maps:
	 * re-read them, at most once a second. */
	if (uw && why == UNWIND_STOP_BAD_ADDR && t0 - cs->last_refresh_ns > REFRESH_INTERVAL_NS) {
		cs->last_refresh_ns = t0;
		unwinder__refresh(uw);
	}
	proc__put(p);
	return 0;
}

static void *reader_main(void *arg)
{
	struct cpu_sampler *cs = arg;
	struct pollfd fds[2] = {
		{ .fd = ring_buffer__epoll_fd(cs->rb), .events = POLLIN },
		{ .fd = cs->wake_fd, .events = POLLIN },
	};
	bool stopping = false;

	/* The BPF side wakes us only when the ring buffer fills past a threshold (BPF_RB_NO_WAKEUP
	 * otherwise), so poll with a timeout and consume whatever is there each round. A closing
	 * window kicks wake_fd to get its samples drained at once. */
	while (!stopping) {
		uint64_t v;
		int64_t t;
		int n;

		stopping = atomic_load(&cs->stop);
		poll(fds, 2, stopping ? 0 : READER_POLL_MS);
		if (fds[1].revents & POLLIN && read(cs->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		t = profd_mono_ns();
		n = ring_buffer__consume(cs->rb);
		pthread_mutex_lock(&cs->lock);
		if (n < 0 && n != -EINTR)
			cs->reader_dead = true;
		cs->drained_ns = t;
		pthread_cond_broadcast(&cs->drained_cond);
		pthread_mutex_unlock(&cs->lock);
		if (cs->reader_dead)
			break;
	}
	pthread_mutex_lock(&cs->lock);
	cs->reader_dead = true;
	pthread_cond_broadcast(&cs->drained_cond);
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

/* ---- start / stop ---- */

static void sampler_teardown(struct cpu_sampler *cs)
{
	tgidmap__detach(&cs->tgids);
	for (int i = 0; i < cs->ncpus; i++) {
		/* an attached link owns its perf event fd and closes it: closing it again would close
		 * whatever another thread opened in between (an HTTP connection, a map) */
		if (cs->links && cs->links[i])
			bpf_link__destroy(cs->links[i]);
		else if (cs->perf_fds && cs->perf_fds[i] >= 0)
			close(cs->perf_fds[i]);
	}
	ring_buffer__free(cs->rb);
	cpu_bpf__destroy(cs->skel);
	if (cs->wake_fd >= 0)
		close(cs->wake_fd);
	free(cs->links);
	free(cs->perf_fds);
	cs->links = NULL;
	cs->perf_fds = NULL;
	cs->rb = NULL;
	cs->skel = NULL;
	cs->wake_fd = -1;
	cs->ncpus = 0;
}

static uint32_t ring_bytes(const struct cpu_config *cfg, int ncpus)
{
	/* half a second of samples with every CPU busy in the target, a power of two */
	uint64_t want = (uint64_t)ncpus * (uint64_t)cfg->hz *
			(offsetof(struct profd_cpu_event, stack) + cfg->stack_bytes) / 2;
	uint32_t sz = RING_MIN_BYTES;

	while (sz < want && sz < RING_MAX_BYTES)
		sz <<= 1;
	return sz;
}

static int sampler_start(struct cpu_sampler *cs)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = 1000000000ull / (unsigned)cs->cfg.hz,
	};
	uint32_t ring;
	int err, attached = 0;

	cs->ncpus = libbpf_num_possible_cpus();
	if (cs->ncpus <= 0)
		return cs->ncpus < 0 ? cs->ncpus : -ENODEV;
	cs->skel = cpu_bpf__open();
	if (!cs->skel) {
		err = -errno;
		goto cleanup;
	}
	ring = ring_bytes(&cs->cfg, cs->ncpus);
	{
		uint64_t dev = 0, ino = 0;

		proc_self_pidns(&dev, &ino);
		cs->skel->rodata->pidns_dev = dev;
		cs->skel->rodata->pidns_ino = ino;
	}
	cs->skel->rodata->stack_bytes = cs->cfg.stack_bytes;
	cs->skel->rodata->wakeup_bytes = ring / 4;
	err = bpf_map__set_max_entries(cs->skel->maps.events, ring);
	if (!err)
		err = tgidmap__prepare(&cs->tgids, cs->skel->maps.tgids, cs->skel->progs.on_fork,
				       &cs->skel->rodata->follow_forks, cs->skel->rodata->pidns_ino != 0);
	if (!err)
		err = bpf_map__set_max_entries(cs->skel->maps.scratch, (uint32_t)cs->ncpus);
	if (err)
		goto cleanup;
	err = cpu_bpf__load(cs->skel);
	if (err)
		goto cleanup;
	err = tgidmap__attach(&cs->tgids, cs->skel->maps.tgids, cs->skel->progs.on_fork, "cpu");
	if (err)
		goto cleanup;

	cs->perf_fds = calloc((size_t)cs->ncpus, sizeof(*cs->perf_fds));
	cs->links = calloc((size_t)cs->ncpus, sizeof(*cs->links));
	if (!cs->perf_fds || !cs->links) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < cs->ncpus; i++)
		cs->perf_fds[i] = -1;
	for (int cpu = 0; cpu < cs->ncpus; cpu++) {
		int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			err = -errno;
			if (err == -ENODEV) /* offline CPU */
				continue;
			goto cleanup;
		}
		cs->perf_fds[cpu] = fd;
		cs->links[cpu] = bpf_program__attach_perf_event(cs->skel->progs.on_cpu_sample, fd);
		if (!cs->links[cpu]) {
			err = -errno;
			goto cleanup;
		}
		attached++;
	}
	if (!attached) {
		err = -ENODEV;
		goto cleanup;
	}
	cs->rb = ring_buffer__new(bpf_map__fd(cs->skel->maps.events), on_event, cs, NULL);
	if (!cs->rb) {
		err = -errno;
		goto cleanup;
	}
	cs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cs->wake_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	atomic_store(&cs->stop, false);
	cs->reader_dead = false;
	cs->drained_ns = 0;
	err = -pthread_create(&cs->reader, NULL, reader_main, cs);
	if (err)
		goto cleanup;
	pthread_mutex_lock(&cs->lock);
	cs->running = true;
	cs->stats.starts++;
	pthread_mutex_unlock(&cs->lock);
	return 0;

cleanup:
	sampler_teardown(cs);
	return err < 0 ? err : -EINVAL;
}

static void sampler_kick(struct cpu_sampler *cs)
{
	uint64_t one = 1;

	if (cs->wake_fd >= 0 && write(cs->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already set, the reader will wake anyway */
	}
}

static void sampler_stop(struct cpu_sampler *cs)
{
	if (!cs->running)
		return;
	/* detach first so that nothing new arrives, then let the reader drain and exit */
	for (int i = 0; i < cs->ncpus; i++) {
		if (cs->links[i]) {
			bpf_link__destroy(cs->links[i]); /* closes the perf event fd as well */
			cs->perf_fds[i] = -1;
		}
		cs->links[i] = NULL;
	}
	atomic_store(&cs->stop, true);
	sampler_kick(cs);
	pthread_join(cs->reader, NULL);
	pthread_mutex_lock(&cs->lock);
	cs->stats.lost += cs->skel->bss->lost_samples;
	cs->running = false;
	pthread_mutex_unlock(&cs->lock);
	sampler_teardown(cs);
}

void cpu_sampler__free(struct cpu_sampler *cs)
{
	if (!cs)
		return;
	/* no set change may reach the sampler from now on */
	tgidmap__fini(&cs->tgids);
	pthread_mutex_lock(&cs->life);
	sampler_stop(cs);
	pthread_mutex_unlock(&cs->life);
	for (int i = 0; i < CPU_MAX_WINDOWS; i++) {
		if (cs->windows[i]) {
			sample_set__free(cs->windows[i]->set);
			free(cs->windows[i]);
		}
	}
	pthread_cond_destroy(&cs->drained_cond);
	pthread_mutex_destroy(&cs->lock);
	pthread_mutex_destroy(&cs->life);
	probe_frames__free(cs->probes);
	proc__put(cs->single);
	if (cs->own_ksym)
		symbolizer__free(cs->ksym);
	free(cs);
}

/* ---- windows ---- */

static uint64_t lost_now(struct cpu_sampler *cs)
{
	/* lost_samples only grows while the sampler runs; stats.lost keeps earlier runs */
	return cs->stats.lost + (cs->running && cs->skel ? cs->skel->bss->lost_samples : 0);
}

int cpu_sampler__open_window(struct cpu_sampler *cs, struct cpu_window **ret)
{
	struct cpu_window *w;
	int err = 0, slot = -1;

	*ret = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->set = sample_set__new(2);
	if (!w->set) {
		free(w);
		return -ENOMEM;
	}
	pthread_mutex_lock(&cs->life);
	pthread_mutex_lock(&cs->lock);
	for (int i = 0; i < CPU_MAX_WINDOWS && slot < 0; i++)
		if (!cs->windows[i])
			slot = i;
	pthread_mutex_unlock(&cs->lock);
	if (slot < 0) {
		err = -EBUSY;
		goto cleanup;
	}
	if (!cs->running) {
		err = sampler_start(cs);
		if (err)
			goto cleanup;
	}
	pthread_mutex_lock(&cs->lock);
	w->start_ns = profd_mono_ns();
	w->start_real_ns = profd_now_nanos();
	w->end_ns = INT64_MAX;
	w->lost_at_start = lost_now(cs);
	cs->windows[slot] = w;
	cs->nwindows++;
	pthread_mutex_unlock(&cs->lock);
	*ret = w;
	w = NULL;

cleanup:
	pthread_mutex_unlock(&cs->life);
	if (w) {
		sample_set__free(w->set);
		free(w);
	}
	return err;
}

static void window_finish(struct cpu_sampler *cs, struct cpu_window *w, uint64_t lost)
{
	struct profd_sample_set *set = w->set;
	uint64_t partial = stack_tally__short(&w->stacks);

	set->types[0] = (struct profd_value_type){ "samples", "count" };
	set->types[1] = (struct profd_value_type){ "cpu", "nanoseconds" };
	set->period_type = (struct profd_value_type){ "cpu", "nanoseconds" };
	set->period = 1000000000ll / cs->cfg.hz;
	set->time_nanos = w->start_real_ns;
	set->duration_nanos = w->end_ns - w->start_ns;
	sample_set__comment(set, "profd: cpu-clock sampling at %d Hz, %u bytes of user stack per sample",
			    cs->cfg.hz, cs->cfg.stack_bytes);
	if (lost)
		sample_set__comment(set, "%" PRIu64 " samples were lost (ring buffer full); CPU time is "
				    "under-counted by about %" PRIu64 " ms", lost, lost * 1000 / (uint64_t)cs->cfg.hz);
	if (partial) {
		char line[512];

		stack_tally__sentence(&w->stacks, "samples", line, sizeof(line));
		sample_set__comment(set, "%s", line);
		if (w->stacks.short_by[UNWIND_STOP_WINDOW])
			sample_set__comment(set, "%" PRIu64 " stacks were deeper than the %u bytes copied per "
					    "sample: raise --cpu-stack-bytes (max %d)", w->stacks.short_by[UNWIND_STOP_WINDOW],
					    cs->cfg.stack_bytes, CPU_STACK_BYTES_MAX);
	}
	if (w->probe)
		sample_set__comment(set, "%.1f%% of this profile's samples (%.2f s of CPU) were profd's allocator "
				    "probes (the frame \"" SYM_SYNTHETIC_ALLOC_PROBE_NAME "\" under the probed "
				    "function): what heap profiling costs the target while its probes are attached",
				    100.0 * (double)w->probe / (double)w->samples,
				    (double)w->probe * (double)set->period / 1e9);
	if (w->short_stack)
		sample_set__comment(set, "%" PRIu64 " samples had no readable user stack (only their leaf "
				    "is known)", w->short_stack);
	if (w->add_failed)
		sample_set__comment(set, "%" PRIu64 " samples were not recorded: %s", w->add_failed,
				    strerror(w->add_errno));
}

int cpu_sampler__close_window(struct cpu_sampler *cs, struct cpu_window *w, struct profd_sample_set **ret)
{
	int64_t end = profd_mono_ns(), deadline = end + DRAIN_TIMEOUT_NS;
	uint64_t lost;
	int n;

	*ret = NULL;
	pthread_mutex_lock(&cs->life);
	pthread_mutex_lock(&cs->lock);
	w->end_ns = end;
	lost = lost_now(cs) - w->lost_at_start;
	/* wait until the reader has consumed everything stamped before end */
	while (cs->running && !cs->reader_dead && cs->drained_ns < end + DRAIN_SLACK_NS &&
	       profd_mono_ns() < deadline) {
		struct timespec ts;

		pthread_mutex_unlock(&cs->lock);
		sampler_kick(cs);
		pthread_mutex_lock(&cs->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&cs->drained_cond, &cs->lock, &ts);
	}
	for (int i = 0; i < CPU_MAX_WINDOWS; i++)
		if (cs->windows[i] == w)
			cs->windows[i] = NULL;
	n = --cs->nwindows;
	pthread_mutex_unlock(&cs->lock);
	if (n == 0)
		sampler_stop(cs);
	pthread_mutex_unlock(&cs->life);

	window_finish(cs, w, lost);
	*ret = w->set;
	free(w);
	return 0;
}

int cpu_sampler__profile(struct cpu_sampler *cs, int64_t duration_ns, profd_cancel_fn cancelled, void *arg,
			 struct profd_sample_set **ret)
{
	struct cpu_window *w;
	int64_t start;
	int err, waited;

	*ret = NULL;
	err = cpu_sampler__open_window(cs, &w);
	if (err)
		return err;
	start = profd_mono_ns();
	/* a set does not end: only the one target of --pid is watched */
	waited = target_wait(cs->single ? &cs->single->target : NULL, duration_ns, cancelled, arg);
	err = cpu_sampler__close_window(cs, w, ret);
	if (err)
		return err;
	if (waited == -ESRCH)
		sample_set__comment(*ret, "the target process (pid %d) exited %.1f s into the %.1f s profile; "
				    "this is what was collected until then", (int)cs->single->target.pid,
				    (double)(profd_mono_ns() - start) / 1e9, (double)duration_ns / 1e9);
	else if (waited == -ECANCELED)
		sample_set__comment(*ret, "the profile was ended early by its requester");
	return 0;
}

void cpu_sampler__stats(struct cpu_sampler *cs, struct cpu_stats *ret)
{
	pthread_mutex_lock(&cs->lock);
	*ret = cs->stats;
	ret->lost = lost_now(cs);
	pthread_mutex_unlock(&cs->lock);
}

/* ---- the profile as a provider ---- */

static int cpu_collect(void *ctx, const struct profd_scope *scope, int64_t duration_ns, profd_cancel_fn cancelled,
		       void *arg, struct profd_sample_set **ret)
{
	return cpu_sampler__profile(ctx, duration_ns, cancelled, arg, ret);
}

/* /metrics: what the sampler read and lost since it was created; whether it runs now. */
static int cpu_metrics(void *ctx, const struct profd_scope *scope, struct metrics *m)
{
	struct cpu_sampler *cs = ctx;
	struct cpu_stats st;
	int windows;

	cpu_sampler__stats(cs, &st);
	pthread_mutex_lock(&cs->lock);
	windows = cs->nwindows;
	pthread_mutex_unlock(&cs->lock);
	metrics__add(m, "profd_cpu_profiles_in_progress", METRIC_GAUGE,
		     "CPU profiles being collected now (the sampler runs while there is one).", NULL, 0, windows);
	metrics__add(m, "profd_cpu_samples_total", METRIC_COUNTER,
		     "CPU samples read from the sampler's ring buffer, all profiles together.", NULL, 0,
		     (double)st.events);
	metrics__add(m, "profd_cpu_lost_samples_total", METRIC_COUNTER,
		     "CPU samples lost because the sampler's ring buffer was full.", NULL, 0, (double)st.lost);
	metrics__add(m, "profd_cpu_unwind_seconds_total", METRIC_COUNTER,
		     "Time profd spent unwinding CPU samples and adding them to profiles (its own CPU).", NULL, 0,
		     (double)st.unwind_ns / 1e9);
	return 0;
}

void cpu_sampler__provider(struct cpu_sampler *cs, struct profd_profile *ret)
{
	*ret = (struct profd_profile){
		.name = "profile",
		.description = "CPU profile. You can specify the duration in the seconds GET parameter. "
			       "After you get the profile file, use the go tool pprof command to investigate "
			       "the profile.",
		.ctx = cs,
		.collect = cpu_collect,
		.metrics = cpu_metrics,
	};
}

/* ---- one-shot ---- */

static bool stop_requested(void *arg)
{
	return *(volatile sig_atomic_t *)arg != 0;
}

int cpu_oneshot(struct procs *ps, const struct cpu_config *cfg, int seconds, const char *path,
		volatile sig_atomic_t *stop, char *errmsg, size_t len)
{
	const char *who = procset__describe(procs__set(ps));
	struct cpu_sampler *cs = NULL;
	struct profd_sample_set *set = NULL;
	struct proc **list = NULL;
	struct cpu_stats st;
	struct buf out = { 0 };
	FILE *f = NULL;
	int err, n = 0;

	if (seconds <= 0) {
		snprintf(errmsg, len, "--seconds must be a positive number of seconds (got %d)", seconds);
		return -EINVAL;
	}
	err = cpu_config_check(cfg, errmsg, len);
	if (err)
		return err;
	cs = cpu_sampler__new(ps, cfg);
	if (!cs) {
		err = -errno;
		snprintf(errmsg, len, "cannot set up CPU sampling of %s: %s", who, strerror(-err));
		goto cleanup;
	}
	if (procs__multi(ps) && (err = procs__start(ps)) < 0) {
		snprintf(errmsg, len, "cannot follow %s: %s", who, strerror(-err));
		goto cleanup;
	}
	err = cpu_sampler__profile(cs, (int64_t)seconds * 1000000000ll, stop ? stop_requested : NULL,
				   (void *)stop, &set);
	if (err) {
		snprintf(errmsg, len, "cannot start CPU sampling of %s: %s%s", who, strerror(-err),
			 err == -EPERM || err == -EACCES ? " (profd needs CAP_BPF and CAP_PERFMON, or root)" : "");
		goto cleanup;
	}
	cpu_sampler__stats(cs, &st);
	log_debug("cpu: %" PRIu64 " samples read, %" PRIu64 " lost, %" PRIu64 " unwound to the root, %" PRIu64
		  " in profd's allocator probes, %" PRIu64 " repaired, %.1f us per sample to unwind and dispatch",
		  st.events, st.lost, st.root, st.probe, st.repaired,
		  st.events ? (double)st.unwind_ns / 1e3 / (double)st.events : 0.0);
	n = procs__list(ps, &list);
	if (n < 0) {
		err = n;
		n = 0;
		snprintf(errmsg, len, "cannot encode the CPU profile: %s", strerror(-err));
		goto cleanup;
	}
	{
		struct proc_list pl = { .p = list, .n = n };
		struct pprof_symbols syms = { .get = procs_list_symbolizer, .ctx = &pl };

		for (int i = 0; i < n; i++)
			if (list[i]->sym)
				symbolizer__refresh(list[i]->sym);
		err = pprof_encode_procs(set, &syms, &out);
	}
	if (err) {
		snprintf(errmsg, len, "cannot encode the CPU profile: %s", strerror(-err));
		goto cleanup;
	}
	f = strcmp(path, "-") ? fopen(path, "we") : stdout;
	if (!f || fwrite(out.data, 1, out.len, f) != out.len || fflush(f)) {
		err = -(errno ? errno : EIO);
		snprintf(errmsg, len, "cannot write \"%s\": %s", path, strerror(-err));
		goto cleanup;
	}
	err = 0;

cleanup:
	if (f && f != stdout && fclose(f) && !err) {
		err = -errno;
		snprintf(errmsg, len, "cannot write \"%s\": %s", path, strerror(-err));
	}
	procs__list_free(list, n);
	buf_free(&out);
	sample_set__free(set);
	cpu_sampler__free(cs);
	return err;
}
