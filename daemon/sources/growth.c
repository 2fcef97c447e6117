// SPDX-License-Identifier: MIT
/* Growth profile source (see growth.h). Threads: the demand manager (demand.h) alone loads,
 * attaches and detaches the BPF program (so the skeleton and ring buffer change hands only
 * there) and drains the ring buffer; HTTP threads say what they want (demand__want) and take
 * snapshots or windows. `lock` guards the records, the counters and the ring buffer consumer.
 *
 * What a sample weighs: BPF weighs each fault by what the page tables say before it is handled
 * (4 KiB, or 2 MiB when nothing is mapped in the aligned 2 MiB of a mapping that allows THP),
 * and that weight sets the fault's chance to be sampled, p = 1 - exp(-weight / rate). For a
 * sampled fault profd then reads back what was really mapped (/proc/PID/pagemap and
 * /proc/kpageflags: a huge page, a smaller large folio, or a 4 KiB page when the kernel could
 * not allocate a huge one) and adds bytes / p: an estimate without bias whatever the guess was
 * (Horvitz-Thompson), the guess only deciding how often such faults are sampled. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/types.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "growth.skel.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/words.h"
#include "bpf/growth.h"
#include "pprof/pprof.h"
#include "proc/procset.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/demand.h"
#include "sources/growth.h"
#include "sources/probeframes.h"
#include "sources/tgidmap.h"
#include "stacks/complete.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

#define MAX_DEPTH 128
#define POLL_MS 100
#define REFRESH_INTERVAL_NS 1000000000ll
/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define KPF_ANON 12
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_THP 22
#define KPF_ZERO_PAGE 24
#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)
/* pages per PMD huge page: a large folio lies within an aligned block of this many frames */
#define PMD_PAGES 512
/* /proc/PID/pagemap files kept open, for the processes whose faults were sampled last */
#define PAGEMAP_CACHE 8

/* Faults sampled at one stack of one process, scaled (each sample adds 1/p faults and bytes/p). */
struct record {
	uint64_t hash;
	pid_t pid;        /* the process (0 when profd serves one: its samples have no pid label) */
	uint32_t nframes;
	uint64_t *pcs;
	double faults, bytes;
	uint64_t samples;
};

/* An open /proc/PID/pagemap (the manager's alone, under `lock`). */
struct pagemap {
	pid_t pid;
	int fd;
	uint64_t used; /* when it was last used, in samples: the least recent is closed first */
};

struct growth_source {
	struct procs *ps;
	struct proc *single;  /* --pid: the one target (referenced), whose exit ends windows */
	bool multi;           /* several processes: samples carry pid and process labels */
	char who[128];        /* "process 12 (name)" or the set's selector, for comments */
	int64_t last_rescan_ns; /* a sample of an unknown process rescans the set, at most 10/s */
	struct growth_config cfg;
	char describe[512];
	char what[160]; /* "page-fault tracepoint for process N", for the log */
	struct demand *demand;
	atomic_int nwindows;

	/* the kernel, as found at start-up */
	int thp_mode;
	bool levels5;
	uint64_t pfn_mask, map_lowest;
	uint32_t calib_max_gb;
	uint64_t pidns_dev, pidns_ino;
	/* the direct map, found at the first attach (manager thread) */
	int calib_state;
	uint64_t direct_map;

	/* the attachment: owned by the demand manager; skel and rb are swapped under `lock` */
	struct growth_bpf *skel;
	struct tgidmap tgids; /* the BPF filter, kept as the set changes */
	struct bpf_link *link;
	struct ring_buffer *rb;
	struct pagemap pagemaps[PAGEMAP_CACHE];
	uint64_t pagemap_uses;
	int kpageflags_fd;
	int ncpus;

	pthread_mutex_t lock;
	struct record *recs;
	uint32_t nrecs;
	uint32_t *rec_index; /* rec + 1, 0 = empty; a power of two >= 2 * max_stacks */
	uint32_t rec_index_size;
	struct growth_stats st;
	uint64_t base[PROFD_GROWTH_CNT__COUNT]; /* BPF counters of attachments that ended */
	int64_t first_since;                    /* CLOCK_REALTIME: the first tracking began */
	int nperiods;                           /* attachments so far: each one a tracking period */
	int64_t last_refresh;                   /* CLOCK_MONOTONIC: the last unwinder refresh */
};

/* ---- configuration ---- */

void growth_config_default(struct growth_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = GROWTH_MODE_DEMAND;
	cfg->rate = GROWTH_DEFAULT_RATE;
	cfg->idle_ns = GROWTH_DEFAULT_IDLE_NS;
	cfg->max_stacks = GROWTH_DEFAULT_MAX_STACKS;
	cfg->stack_bytes = GROWTH_STACK_BYTES;
}

static const struct word growth_modes[] = {
	{ "demand", GROWTH_MODE_DEMAND },
	{ "always", GROWTH_MODE_ALWAYS },
	{ "off", GROWTH_MODE_OFF },
};

const char *growth_mode_name(enum growth_mode mode)
{
	return words_name(growth_modes, sizeof(growth_modes) / sizeof(growth_modes[0]), (int)mode, "off");
}

int growth_mode_parse(const char *s, enum growth_mode *ret, char *err, size_t errlen)
{
	int v, r = words_parse(s, growth_modes, sizeof(growth_modes) / sizeof(growth_modes[0]), "--growth", &v, err,
			       errlen);

	if (r == 0)
		*ret = (enum growth_mode)v;
	return r;
}

/* ---- pure parts ---- */

double growth_sample_probability(uint64_t weight, uint64_t rate)
{
	if (rate <= 1)
		return 1;
	return -expm1(-(double)weight / (double)rate);
}

void growth_fill_exp_table(uint64_t *table, size_t n, uint64_t rate)
{
	for (size_t i = 0; i < n; i++)
		table[i] = (uint64_t)(-log(((double)i + 0.5) / (double)n) * (double)rate);
}

/* The bracketed word of a sysfs choice list ("always [madvise] never" -> "madvise"). */
static bool chosen(const char *list, const char *word)
{
	char want[32];

	snprintf(want, sizeof(want), "[%s]", word);
	return list && strstr(list, want);
}

int growth_thp_mode(const char *enabled, const char *pmd_enabled)
{
	int global = chosen(enabled, "always") ? PROFD_GROWTH_THP_ALWAYS
		     : chosen(enabled, "madvise") ? PROFD_GROWTH_THP_MADVISE
						  : PROFD_GROWTH_THP_NEVER;

	/* since 6.8 each size has its own setting; the PMD size's "inherit" is the global one */
	if (!pmd_enabled || chosen(pmd_enabled, "inherit"))
		return global;
	if (chosen(pmd_enabled, "always"))
		return PROFD_GROWTH_THP_ALWAYS;
	if (chosen(pmd_enabled, "madvise"))
		return PROFD_GROWTH_THP_MADVISE;
	return PROFD_GROWTH_THP_NEVER;
}

uint64_t growth_folio_bytes(const uint64_t *kpf, size_t n, size_t idx)
{
	size_t head = idx, end;

	if (idx >= n || !(kpf[idx] & ((1ull << KPF_COMPOUND_HEAD) | (1ull << KPF_COMPOUND_TAIL))))
		return PROFD_GROWTH_PAGE;
	/* folios are naturally aligned: the head is at or before idx within the block */
	while (head > 0 && !(kpf[head] & (1ull << KPF_COMPOUND_HEAD)))
		head--;
	if (!(kpf[head] & (1ull << KPF_COMPOUND_HEAD)))
		return (uint64_t)n * PROFD_GROWTH_PAGE; /* larger than the block */
	for (end = head + 1; end < n && (kpf[end] & (1ull << KPF_COMPOUND_TAIL)) &&
			     !(kpf[end] & (1ull << KPF_COMPOUND_HEAD)); end++)
		;
	return (uint64_t)(end - head) * PROFD_GROWTH_PAGE;
}

/* ---- small helpers ---- */

static void format_bytes(double b, char *out, size_t len)
{
	if (b >= 1024.0 * 1024 * 1024)
		snprintf(out, len, "%.1f GiB", b / (1024.0 * 1024 * 1024));
	else if (b >= 1024.0 * 1024)
		snprintf(out, len, "%.1f MiB", b / (1024.0 * 1024));
	else
		snprintf(out, len, "%.0f KiB", b / 1024.0);
}

static const char *thp_mode_name(int mode)
{
	return mode == PROFD_GROWTH_THP_ALWAYS ? "always" : mode == PROFD_GROWTH_THP_MADVISE ? "madvise" : "never";
}

/* ---- records ---- */

static uint64_t stack_hash(const uint64_t *pcs, uint32_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (uint32_t i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 1099511628211ull;
		h ^= h >> 29;
	}
	return h;
}

/* The record of this stack, created if needed. Returns its index, -ENOSPC (max_stacks) or
 * -ENOMEM. Caller holds the lock. */
static int rec_get(struct growth_source *g, pid_t pid, const uint64_t *pcs, uint32_t n)
{
	uint64_t hash = stack_hash(pcs, n) ^ ((uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ull);
	uint32_t mask = g->rec_index_size - 1, i;
	struct record *r;

	for (i = (uint32_t)hash & mask; g->rec_index[i]; i = (i + 1) & mask) {
		r = &g->recs[g->rec_index[i] - 1];
		if (r->hash == hash && r->pid == pid && r->nframes == n && memcmp(r->pcs, pcs, n * sizeof(*pcs)) == 0)
			return (int)(g->rec_index[i] - 1);
	}
	if (g->nrecs >= g->cfg.max_stacks)
		return -ENOSPC;
	if (g->nrecs % 1024 == 0) {
		struct record *nr = realloc(g->recs, (g->nrecs + 1024) * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		g->recs = nr;
	}
	r = &g->recs[g->nrecs];
	memset(r, 0, sizeof(*r));
	r->pcs = malloc((n ? n : 1) * sizeof(*pcs));
	if (!r->pcs)
		return -ENOMEM;
	memcpy(r->pcs, pcs, n * sizeof(*pcs));
	r->nframes = n;
	r->pid = pid;
	r->hash = hash;
	g->rec_index[i] = ++g->nrecs;
	return (int)(g->nrecs - 1);
}

/* ---- samples ---- */

static void pagemaps_close(struct growth_source *g)
{
	for (int i = 0; i < PAGEMAP_CACHE; i++) {
		if (g->pagemaps[i].fd >= 0)
			close(g->pagemaps[i].fd);
		g->pagemaps[i] = (struct pagemap){ .fd = -1 };
	}
}

/* The pagemap entry of addr in process pid. A file kept open reads nothing once its process is
 * gone (its PID may be another's by now): it is opened again, once. Caller holds the lock. */
static int read_pagemap(struct growth_source *g, pid_t pid, uint64_t addr, uint64_t *ret)
{
	struct pagemap *pm = NULL, *lru = &g->pagemaps[0];
	char path[64];

	for (int i = 0; i < PAGEMAP_CACHE && !pm; i++) {
		if (g->pagemaps[i].fd >= 0 && g->pagemaps[i].pid == pid)
			pm = &g->pagemaps[i];
		else if (g->pagemaps[i].used < lru->used)
			lru = &g->pagemaps[i];
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!pm || attempt) {
			pm = pm ? pm : lru;
			if (pm->fd >= 0)
				close(pm->fd);
			snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
			pm->pid = pid;
			pm->fd = open(path, O_RDONLY | O_CLOEXEC);
			if (pm->fd < 0)
				return -ENOENT;
		}
		pm->used = ++g->pagemap_uses;
		if (pread(pm->fd, ret, sizeof(*ret), (off_t)(addr / PROFD_GROWTH_PAGE * sizeof(*ret))) == sizeof(*ret))
			return 0;
	}
	return -EIO;
}

/* What the sampled fault really mapped, read back from the page tables (pagemap) and the page
 * flags (kpageflags): the folio's size for anonymous memory (a THP, a smaller large folio, the
 * zero page), else BPF's weight (a file page: what fault-around mapped next to it is not known;
 * or the page is already gone). Caller holds the lock. */
static uint64_t observe(struct growth_source *g, const struct profd_growth_event *e)
{
	uint64_t pm, pfn, first, kpf[PMD_PAGES], bytes;
	ssize_t n;

	if (g->kpageflags_fd < 0)
		return e->weight;
	if (read_pagemap(g, (pid_t)e->tgid, e->addr, &pm) < 0 || !(pm & PM_PRESENT) || !(pfn = pm & PM_PFN_MASK))
		return e->weight;
	first = pfn & ~(uint64_t)(PMD_PAGES - 1);
	n = pread(g->kpageflags_fd, kpf, sizeof(kpf), (off_t)(first * sizeof(uint64_t)));
	if (n < (ssize_t)((pfn - first + 1) * sizeof(uint64_t)))
		return e->weight;
	g->st.observed++;
	if (!(kpf[pfn - first] & ((1ull << KPF_ANON) | (1ull << KPF_ZERO_PAGE))))
		return e->weight;
	/* a short read at the end of memory: only whole blocks hold whole large folios */
	bytes = n == sizeof(kpf) ? growth_folio_bytes(kpf, PMD_PAGES, pfn - first) : PROFD_GROWTH_PAGE;
	if ((e->flags & PROFD_GROWTH_F_HUGE) && bytes < PROFD_GROWTH_HUGE)
		g->st.huge_fallback++;
	return bytes;
}

static bool refresh_due(struct growth_source *g)
{
	int64_t now = profd_mono_ns();

	if (now - g->last_refresh < REFRESH_INTERVAL_NS)
		return false;
	g->last_refresh = now;
	return true;
}

/* The process of a sample, referenced; NULL when it is not (yet) a known member. */
static struct proc *sample_proc(struct growth_source *g, pid_t tgid)
{
	struct proc *p;

	if (g->single)
		return proc__ref(g->single);
	/* a child the BPF side followed at its fork may be news to the set */
	p = procs__get_rescan(g->ps, tgid, &g->last_rescan_ns);
	return p;
}

/* A sampled fault: unwind, read back what it mapped, add 1/p faults and bytes/p to its stack.
 * Caller (ring_buffer__consume) holds the lock. */
static int on_event(void *ctx, void *data, size_t size)
{
	const size_t hdr = offsetof(struct profd_growth_event, stack);
	struct growth_source *g = ctx;
	const struct profd_growth_event *e = data;
	enum unwind_stop why = UNWIND_STOP_ERROR;
	uint64_t pcs[MAX_DEPTH], bytes;
	struct unwind_regs regs;
	struct unwind_stack stack = { 0 };
	struct probe_fix fix;
	struct unwinder *uw;
	struct proc *proc;
	double p;
	int n = 0, rec;

	if (size < hdr)
		return 0;
	g->st.events++;
	proc = sample_proc(g, (pid_t)e->tgid);
	uw = proc ? proc->uw : NULL;
	memcpy(regs.r, e->regs, sizeof(regs.r));
	stack.start = e->regs[UNWIND_REG_RSP];
	stack.data = e->stack;
	stack.len = e->stack_len < size - hdr ? e->stack_len : size - hdr;
	/* what profd's heap probes changed (a return trampoline in place of a return address, an
	 * instruction run out of line): the walk goes through them to the thread's root */
	probe_fix_sample(&e->up, &regs, &stack, &fix);
	if (uw) {
		n = unwinder__unwind(uw, &regs, &stack, pcs, MAX_DEPTH, &why);
		if (why == UNWIND_STOP_BAD_ADDR && refresh_due(g)) {
			/* a library mapped since the last refresh (dlopen): re-read the mappings, retry */
			unwinder__refresh(uw);
			n = unwinder__unwind(uw, &regs, &stack, pcs, MAX_DEPTH, &why);
		}
	}
	proc__put(proc);
	stack_tally__add(&g->st.stacks, n, why);
	g->st.unwind_partial = stack_tally__short(&g->st.stacks);
	if (n <= 0) {
		/* no unwinder, or it failed outright: keep at least the faulting instruction */
		pcs[0] = sample_pc_exact(regs.r[UNWIND_REG_RIP]);
		n = 1;
		why = UNWIND_STOP_ERROR;
	}
	/* the trampoline stood for a return: the leaf is the caller at its return address */
	if (fix.leaf_is_return)
		pcs[0] = regs.r[UNWIND_REG_RIP];
	bytes = observe(g, e);
	p = growth_sample_probability(e->weight, g->cfg.rate);
	rec = rec_get(g, g->multi ? (pid_t)e->tgid : 0, pcs, (uint32_t)n);
	if (rec < 0) {
		g->st.dropped_stacks++;
		return 0;
	}
	g->recs[rec].faults += 1 / p;
	g->recs[rec].bytes += (double)bytes / p;
	g->recs[rec].samples++;
	return 0;
}

/* Sums the per-CPU counters of the current attachment into vals. */
static void sum_counters(struct growth_source *g, uint64_t *vals)
{
	struct profd_growth_cpu *per;
	__u32 zero = 0;

	memset(vals, 0, PROFD_GROWTH_CNT__COUNT * sizeof(*vals));
	/* a per-CPU value is laid out every round_up(value_size, 8) bytes */
	if (!g->skel || g->ncpus <= 0 || bpf_map__value_size(g->skel->maps.cpu_state) != sizeof(*per) ||
	    !(per = calloc((size_t)g->ncpus, sizeof(*per))))
		return;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.cpu_state), &zero, per) == 0)
		for (int c = 0; c < g->ncpus; c++)
			for (int k = 0; k < PROFD_GROWTH_CNT__COUNT; k++)
				vals[k] += per[c].cnt[k];
	free(per);
}

/* Counters of this attachment plus those that ended; caller holds the lock. */
static void read_counters(struct growth_source *g)
{
	uint64_t v[PROFD_GROWTH_CNT__COUNT];

	sum_counters(g, v);
	for (int k = 0; k < PROFD_GROWTH_CNT__COUNT; k++)
		v[k] += g->base[k];
	g->st.faults = v[PROFD_GROWTH_CNT_FAULTS];
	g->st.fault_bytes = v[PROFD_GROWTH_CNT_BYTES];
	g->st.huge = v[PROFD_GROWTH_CNT_HUGE];
	g->st.swapin = v[PROFD_GROWTH_CNT_SWAPIN];
	g->st.other = v[PROFD_GROWTH_CNT_OTHER];
	g->st.numa = v[PROFD_GROWTH_CNT_NUMA];
	g->st.sampled = v[PROFD_GROWTH_CNT_SAMPLED];
	g->st.dropped_ringbuf = v[PROFD_GROWTH_CNT_RB_FULL];
	g->st.no_walk = v[PROFD_GROWTH_CNT_NO_WALK];
	g->st.vma_busy = v[PROFD_GROWTH_CNT_VMA_BUSY];
	g->st.timed = v[PROFD_GROWTH_CNT_TIMED];
	g->st.timed_ns = v[PROFD_GROWTH_CNT_TIMED_NS];
	g->st.sample_ns = v[PROFD_GROWTH_CNT_SAMPLE_NS];
	g->st.sample_timed = v[PROFD_GROWTH_CNT_SAMPLE_TIMED];
	g->st.ns_per_fault = v[PROFD_GROWTH_CNT_TIMED] ? (double)v[PROFD_GROWTH_CNT_TIMED_NS] /
							     (double)v[PROFD_GROWTH_CNT_TIMED] : 0;
	g->st.ns_per_sample = v[PROFD_GROWTH_CNT_SAMPLE_TIMED] ? (double)v[PROFD_GROWTH_CNT_SAMPLE_NS] /
								      (double)v[PROFD_GROWTH_CNT_SAMPLE_TIMED] : 0;
	g->st.cost_ns = (uint64_t)((double)(g->st.faults + g->st.other + g->st.numa) * g->st.ns_per_fault +
				   (double)g->st.sampled * g->st.ns_per_sample);
}

/* Takes the lock with what the kernel queued so far read and the counters current. */
static void lock_current(struct growth_source *g)
{
	pthread_mutex_lock(&g->lock);
	if (g->rb)
		ring_buffer__consume(g->rb);
	read_counters(g);
}

/* ---- the kernel ---- */

/* Reads a small file into buf; "" when it cannot be read. */
static void read_text(const char *path, char *buf, size_t size)
{
	if (proc_read_file(path, buf, size) < 0)
		buf[0] = '\0';
}

/* What the page-table walk needs to know: paging levels, the physical address width, the
 * highest RAM address (how many direct map bases to try) and the lowest possible base. */
static void probe_paging(struct growth_source *g)
{
	char line[4096];
	unsigned long long lo, hi, max_ram = 0;
	unsigned bits = 0;
	FILE *f;

	g->pfn_mask = 0x000ffffffffff000ull;
	f = fopen("/proc/cpuinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) == 0 && strstr(line, " la57"))
			g->levels5 = true;
		/* "address sizes\t: 48 bits physical, 48 bits virtual" */
		if (!bits && strncmp(line, "address sizes", 13) == 0 && strchr(line, ':'))
			sscanf(strchr(line, ':') + 1, "%u", &bits);
	}
	if (f)
		fclose(f);
	if (bits >= 32 && bits <= 52)
		g->pfn_mask = ((1ull << bits) - 1) & ~(PROFD_GROWTH_PAGE - 1);
	g->map_lowest = g->levels5 ? 0xff11000000000000ull : 0xffff888000000000ull;
	/* root sees real addresses in /proc/iomem */
	f = fopen("/proc/iomem", "re");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, ": System RAM") && sscanf(line, " %llx-%llx", &lo, &hi) == 2 && hi > max_ram)
			max_ram = hi;
	if (f)
		fclose(f);
	/* without it, up to 4 TiB */
	g->calib_max_gb = max_ram ? (uint32_t)(max_ram >> 30) + 2 : 4096;
}

static void probe_thp(struct growth_source *g)
{
	char enabled[128], pmd[128];

	read_text("/sys/kernel/mm/transparent_hugepage/enabled", enabled, sizeof(enabled));
	read_text("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled", pmd, sizeof(pmd));
	g->thp_mode = growth_thp_mode(enabled, pmd[0] ? pmd : NULL);
}

/* true when the kernel's BTF has the x86 user page-fault tracepoint. */
static bool kernel_has_tracepoint(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool found;

	if (!btf)
		return false;
	found = btf__find_by_name_kind(btf, "btf_trace_page_fault_user", BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
	return found;
}

/* Finds the direct map base once, on a fault of profd's own (growth.bpf.c says how). Manager
 * thread only; the program is loaded, not attached. */
static void calibrate(struct growth_source *g)
{
	struct bpf_link *l;
	volatile char *p;

	g->calib_state = PROFD_GROWTH_CALIB_FAILED;
	l = bpf_program__attach(g->skel->progs.on_fault_calibrate);
	if (!l) {
		log_debug("growth: cannot attach the calibration program: %s", strerror(errno));
		return;
	}
	p = mmap(NULL, 2 * PROFD_GROWTH_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		p[PROFD_GROWTH_PAGE] = 1; /* a first touch: one not-present fault of profd's */
		munmap((void *)p, 2 * PROFD_GROWTH_PAGE);
	}
	bpf_link__destroy(l);
	g->calib_state = (int)g->skel->bss->calib_state;
	g->direct_map = g->skel->bss->direct_map;
	if (g->calib_state == PROFD_GROWTH_CALIB_OK)
		log_debug("growth: the kernel's direct map is at %#llx: page tables readable",
			  (unsigned long long)g->direct_map);
	else
		log_info("growth: profd could not find the kernel's direct map, so it cannot read the target's "
			 "page tables: every fault is weighed 4 KiB (THP growth is under-counted)");
	if (g->calib_state == PROFD_GROWTH_CALIB_NONE)
		g->calib_state = PROFD_GROWTH_CALIB_FAILED;
}

/* ---- attach / detach (the demand manager's calls) ---- */

static void attachment_free(struct growth_source *g, struct growth_bpf *skel, struct ring_buffer *rb)
{
	ring_buffer__free(rb);
	growth_bpf__destroy(skel);
	pagemaps_close(g);
	if (g->kpageflags_fd >= 0)
		close(g->kpageflags_fd);
	g->kpageflags_fd = -1;
}

static void growth_detach(void *ctx)
{
	struct growth_source *g = ctx;
	struct ring_buffer *rb;
	struct growth_bpf *skel;
	uint64_t v[PROFD_GROWTH_CNT__COUNT];

	bpf_link__destroy(g->link);
	g->link = NULL;
	tgidmap__detach(&g->tgids);
	pthread_mutex_lock(&g->lock);
	rb = g->rb;
	skel = g->skel;
	if (rb)
		ring_buffer__consume(rb);
	sum_counters(g, v);
	for (int k = 0; k < PROFD_GROWTH_CNT__COUNT; k++)
		g->base[k] += v[k];
	g->rb = NULL;
	g->skel = NULL;
	read_counters(g);
	pthread_mutex_unlock(&g->lock);
	attachment_free(g, skel, rb);
}

/* Opens, configures and loads the program (the kernel's verifier checks it), not attached.
 * Returns 0 or -errno with one sentence in err. */
static int growth_load(struct growth_source *g, struct growth_bpf **ret, char *err, size_t errlen)
{
	struct growth_bpf *skel;
	int r;

	*ret = NULL;
	skel = growth_bpf__open();
	if (!skel) {
		r = -errno;
		snprintf(err, errlen, "cannot open the growth BPF program: %s", strerror(-r));
		return r;
	}
	skel->rodata->pidns_dev = g->pidns_dev;
	skel->rodata->pidns_ino = g->pidns_ino;
	skel->rodata->self_tgid = (__u32)getpid();
	skel->rodata->rate = g->cfg.rate;
	skel->rodata->stack_bytes = g->cfg.stack_bytes;
	skel->rodata->wakeup_bytes = g->cfg.ring_bytes / 4;
	skel->rodata->thp_mode = (__u32)g->thp_mode;
	skel->rodata->levels5 = g->levels5;
	skel->rodata->pfn_mask = g->pfn_mask;
	skel->rodata->map_lowest = g->map_lowest;
	skel->rodata->calib_max_gb = g->calib_max_gb;
	growth_fill_exp_table((uint64_t *)skel->rodata->exp_table, PROFD_GROWTH_EXP_N, g->cfg.rate);
	r = bpf_map__set_max_entries(skel->maps.events, g->cfg.ring_bytes);
	if (!r)
		r = bpf_map__set_max_entries(skel->maps.scratch, (uint32_t)g->ncpus);
	if (!r)
		r = tgidmap__prepare(&g->tgids, skel->maps.tgids, skel->progs.on_fork, &skel->rodata->follow_forks,
				     g->pidns_ino != 0);
	if (!r)
		r = growth_bpf__load(skel);
	if (r) {
		snprintf(err, errlen, "this kernel does not load the growth BPF program: %s (profd needs CAP_BPF and "
			 "CAP_PERFMON, or root; --log-level debug shows the verifier's log)", strerror(r < 0 ? -r : r));
		growth_bpf__destroy(skel);
		return r < 0 ? r : -EINVAL;
	}
	*ret = skel;
	return 0;
}

static int growth_attach(void *ctx, char *err, size_t errlen)
{
	struct growth_source *g = ctx;
	struct growth_bpf *skel;
	struct ring_buffer *rb = NULL;
	int r;

	r = growth_load(g, &skel, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&g->lock);
	g->skel = skel; /* calibrate() reads it; no consumer yet */
	pthread_mutex_unlock(&g->lock);
	/* the processes now, and as the set changes (new ones from their fork) */
	r = tgidmap__attach(&g->tgids, skel->maps.tgids, skel->progs.on_fork, "growth");
	if (r < 0) {
		snprintf(err, errlen, "cannot list the processes to track: %s", strerror(-r));
		growth_detach(g);
		return r;
	}
	if (g->calib_state == PROFD_GROWTH_CALIB_NONE)
		calibrate(g);
	if (g->calib_state == PROFD_GROWTH_CALIB_OK) {
		skel->bss->direct_map = g->direct_map;
		skel->bss->calib_state = PROFD_GROWTH_CALIB_OK;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, g, NULL);
	if (!rb) {
		r = -errno;
		snprintf(err, errlen, "cannot set up the growth ring buffer: %s", strerror(-r));
		growth_detach(g);
		return r;
	}
	/* read back what sampled faults mapped (and /proc/PID/pagemap, opened per process as its
	 * samples come); without them BPF's weights stand */
	g->kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	pthread_mutex_lock(&g->lock);
	g->rb = rb;
	pthread_mutex_unlock(&g->lock);
	g->link = bpf_program__attach(skel->progs.on_fault);
	if (!g->link) {
		r = -errno;
		snprintf(err, errlen, "cannot attach to the page-fault tracepoint (exceptions:page_fault_user) for "
			 "%s: %s", g->who, strerror(-r));
		growth_detach(g);
		return r;
	}
	pthread_mutex_lock(&g->lock);
	if (!g->nperiods++)
		g->first_since = profd_now_nanos();
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void growth_poll(void *ctx)
{
	struct growth_source *g = ctx;
	struct epoll_event ev;

	/* submissions below the wakeup threshold do not wake us: the timeout drains them */
	epoll_wait(ring_buffer__epoll_fd(g->rb), &ev, 1, POLL_MS);
	pthread_mutex_lock(&g->lock);
	ring_buffer__consume(g->rb);
	pthread_mutex_unlock(&g->lock);
}

static const struct demand_ops growth_demand_ops = {
	.attach = growth_attach,
	.detach = growth_detach,
	.poll = growth_poll,
};

/* ---- life ---- */

/* Room for the samples of GROWTH_RING_GROWTH_BYTES of growth at the rate (growth.h). */
static uint32_t auto_ring_bytes(const struct growth_config *cfg)
{
	uint64_t per = offsetof(struct profd_growth_event, stack) + cfg->stack_bytes + 8; /* + ring header */
	uint64_t want = (GROWTH_RING_GROWTH_BYTES / (cfg->rate > 1 ? cfg->rate : 1) + 1) * per;
	uint32_t sz = GROWTH_MIN_AUTO_RING_BYTES;

	while (sz < want && sz < GROWTH_MAX_AUTO_RING_BYTES)
		sz <<= 1;
	return sz;
}

int growth_source__new(struct procs *ps, const struct growth_config *cfg, struct growth_source **ret, char *err,
		       size_t errlen)
{
	struct growth_source *g;
	int r;

	*ret = NULL;
	if (cfg->mode == GROWTH_MODE_OFF || cfg->rate < 1 || cfg->max_stacks < 1 ||
	    (cfg->ring_bytes && (cfg->ring_bytes < 4096 || cfg->ring_bytes > GROWTH_MAX_RING_BYTES ||
				 (cfg->ring_bytes & (cfg->ring_bytes - 1)))) ||
	    cfg->idle_ns < 1000000000 || cfg->stack_bytes < 1024 || cfg->stack_bytes > PROFD_GROWTH_MAX_STACK) {
		snprintf(err, errlen, "growth profiling: invalid configuration");
		return -EINVAL;
	}
	if (!kernel_has_tracepoint()) {
		snprintf(err, errlen, "this kernel has no x86 page-fault tracepoint (exceptions:page_fault_user) in "
			 "its BTF: growth profiles need an x86_64 kernel with BTF");
		return -EOPNOTSUPP;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->ps = ps;
	g->multi = procs__multi(ps);
	g->cfg = *cfg;
	if (!g->cfg.ring_bytes)
		g->cfg.ring_bytes = auto_ring_bytes(cfg);
	g->kpageflags_fd = -1;
	for (int i = 0; i < PAGEMAP_CACHE; i++)
		g->pagemaps[i].fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	if (!g->multi) {
		struct proc **list = NULL;
		int n = procs__list(ps, &list);

		g->single = n > 0 ? proc__ref(list[0]) : NULL;
		procs__list_free(list, n > 0 ? n : 0);
		if (!g->single) {
			snprintf(err, errlen, "growth profiling: the target process is gone");
			r = -ESRCH;
			goto fail;
		}
		snprintf(g->who, sizeof(g->who), "process %d", (int)g->single->target.pid);
	} else {
		snprintf(g->who, sizeof(g->who), "the processes of %.100s", procset__describe(procs__set(ps)));
	}
	g->ncpus = libbpf_num_possible_cpus();
	g->rec_index_size = 1;
	while (g->rec_index_size < 2 * cfg->max_stacks)
		g->rec_index_size *= 2;
	g->rec_index = calloc(g->rec_index_size, sizeof(*g->rec_index));
	if (!g->rec_index || g->ncpus <= 0) {
		r = g->ncpus < 0 ? g->ncpus : -ENOMEM;
		snprintf(err, errlen, "growth profiling: %s", strerror(-r));
		goto fail;
	}
	probe_paging(g);
	probe_thp(g);
	proc_self_pidns(&g->pidns_dev, &g->pidns_ino);
	snprintf(g->describe, sizeof(g->describe),
		 "page faults of %s, one sample per %llu bytes faulted in on average; 4 KiB per first touch, "
		 "2 MiB where a transparent huge page may be used (THP %s)",
		 g->who, (unsigned long long)cfg->rate, thp_mode_name(g->thp_mode));
	snprintf(g->what, sizeof(g->what), "page-fault tracepoint for %s", g->who);
	r = tgidmap__init(&g->tgids, ps);
	if (r < 0) {
		snprintf(err, errlen, "growth profiling: cannot follow %s: %s", g->who, strerror(-r));
		goto fail;
	}
	{
		/* the verifier's verdict now rather than at the first request: a kernel that rejects
		 * the program (an older one whose layout CO-RE cannot match) has no growth profile,
		 * said at start-up, instead of a profile that fails whenever it is asked for */
		struct growth_bpf *skel;

		r = growth_load(g, &skel, err, errlen);
		if (r < 0)
			goto fail;
		growth_bpf__destroy(skel);
	}
	{
		struct demand_config dc = {
			.what = g->what,
			.idle_flag = "--growth-idle",
			.always = cfg->mode == GROWTH_MODE_ALWAYS,
			.idle_ns = cfg->idle_ns,
			.max_windows = GROWTH_MAX_WINDOWS,
		};

		r = demand__new(&dc, &growth_demand_ops, g, &g->demand, err, errlen);
		if (r < 0)
			goto fail;
	}
	*ret = g;
	return 0;
fail:
	growth_source__free(g);
	return r;
}

void growth_source__free(struct growth_source *g)
{
	if (!g)
		return;
	/* no set change may reach the source from now on */
	tgidmap__fini(&g->tgids);
	demand__free(g->demand); /* detaches first */
	for (uint32_t i = 0; i < g->nrecs; i++)
		free(g->recs[i].pcs);
	free(g->recs);
	free(g->rec_index);
	proc__put(g->single);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

const char *growth_source__describe(const struct growth_source *g)
{
	return g->describe;
}

void growth_source__stats(struct growth_source *g, struct growth_stats *ret)
{
	lock_current(g);
	*ret = g->st;
	pthread_mutex_unlock(&g->lock);
}

/* ---- output ---- */

static struct profd_sample_set *new_set(struct growth_source *g)
{
	struct profd_sample_set *set = sample_set__new(2);

	if (!set)
		return NULL;
	set->types[0] = (struct profd_value_type){ "pagefaults", "count" };
	set->types[1] = (struct profd_value_type){ "growth", "bytes" };
	set->period_type = (struct profd_value_type){ "growth", "bytes" };
	set->period = (int64_t)g->cfg.rate;
	set->default_sample_type = 1;
	return set;
}

/* The comments every growth profile carries: what it counts, since when, what it missed.
 * started: this request started the tracking. Caller holds the lock (for g->st). */
static void add_comments(struct growth_source *g, struct profd_sample_set *set, const struct demand_view *v,
			 bool started)
{
	char since[32], first[32], idle[16], total[32];

	sample_set__comment(set, "profd growth: where resident memory grew, by stack: first touches of pages "
			    "(not-present page faults, and swap-ins) of %s, weighed by the bytes each maps "
			    "(4 KiB; 2 MiB for a transparent huge page, THP %s), sampled once per %llu bytes on "
			    "average and scaled", g->who, thp_mode_name(g->thp_mode),
			    (unsigned long long)g->cfg.rate);
	profd_format_utc(v->tracking_since, since, sizeof(since));
	profd_format_utc(g->first_since, first, sizeof(first));
	profd_format_duration(g->cfg.idle_ns, idle, sizeof(idle));
	if (started)
		sample_set__comment(set, "growth tracking started at %s by this request; ask again later, or use "
				    "?seconds=N for the growth of the next N seconds", since);
	else if (!v->tracking_since)
		sample_set__comment(set, "growth tracking is not running (--growth demand): a growth request starts "
				    "it, ?seconds=N collects a window; what is shown was tracked before it stopped");
	else if (g->cfg.mode == GROWTH_MODE_DEMAND)
		sample_set__comment(set, "growth tracking since %s (--growth demand: it stops after %s without a "
				    "growth request, --growth-idle)", since, idle);
	else
		sample_set__comment(set, "growth tracking since %s (--growth always)", since);
	if (g->nperiods > 1)
		sample_set__comment(set, "this profile adds up the %d periods profd tracked, the first from %s; "
				    "growth between them is missing", g->nperiods, first);
	format_bytes((double)g->st.fault_bytes, total, sizeof(total));
	sample_set__comment(set, "counted exactly while tracking: %llu first touches mapping %s (%llu of them "
			    "2 MiB THP faults, %llu swap-ins); sampled: %llu. Not counted: %llu protection faults "
			    "(copy-on-write, ...), %llu NUMA hints", (unsigned long long)g->st.faults, total,
			    (unsigned long long)g->st.huge, (unsigned long long)g->st.swapin,
			    (unsigned long long)g->st.sampled, (unsigned long long)g->st.other,
			    (unsigned long long)g->st.numa);
	if (g->st.ns_per_fault > 0)
		sample_set__comment(set, "cost: the page-fault program takes about %.0f ns of the target's time per "
				    "fault it has, %.1f us more per sampled fault: %.1f ms in all so far",
				    g->st.ns_per_fault, g->st.ns_per_sample / 1e3, (double)g->st.cost_ns / 1e6);
	sample_set__comment(set, "not seen: memory the kernel fills for the target (read() into new buffers, "
			    "MAP_POPULATE, mlock), pages khugepaged collapses, file pages mapped around a fault; a "
			    "page first read is counted at that read");
	if (g->calib_state == PROFD_GROWTH_CALIB_FAILED || g->st.no_walk)
		sample_set__comment(set, "%llu faults were weighed 4 KiB because profd could not read the target's "
				    "page tables: THP growth is under-counted", (unsigned long long)g->st.no_walk);
	if (g->st.vma_busy)
		sample_set__comment(set, "%llu possible THP faults were weighed 4 KiB: their mapping was busy",
				    (unsigned long long)g->st.vma_busy);
	if (g->st.huge_fallback)
		sample_set__comment(set, "%llu sampled faults that could have mapped a huge page mapped 4 KiB pages "
				    "(the kernel found no free 2 MiB block): counted as what they mapped",
				    (unsigned long long)g->st.huge_fallback);
	if (g->st.dropped_ringbuf || g->st.dropped_stacks)
		sample_set__comment(set, "dropped at bounds: %llu sampled faults (ring buffer full), %llu (more than "
				    "%u stacks)", (unsigned long long)g->st.dropped_ringbuf,
				    (unsigned long long)g->st.dropped_stacks, g->cfg.max_stacks);
	if (g->st.unwind_partial) {
		char line[512];

		stack_tally__sentence(&g->st.stacks, "sampled stacks", line, sizeof(line));
		sample_set__comment(set, "%s", line);
	}
}

/* Whether a record is in the request's scope (?pid= over a set). */
static bool in_scope(const struct growth_source *g, const struct record *rc, pid_t scope_pid)
{
	return !g->multi || scope_pid <= 0 || rc->pid == scope_pid;
}

/* One record's sample; over a set, labelled with its process (nm: the set's names). */
static int add_record(struct growth_source *g, struct profd_sample_set *set, const struct record *rc,
		      double faults, double bytes, const struct procs_names *nm)
{
	struct proc *p = g->multi ? procs_names__find(nm, rc->pid) : NULL;
	struct profd_label labs[2] = {
		{ .key = "pid", .num = rc->pid },
		{ .key = "process", .str = p ? (char *)p->target.comm : "?" },
	};
	int64_t v[2] = { llround(faults), llround(bytes) };

	if (!v[0] && !v[1])
		return 0;
	return sample_set__add(set, rc->pcs, rc->nframes, v, g->multi ? labs : NULL, g->multi ? 2 : 0);
}

static int snapshot(struct growth_source *g, bool started, pid_t scope_pid, struct profd_sample_set **ret)
{
	struct profd_sample_set *set;
	struct procs_names nm = { 0 };
	struct demand_view v;
	int r = 0;

	*ret = NULL;
	if (g->multi && (r = procs_names__get(g->ps, &nm)) < 0)
		return r;
	set = new_set(g);
	if (!set) {
		procs_names__free(&nm);
		return -ENOMEM;
	}
	demand__view(g->demand, &v);
	lock_current(g);
	set->time_nanos = profd_now_nanos();
	for (uint32_t i = 0; i < g->nrecs && r == 0; i++)
		if (in_scope(g, &g->recs[i], scope_pid))
			r = add_record(g, set, &g->recs[i], g->recs[i].faults, g->recs[i].bytes, &nm);
	add_comments(g, set, &v, started);
	pthread_mutex_unlock(&g->lock);
	procs_names__free(&nm);
	if (r < 0) {
		sample_set__free(set);
		return r;
	}
	*ret = set;
	return 0;
}

int growth_source__snapshot(struct growth_source *g, struct profd_sample_set **ret)
{
	return snapshot(g, false, 0, ret);
}

/* A window of the growth of the processes in scope (scope_pid 0: all). */
static int collect(struct growth_source *g, pid_t scope_pid, int64_t duration_ns, profd_cancel_fn cancelled,
		   void *arg, struct profd_sample_set **ret)
{
	struct procs_names nm = { 0 };
	struct profd_sample_set *set = NULL;
	double *start = NULL;
	uint32_t start_nrecs;
	uint64_t faults0, bytes0;
	int64_t start_real, start_mono;
	struct demand_view v;
	char total[32];
	int r, waited;

	*ret = NULL;
	r = demand__want(g->demand, true, NULL);
	if (r < 0)
		return r;
	/* the window's start: what each stack had grown */
	lock_current(g);
	faults0 = g->st.faults;
	bytes0 = g->st.fault_bytes;
	start_nrecs = g->nrecs;
	start = malloc((start_nrecs ? start_nrecs : 1) * 2 * sizeof(*start));
	for (uint32_t i = 0; start && i < start_nrecs; i++) {
		start[2 * i] = g->recs[i].faults;
		start[2 * i + 1] = g->recs[i].bytes;
	}
	pthread_mutex_unlock(&g->lock);
	start_real = profd_now_nanos();
	start_mono = profd_mono_ns();
	atomic_fetch_add(&g->nwindows, 1); /* for the index, once the start is taken */
	if (!start) {
		r = -ENOMEM;
		goto cleanup;
	}
	/* a set does not end: only the one target of --pid is watched */
	waited = target_wait(g->single ? &g->single->target : NULL, duration_ns, cancelled, arg);
	if (g->multi && (r = procs_names__get(g->ps, &nm)) < 0)
		goto cleanup;
	set = new_set(g);
	if (!set) {
		r = -ENOMEM;
		goto cleanup;
	}
	demand__view(g->demand, &v);
	lock_current(g);
	set->time_nanos = profd_now_nanos();
	set->duration_nanos = set->time_nanos - start_real;
	for (uint32_t i = 0; i < g->nrecs && r == 0; i++) {
		const struct record *rc = &g->recs[i];

		if (in_scope(g, rc, scope_pid))
			r = add_record(g, set, rc, rc->faults - (i < start_nrecs ? start[2 * i] : 0),
				       rc->bytes - (i < start_nrecs ? start[2 * i + 1] : 0), &nm);
	}
	format_bytes((double)(g->st.fault_bytes - bytes0), total, sizeof(total));
	sample_set__comment(set, "a %.0f s window: the growth of that window only (counted exactly: %llu first "
			    "touches mapping %s)", (double)set->duration_nanos / 1e9,
			    (unsigned long long)(g->st.faults - faults0), total);
	if (waited == -ESRCH)
		sample_set__comment(set, "the target process (pid %d) exited %.1f s into the window; this is what "
				    "was collected until then", (int)g->single->target.pid,
				    (double)(profd_mono_ns() - start_mono) / 1e9);
	else if (waited == -ECANCELED)
		sample_set__comment(set, "the window was ended early by its requester");
	add_comments(g, set, &v, false);
	pthread_mutex_unlock(&g->lock);
cleanup:
	atomic_fetch_sub(&g->nwindows, 1);
	demand__window_done(g->demand);
	procs_names__free(&nm);
	free(start);
	if (r < 0) {
		sample_set__free(set);
		return r;
	}
	*ret = set;
	return 0;
}

int growth_source__collect(struct growth_source *g, int64_t duration_ns, profd_cancel_fn cancelled, void *arg,
			   struct profd_sample_set **ret)
{
	return collect(g, 0, duration_ns, cancelled, arg, ret);
}

/* Records by estimated bytes, descending. */
static int cmp_bytes_desc(const void *a, const void *b, void *arg)
{
	const struct growth_source *g = arg;
	const struct record *x = &g->recs[*(const uint32_t *)a], *y = &g->recs[*(const uint32_t *)b];

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* debug=1: gperftools' growth text ("heap profile: ... @ growthz"), which pprof reads as a
 * profile of already-estimated objects/count and space/bytes (it does not unsample growthz):
 * so the values are the scaled estimates, records by bytes. Then profd's counters. */
static int write_text(struct growth_source *g, bool started, pid_t scope_pid, struct buf *out)
{
	struct profd_sample_set *notes = sample_set__new(1);
	struct procs_names nm = { 0 };
	uint32_t *order = NULL, n = 0;
	long long tf = 0, tb = 0;
	struct demand_view v;
	char since[32];
	int r = 0;

	if (!notes)
		return -ENOMEM;
	r = procs_names__get(g->ps, &nm);
	if (r < 0) {
		sample_set__free(notes);
		return r;
	}
	demand__view(g->demand, &v);
	lock_current(g);
	add_comments(g, notes, &v, started);
	order = malloc((g->nrecs ? g->nrecs : 1) * sizeof(*order));
	if (!order) {
		r = -ENOMEM;
		goto cleanup;
	}
	for (uint32_t i = 0; i < g->nrecs; i++) {
		if (!in_scope(g, &g->recs[i], scope_pid))
			continue;
		order[n++] = i;
		tf += llround(g->recs[i].faults);
		tb += llround(g->recs[i].bytes);
	}
	qsort_r(order, n, sizeof(*order), cmp_bytes_desc, g);
	r = buf_printf(out, "heap profile: %lld: %lld [%lld: %lld] @ growthz\n", tf, tb, tf, tb);
	for (uint32_t i = 0; i < n && r >= 0; i++) {
		const struct record *rc = &g->recs[order[i]];
		long long f = llround(rc->faults), b = llround(rc->bytes);

		r = buf_printf(out, "%lld: %lld [%lld: %lld] @", f, b, f, b);
		for (uint32_t k = 0; k < rc->nframes && r >= 0; k++)
			r = buf_printf(out, " %#llx", (unsigned long long)rc->pcs[k]);
		if (r >= 0)
			r = buf_putc(out, '\n');
		if (r >= 0)
			r = pprof_write_legacy_frames(rc->pcs, rc->nframes,
						      g->multi ? procs_names__sym(&nm, rc->pid)
							       : procs_names_symbolizer(&nm, 0), out);
		if (r >= 0 && g->multi) {
			struct proc *p = procs_names__find(&nm, rc->pid);

			/* legacy parsers skip comment lines; people read which process it was */
			r = buf_printf(out, "# pid %d (%s)\n", (int)rc->pid, p ? p->target.comm : "?");
		}
		if (r >= 0)
			r = buf_putc(out, '\n');
	}
	profd_format_utc(v.tracking_since, since, sizeof(since));
	if (r >= 0)
		r = buf_printf(out,
			       "\n# profd growth\n# %s\n# Mode = %s\n# Rate = %llu\n# TrackingSince = %s\n"
			       "# Faults = %llu\n# FaultBytes = %llu\n# HugeFaults = %llu\n# SwapIns = %llu\n"
			       "# NotCounted = %llu\n# NumaHints = %llu\n# Sampled = %llu\n# Stacks = %u\n"
			       "# DroppedRingbuf = %llu\n# DroppedStacks = %llu\n# Observed = %llu\n"
			       "# HugeFallbacks = %llu\n# UnwindIncomplete = %llu\n# BpfNsPerFault = %.0f\n"
			       "# BpfNsPerSample = %.0f\n# BpfCostNs = %llu\n# BpfTimed = %llu\n# BpfTimedNs = %llu\n"
			       "# BpfSampleNs = %llu\n# BpfSampleTimed = %llu\n",
			       g->describe, growth_mode_name(g->cfg.mode), (unsigned long long)g->cfg.rate,
			       v.tracking_since ? since : "-", (unsigned long long)g->st.faults,
			       (unsigned long long)g->st.fault_bytes, (unsigned long long)g->st.huge,
			       (unsigned long long)g->st.swapin, (unsigned long long)g->st.other,
			       (unsigned long long)g->st.numa, (unsigned long long)g->st.sampled, g->nrecs,
			       (unsigned long long)g->st.dropped_ringbuf, (unsigned long long)g->st.dropped_stacks,
			       (unsigned long long)g->st.observed, (unsigned long long)g->st.huge_fallback,
			       (unsigned long long)g->st.unwind_partial, g->st.ns_per_fault, g->st.ns_per_sample,
			       (unsigned long long)g->st.cost_ns, (unsigned long long)g->st.timed,
			       (unsigned long long)g->st.timed_ns, (unsigned long long)g->st.sample_ns,
			       (unsigned long long)g->st.sample_timed);
	for (int c = 0; c < notes->ncomments && r >= 0; c++)
		r = buf_printf(out, "# Note = %s\n", notes->comments[c]);
cleanup:
	pthread_mutex_unlock(&g->lock);
	procs_names__free(&nm);
	free(order);
	sample_set__free(notes);
	return r < 0 ? r : 0;
}

/* ---- struct profd_profile glue ---- */

static int prof_count(void *ctx)
{
	struct growth_source *g = ctx;
	int n;

	pthread_mutex_lock(&g->lock);
	n = (int)g->nrecs;
	pthread_mutex_unlock(&g->lock);
	return n;
}

/* A request without seconds: in demand mode it starts or extends the tracking first. */
static int prof_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	bool started = false;
	int r = scope && scope->held ? 0 : demand__want(((struct growth_source *)ctx)->demand, false, &started);

	return r < 0 ? r : snapshot(ctx, started, scope ? scope->pid : 0, ret);
}

static int prof_text(void *ctx, const struct profd_scope *scope, int debug, struct buf *out)
{
	bool started;
	int r = demand__want(((struct growth_source *)ctx)->demand, false, &started);

	return r < 0 ? r : write_text(ctx, started, scope ? scope->pid : 0, out);
}

static int prof_collect(void *ctx, const struct profd_scope *scope, int64_t duration_ns, profd_cancel_fn cancelled,
			void *arg, struct profd_sample_set **ret)
{
	return collect(ctx, scope ? scope->pid : 0, duration_ns, cancelled, arg, ret);
}

/* One line for the index: attached or not, since when, what it saw, the windows open. */
static int prof_status(void *ctx, struct buf *out)
{
	struct growth_source *g = ctx;
	struct growth_stats st;
	struct demand_view v;
	char since[32], idle[16], total[32];
	int windows = atomic_load(&g->nwindows);

	demand__view(g->demand, &v);
	pthread_mutex_lock(&g->lock);
	read_counters(g);
	st = g->st;
	pthread_mutex_unlock(&g->lock);
	format_bytes((double)st.fault_bytes, total, sizeof(total));
	profd_format_utc(v.tracking_since, since, sizeof(since));
	profd_format_duration(g->cfg.idle_ns, idle, sizeof(idle));
	if (!v.attached && !v.tracking_since)
		buf_printf(out, "Nothing attached (--growth %s): the first growth request attaches the page-fault "
			   "tracepoint.", growth_mode_name(g->cfg.mode));
	else if (g->cfg.mode == GROWTH_MODE_DEMAND)
		buf_printf(out, "Page-fault tracepoint attached, tracking since %s (stops after %s without a growth "
			   "request, --growth-idle).", since, idle);
	else
		buf_printf(out, "Page-fault tracepoint attached, tracking since %s (--growth always).", since);
	if (windows)
		buf_printf(out, " %d ?seconds=N window%s open.", windows, windows == 1 ? "" : "s");
	if (g->first_since)
		buf_printf(out, " Seen so far: %llu first touches mapping %s; one sample per %llu bytes, THP %s.",
			   (unsigned long long)st.faults, total, (unsigned long long)g->cfg.rate,
			   thp_mode_name(g->thp_mode));
	if (st.ns_per_fault > 0)
		buf_printf(out, " Cost: about %.0f ns per fault of the target, %.1f us more per sample; %.1f ms in all.",
			   st.ns_per_fault, st.ns_per_sample / 1e3, (double)st.cost_ns / 1e6);
	return 0;
}

void growth_source__profile(struct growth_source *g, struct profd_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->name = "growth";
	ret->description = "Where resident memory grew: first touches of new pages, by stack (page faults; any "
			   "allocator, nothing probed while memory is only reused).";
	ret->ctx = g;
	ret->count = prof_count;
	ret->snapshot = prof_snapshot;
	ret->write_text = prof_text;
	ret->status = prof_status;
	ret->collect = prof_collect;
}
