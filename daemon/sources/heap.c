// SPDX-License-Identifier: MIT
/* Heap profile source (see heap.h). Threads: the demand manager (demand.h) alone attaches and
 * detaches the probes (so the skeleton and ring buffer change hands only there), drains the ring
 * buffer, unwinds sampled allocations and keeps the probes within their budget; HTTP threads say
 * what they want (demand__want) and take snapshots or windows; a snapshot thread writes SIGUSR2
 * profiles. `lock` guards the records, the live table and the ring buffer consumer; `cost_lock`
 * what the budget last found; neither is taken while holding the other. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "heap.skel.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "base/words.h"
#include "bpf/heap.h"
#include "pprof/pprof.h"
#include "proc/procset.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/allocator.h"
#include "sources/demand.h"
#include "sources/heap.h"
#include "sources/probeframes.h"
#include "sources/probecost.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

#define MAX_DEPTH 128
#define POLL_MS 100
#define CALIB_CALLS 700
/* The calibration probe's index in probe_hits: above every plan's (ALLOC_MAX_PROBES - 1 is
 * the last one a plan may use, and calibration counts are cleared before the target's). */
#define CALIB_PROBE (PROFD_HEAP_MAX_PROBES - 1)

/* Allocations sampled at one stack with one size in one process (Go keeps its memRecords per
 * stack and size). */
struct record {
	uint64_t hash;
	int32_t pid;
	uint64_t size;
	uint32_t nframes;
	uint64_t *pcs;
	uint64_t alloc_objects, free_objects;
};

struct live_slot {
	uint64_t id;  /* 0 = empty */
	uint32_t rec;
	uint32_t seq; /* when it was sampled (heap_source.seq), for windows: compare with seq_after */
};

/* Why and when the probes were last paused for their cost, for comments, the index and the log. */
struct heap_pause {
	int64_t at;          /* CLOCK_REALTIME ns */
	int64_t until;       /* CLOCK_REALTIME ns: the probes may come back then */
	double calls_per_s;  /* probe hits per second */
	double ns_per_call;  /* estimated cost of one hit */
	double share;        /* of the target's CPU time, 0..1 */
};

/* One process whose allocator is probed: its plan (borrowed from the process whose layout it
 * shares: forked workers have their master's allocator at the same addresses) and its links. */
struct heap_proc {
	struct proc *p;                    /* referenced */
	struct alloc_plan *plan;           /* NULL: its allocator cannot be probed (why says why) */
	struct heap_proc *plan_owner;      /* whose plan it is (itself, or the layout's first) */
	char why[512];
	int why_err;                       /* -errno of alloc_plan_build (no plan) */
	struct bpf_link *links[2 * ALLOC_MAX_PROBES];
	int nlinks;
	int session_fds[ALLOC_MAX_PROBES]; /* uprobe-session links (raw link fds) */
	int nsession;
	bool attached;
	bool gone;                         /* it ended: detach, forget its live allocations */
	bool lent;                         /* gone, but another's plan_owner: kept until that goes */
	clockid_t cpu_clock;
	bool have_cpu_clock;
	int64_t prev_cpu_ns;               /* its CPU time at the last budget check, -1: none */
};

struct heap_source {
	struct procs *ps;
	bool multi;                        /* several processes: samples carry pid and process labels */
	struct heap_config cfg;
	char snapshot_dir[4096];
	pid_t single;                      /* the process when not multi */
	bool have_plan;                    /* some process's allocator can be probed */
	int nprobes;                       /* the most probes of any plan */
	bool stepped[ALLOC_MAX_PROBES];    /* probe i is single-stepped in some plan (its cost) */
	char describe[2048];
	char first_plan[1800];             /* the first probeable process's plan, described */
	/* the processes (hp_lock); the manager attaches and detaches their probes */
	pthread_mutex_t hp_lock;
	struct heap_proc **hp;
	int nhp, hp_cap;
	bool changed;                      /* came or went since the manager last looked */
	int nrefused;                      /* processes whose allocator cannot be probed */
	/* the attachment: owned by the demand manager; skel and rb are swapped under `lock` */
	struct heap_bpf *skel;
	bool session;                      /* the session program is loaded and used */
	struct ring_buffer *rb;
	struct demand *demand;
	char what[64];                     /* "heap probes of process N", for the log */

	/* what the budget found last (cost_lock) */
	pthread_mutex_t cost_lock;
	struct heap_pause pause;    /* the last pause */
	double last_share;          /* the last estimate, of the target's CPU time */
	double last_calls_per_s;
	uint64_t probe_ns_total;    /* estimated probe time the target paid so far */

	/* budget: the manager's alone */
	bool calibrated;
	double cost_entry_ns[PROBECOST__COUNT]; /* one entry hit, by the probed instruction's kind */
	double cost_ret_ns;                     /* one return probe */
	uint64_t prev_hits[ALLOC_MAX_PROBES], prev_returns;
	int64_t prev_check;                     /* CLOCK_MONOTONIC */

	pthread_mutex_t lock;
	/* records: array + open-addressing index (power of two, >= 2 * max_stacks) */
	struct record *recs;
	uint32_t nrecs;
	uint32_t *rec_index; /* rec + 1, 0 = empty */
	uint32_t rec_index_size;
	/* live sampled allocations: id -> record, grows to >= 2 * max_live */
	struct live_slot *live;
	uint32_t live_size, live_count;
	struct heap_stats st;
	uint64_t base[PROFD_HEAP_CNT__COUNT]; /* BPF counters of attachments that ended */
	uint64_t user_live_full;
	uint32_t seq;                         /* sampled allocations unwound so far */
	int64_t last_refresh; /* CLOCK_MONOTONIC ns of the last unwinder refresh (at most 1/s) */

	/* SIGUSR2 snapshots */
	pthread_mutex_t snap_lock;
	pthread_cond_t snap_cond;
	bool snap_busy;
	int snap_result;
	pthread_t snap_thread;
	bool snap_thread_started;
	char snap_path[4400];
	int snap_keep;          /* > 0: a kept snapshot; then only the newest snap_keep remain */
	char snap_prefix[64];   /* their name before the time: "profd-heap-PID-" */
};

/* ---- configuration ---- */

void heap_config_default(struct heap_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = HEAP_MODE_DEMAND;
	cfg->rate = HEAP_DEFAULT_RATE;
	cfg->idle_ns = HEAP_DEFAULT_IDLE_NS;
	cfg->budget_pct = HEAP_DEFAULT_BUDGET;
	cfg->max_live = HEAP_DEFAULT_MAX_LIVE;
	cfg->max_stacks = HEAP_DEFAULT_MAX_STACKS;
	cfg->ring_bytes = HEAP_DEFAULT_RING_BYTES;
}

static const struct word heap_modes[] = {
	{ "demand", HEAP_MODE_DEMAND },
	{ "inuse", HEAP_MODE_INUSE },
	{ "allocs", HEAP_MODE_ALLOCS },
	{ "off", HEAP_MODE_OFF },
};

const char *heap_mode_name(enum heap_mode mode)
{
	return words_name(heap_modes, sizeof(heap_modes) / sizeof(heap_modes[0]), (int)mode, "off");
}

int heap_mode_parse(const char *s, enum heap_mode *ret, char *err, size_t errlen)
{
	int v, r = words_parse(s, heap_modes, sizeof(heap_modes) / sizeof(heap_modes[0]), "--heap", &v, err, errlen);

	if (r == 0)
		*ret = (enum heap_mode)v;
	return r;
}

int heap_rate_parse(const char *s, uint64_t *ret, char *err, size_t errlen)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end || v < 1 || v > HEAP_MAX_RATE)
		goto bad;
	*ret = v;
	return 0;
bad:
	snprintf(err, errlen,
		 "--heap-rate: expected mean bytes between samples, 1 (every allocation) to %llu, with an "
		 "optional K or M suffix, got '%s'",
		 (unsigned long long)HEAP_MAX_RATE, s ? s : "");
	return -EINVAL;
}

int heap_snapshot_dir_check(const char *dir, char *err, size_t errlen)
{
	struct stat sb;

	if (!dir || !*dir) {
		snprintf(err, errlen, "--snapshot-dir: expected a directory, got ''");
		return -EINVAL;
	}
	if (stat(dir, &sb) != 0) {
		int e = errno;

		snprintf(err, errlen, "--snapshot-dir: cannot use '%s': %s", dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "--snapshot-dir: '%s' is not a directory", dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		int e = errno;

		snprintf(err, errlen, "--snapshot-dir: cannot write to '%s': %s", dir, strerror(e));
		return -e;
	}
	return 0;
}

int heap_idle_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen)
{
	unsigned long long v;
	int64_t unit;
	char *end;

	if (!s || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		goto bad;
	if (strcmp(end, "s") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60;
	else if (strcmp(end, "h") == 0)
		unit = 3600;
	else
		goto bad;
	if (v < 1 || v > (unsigned long long)(HEAP_MAX_IDLE_NS / 1000000000 / unit))
		goto bad;
	*ret_ns = (int64_t)v * unit * 1000000000;
	return 0;
bad:
	snprintf(err, errlen, "--heap-idle: expected a duration from 1s to 168h, a whole number with a unit "
		 "s, m or h (e.g. 90s, 10m, 1h), got '%s'", s ? s : "");
	return -EINVAL;
}

int heap_budget_parse(const char *s, double *ret, char *err, size_t errlen)
{
	double v;
	char *end;

	/* digits and one dot only: no signs, exponents, "nan" or "inf" */
	if (!s || !*s || strspn(s, "0123456789.") != strcspn(s, "%"))
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || (*end && strcmp(end, "%") != 0) || !(v > 0) || v > 100)
		goto bad;
	*ret = v;
	return 0;
bad:
	snprintf(err, errlen, "--heap-budget: expected the share of the target's CPU time the heap probes may "
		 "cost, in percent, above 0 and at most 100 (100: no limit), e.g. 2 or 0.5, got '%s'", s ? s : "");
	return -EINVAL;
}

/* ---- sampling math ---- */

void heap_scale(int64_t count, int64_t size, int64_t rate, int64_t *ret_count, int64_t *ret_size)
{
	double avg, scale;

	if (count == 0 || size == 0) {
		*ret_count = 0;
		*ret_size = 0;
		return;
	}
	if (rate <= 1) {
		*ret_count = count;
		*ret_size = size;
		return;
	}
	avg = (double)size / (double)count;
	scale = 1 / (1 - exp(-avg / (double)rate));
	*ret_count = (int64_t)((double)count * scale);
	*ret_size = (int64_t)((double)size * scale);
}

void heap_fill_exp_table(uint64_t *table, size_t n, uint64_t rate)
{
	for (size_t i = 0; i < n; i++) {
		double u = ((double)i + 0.5) / (double)n;

		table[i] = (uint64_t)llround(-log(u) * (double)rate);
	}
}

/* ---- records and live table (callers hold h->lock) ---- */

static uint64_t rec_hash(int32_t pid, const uint64_t *pcs, uint32_t n, uint64_t size)
{
	uint64_t x = (0xcbf29ce484222325ull ^ size) * 0x100000001b3ull ^ (uint64_t)(uint32_t)pid;

	for (uint32_t i = 0; i < n; i++) {
		x ^= pcs[i];
		x *= 0x100000001b3ull;
		x ^= x >> 29;
	}
	return x ? x : 1;
}

/* Index of the record for (pid, pcs, size), created if needed; -ENOSPC at max_stacks, -ENOMEM. */
static int rec_get(struct heap_source *h, int32_t pid, const uint64_t *pcs, uint32_t n, uint64_t size)
{
	uint64_t hash = rec_hash(pid, pcs, n, size);
	uint32_t mask = h->rec_index_size - 1, i;
	struct record *r;

	for (i = (uint32_t)hash & mask; h->rec_index[i]; i = (i + 1) & mask) {
		r = &h->recs[h->rec_index[i] - 1];
		if (r->hash == hash && r->pid == pid && r->size == size && r->nframes == n &&
		    memcmp(r->pcs, pcs, n * sizeof(*pcs)) == 0)
			return (int)(h->rec_index[i] - 1);
	}
	if (h->nrecs >= h->cfg.max_stacks)
		return -ENOSPC;
	if (h->nrecs % 1024 == 0) {
		struct record *nr = realloc(h->recs, (h->nrecs + 1024) * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		h->recs = nr;
	}
	r = &h->recs[h->nrecs];
	memset(r, 0, sizeof(*r));
	r->pcs = malloc((n ? n : 1) * sizeof(*pcs));
	if (!r->pcs)
		return -ENOMEM;
	memcpy(r->pcs, pcs, n * sizeof(*pcs));
	r->nframes = n;
	r->pid = pid;
	r->size = size;
	r->hash = hash;
	h->rec_index[i] = ++h->nrecs;
	return (int)(h->nrecs - 1);
}

static uint64_t id_hash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return id;
}

static int live_grow(struct heap_source *h)
{
	uint32_t nsize = h->live_size ? h->live_size * 2 : 1024;
	struct live_slot *n = calloc(nsize, sizeof(*n)), *old = h->live;

	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->live_size; i++) {
		uint32_t j;

		if (!old[i].id)
			continue;
		for (j = (uint32_t)id_hash(old[i].id) & (nsize - 1); n[j].id; j = (j + 1) & (nsize - 1))
			;
		n[j] = old[i];
	}
	free(old);
	h->live = n;
	h->live_size = nsize;
	return 0;
}

static int live_put(struct heap_source *h, uint64_t id, uint32_t rec, uint32_t seq)
{
	uint32_t j;

	if (h->live_count >= h->cfg.max_live)
		return -ENOSPC;
	if ((h->live_count + 1) * 2 > h->live_size && live_grow(h) < 0)
		return -ENOMEM;
	for (j = (uint32_t)id_hash(id) & (h->live_size - 1); h->live[j].id; j = (j + 1) & (h->live_size - 1))
		;
	h->live[j].id = id;
	h->live[j].rec = rec;
	h->live[j].seq = seq;
	h->live_count++;
	return 0;
}

/* The probes went away: frees of what they tracked will not be seen, so nothing tracked stays
 * "in use" (it is counted as freed); the cumulative counts stay. */
static void live_forget_all(struct heap_source *h)
{
	for (uint32_t j = 0; j < h->live_size; j++) {
		if (!h->live[j].id)
			continue;
		h->recs[h->live[j].rec].free_objects++;
		h->live[j].id = 0;
	}
	h->live_count = 0;
}

/* true when sequence number a came after b (wraps at 2^32 sampled allocations). */
static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* Removes id; returns its record or -ENOENT. Backward-shift deletion keeps probes short. */
static int live_take(struct heap_source *h, uint64_t id)
{
	uint32_t mask = h->live_size - 1, j, k, rec;

	if (!h->live_size)
		return -ENOENT;
	for (j = (uint32_t)id_hash(id) & mask; h->live[j].id != id; j = (j + 1) & mask)
		if (!h->live[j].id)
			return -ENOENT;
	rec = h->live[j].rec;
	for (k = (j + 1) & mask; h->live[k].id; k = (k + 1) & mask) {
		uint32_t home = (uint32_t)id_hash(h->live[k].id) & mask;

		/* move k into the hole at j if its home is not in (j, k] */
		if ((j < k) ? (home <= j || home > k) : (home <= j && home > k)) {
			h->live[j] = h->live[k];
			j = k;
		}
	}
	h->live[j].id = 0;
	h->live_count--;
	return (int)rec;
}

/* A process ended: what it had in use is gone with it. Caller holds h->lock. */
static void live_forget_pid(struct heap_source *h, int32_t pid)
{
	uint32_t j = 0;

	while (j < h->live_size) {
		if (h->live[j].id && h->recs[h->live[j].rec].pid == pid) {
			h->recs[h->live[j].rec].free_objects++;
			live_take(h, h->live[j].id); /* may move another entry into j: look again */
			continue;
		}
		j++;
	}
}

static bool in_trim(const struct alloc_plan *plan, uint64_t addr)
{
	for (int i = 0; i < plan->ntrim; i++)
		if (addr >= plan->trim[i].lo && addr < plan->trim[i].hi)
			return true;
	return false;
}

static bool refresh_due(struct heap_source *h)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (now - h->last_refresh < 1000000000)
		return false;
	h->last_refresh = now;
	return true;
}

/* The probed process pid; caller holds hp_lock. */
static struct heap_proc *hp_find(struct heap_source *h, pid_t pid)
{
	for (int i = 0; i < h->nhp; i++)
		if (h->hp[i]->p->target.pid == pid && !h->hp[i]->gone)
			return h->hp[i];
	return NULL;
}

static void on_alloc_event(struct heap_source *h, const struct profd_heap_alloc_event *e)
{
	struct unwind_regs regs;
	struct unwind_stack stack = { .start = e->stack_start, .data = e->stack, .len = e->stack_len };
	uint64_t pcs[MAX_DEPTH];
	enum unwind_stop why = UNWIND_STOP_ERROR;
	const struct alloc_plan *plan = NULL;
	struct unwinder *uw = NULL;
	struct probe_fix fix;
	struct heap_proc *hp;
	int n = 0, skip = 0, rec;

	/* its process: unwound with its unwinder, trimmed of its allocator's frames */
	pthread_mutex_lock(&h->hp_lock);
	hp = hp_find(h, (pid_t)e->tgid);
	if (hp) {
		uw = hp->p->uw;
		plan = hp->plan;
	}
	pthread_mutex_unlock(&h->hp_lock);
	memcpy(regs.r, e->regs, sizeof(regs.r));
	/* an outer probed call (posix_memalign -> malloc) has the trampoline for return address */
	probe_fix_sample(&e->up, &regs, &stack, &fix);
	if (uw)
		n = unwinder__unwind(uw, &regs, &stack, pcs, MAX_DEPTH, &why);
	if (uw && why == UNWIND_STOP_BAD_ADDR && e->stack_start && refresh_due(h)) {
		/* a library mapped since the last refresh (dlopen): re-read the mappings, retry once */
		unwinder__refresh(uw);
		n = unwinder__unwind(uw, &regs, &stack, pcs, MAX_DEPTH, &why);
	}
	if ((unsigned)why < UNWIND_STOP__COUNT && (unsigned)why < 8)
		h->st.unwind_stops[why]++;
	stack_tally__add(&h->st.stacks, n, why);
	h->st.unwind_failed = stack_tally__short(&h->st.stacks);
	if (n <= 0) {
		pcs[0] = sample_pc_exact(e->regs[UNWIND_REG_RIP]);
		n = 1;
	}
	/* the allocator's own frames are not the allocation site (Go trims runtime.* likewise) */
	while (plan && skip < n - 1 && in_trim(plan, pcs[skip] - 1))
		skip++;
	rec = rec_get(h, (int32_t)e->tgid, pcs + skip, (uint32_t)(n - skip), e->size);
	if (rec < 0) {
		h->st.dropped_records++;
		return;
	}
	h->recs[rec].alloc_objects++;
	h->seq++;
	if (h->cfg.mode != HEAP_MODE_ALLOCS && live_put(h, e->id, (uint32_t)rec, h->seq) < 0) {
		/* cannot follow its free: leave it out of in-use rather than leak it there forever */
		h->recs[rec].free_objects++;
		h->user_live_full++;
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct heap_source *h = ctx;
	const struct profd_heap_free_event *f = data;
	int rec;

	h->st.events++;
	if (len >= offsetof(struct profd_heap_alloc_event, stack) && f->type == PROFD_HEAP_EV_ALLOC) {
		const struct profd_heap_alloc_event *e = data;

		/* variable length: only the copied stack bytes were sent */
		if (e->stack_len <= len - offsetof(struct profd_heap_alloc_event, stack))
			on_alloc_event(h, e);
	} else if (len >= sizeof(*f) && (f->type == PROFD_HEAP_EV_FREE || f->type == PROFD_HEAP_EV_UNTRACKED)) {
		rec = live_take(h, f->id);
		if (rec >= 0)
			h->recs[rec].free_objects++;
	}
	return 0;
}

/* ---- BPF setup ---- */

/* BPF_LINK_CREATE for uprobe_multi, as the kernel lays it out: libbpf 1.1 predates it. */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 multi_flags;
	__u32 pid;
	__u32 pad;
};

#define ATTACH_TYPE_UPROBE_SESSION 57 /* enum bpf_attach_type, kernel 6.13+ */
#define CMD_LINK_CREATE 28            /* enum bpf_cmd BPF_LINK_CREATE */

static bool tracks_live(const struct heap_source *h)
{
	return h->cfg.mode != HEAP_MODE_ALLOCS;
}

/* Attaches the session program to path at one probe; returns the link fd or -errno. */
static int attach_session(struct heap_source *h, const struct alloc_probe *p, const char *path, pid_t pid,
			  uint64_t cookie)
{
	struct link_create_uprobe_multi attr;
	__u64 off = p->file_offset;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = (__u32)bpf_program__fd(h->skel->progs.on_alloc_session);
	attr.attach_type = ATTACH_TYPE_UPROBE_SESSION;
	attr.path = (__u64)(uintptr_t)path;
	attr.offsets = (__u64)(uintptr_t)&off;
	attr.cookies = (__u64)(uintptr_t)&cookie;
	attr.cnt = 1;
	attr.pid = (__u32)pid;
	fd = (int)syscall(__NR_bpf, CMD_LINK_CREATE, &attr, sizeof(attr));
	return fd >= 0 ? fd : -errno;
}

/* Detaches one process's probes (the target stops paying at once). */
static void detach_proc(struct heap_source *h, struct heap_proc *hp)
{
	__u32 tgid = (__u32)hp->p->target.pid;

	for (int i = 0; i < hp->nlinks; i++)
		bpf_link__destroy(hp->links[i]);
	for (int i = 0; i < hp->nsession; i++)
		close(hp->session_fds[i]);
	hp->nlinks = hp->nsession = 0;
	hp->attached = false;
	if (h->skel)
		bpf_map_delete_elem(bpf_map__fd(h->skel->maps.objs), &tgid);
}

/* The process's CPU time (all its threads), ns; -1 when it cannot be read (it ended). */
static int64_t proc_cpu_ns(const struct heap_proc *hp)
{
	struct timespec ts;

	if (!hp->have_cpu_clock || clock_gettime(hp->cpu_clock, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Attaches every probe of hp's plan, filtered to its address space. Returns 0 or -errno with err
 * set; on failure nothing of it stays attached. Manager thread only. */
static int attach_proc(struct heap_source *h, struct heap_proc *hp, char *err, size_t errlen)
{
	const struct alloc_plan *plan = hp->plan;
	/* uprobes filter on the address space: any live thread names it, and the main thread may
	 * be a zombie (pthread_exit) while the process runs */
	pid_t pid = proc_live_pid(hp->p->target.pid);
	__u32 tgid = (__u32)hp->p->target.pid;
	struct profd_heap_objs objs = { 0 };

	for (int i = 0; i < plan->nobjs && i < PROFD_HEAP_MAX_OBJS; i++) {
		objs.lo[i] = plan->objs[i].text_lo;
		objs.hi[i] = plan->objs[i].text_hi;
	}
	if (bpf_map_update_elem(bpf_map__fd(h->skel->maps.objs), &tgid, &objs, BPF_ANY) != 0) {
		int e = errno;

		snprintf(err, errlen, "cannot probe the allocator of process %d: %s", (int)tgid, strerror(e));
		return -e;
	}
	for (int i = 0; i < plan->nprobes; i++) {
		const struct alloc_probe *p = &plan->probes[i];
		bool is_free = p->kind == PROFD_HEAP_FREE;
		uint64_t cookie = (uint64_t)p->kind | ((uint64_t)p->obj << 8) |
				  (p->tail_forwards ? PROFD_HEAP_COOKIE_TAIL : 0) |
				  ((uint64_t)i << PROFD_HEAP_COOKIE_PROBE_SHIFT);
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie);
		struct bpf_link *l;
		char path[4300];
		int fd;

		if (is_free && !tracks_live(h))
			continue;
		alloc_probe_path(p, hp->p->target.pid, path, sizeof(path));
		if (!is_free && h->session) {
			fd = attach_session(h, p, path, pid, cookie);
			if (fd >= 0) {
				hp->session_fds[hp->nsession++] = fd;
				continue;
			}
			if (hp->nsession == 0) {
				/* the kernel refused sessions: classic entry + return probes from now on */
				log_debug("heap: uprobe sessions refused (%s): classic return probes", strerror(-fd));
				h->session = false;
			} else {
				snprintf(err, errlen, "cannot attach uprobe session to %s in %.300s (pid %d): %s", p->name,
					 path, (int)tgid, strerror(-fd));
				detach_proc(h, hp);
				return fd;
			}
		}
		l = bpf_program__attach_uprobe_opts(is_free ? h->skel->progs.on_free : h->skel->progs.on_alloc_enter,
						    pid, path, p->file_offset, &opts);
		if (!l)
			goto fail;
		hp->links[hp->nlinks++] = l;
		if (is_free || !tracks_live(h))
			continue;
		/* same instruction as the entry probe: both share one breakpoint; sp is unchanged */
		opts.retprobe = true;
		l = bpf_program__attach_uprobe_opts(h->skel->progs.on_alloc_return, pid, path, p->file_offset, &opts);
		if (!l)
			goto fail;
		hp->links[hp->nlinks++] = l;
		continue;
fail:
		{
			int e = errno;

			snprintf(err, errlen, "cannot attach uprobe to %s in %.300s (pid %d): %s", p->name, path, (int)tgid,
				 strerror(e));
			detach_proc(h, hp);
			return -e;
		}
	}
	hp->attached = true;
	/* its CPU time counts from its attachment, as its probes' hits do */
	hp->prev_cpu_ns = proc_cpu_ns(hp);
	return 0;
}

/* true when the kernel's BTF has bpf_session_is_return (uprobe sessions, 6.13+): asked before
 * loading, so that a kernel without it (Debian 12's 6.1) never sees a program it must reject. */
static bool kernel_has_sessions(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool found;

	if (!btf)
		return false;
	found = btf__find_by_name_kind(btf, "bpf_session_is_return", BTF_KIND_FUNC) > 0;
	btf__free(btf);
	return found;
}

static int skel_load(struct heap_source *h, bool session)
{
	struct heap_bpf *skel;
	int r;

	skel = heap_bpf__open();
	if (!skel)
		return -errno;
	skel->rodata->rate = h->cfg.rate;
	skel->rodata->track_live = tracks_live(h);
	skel->rodata->noop = h->cfg.noop;
	skel->rodata->wakeup_bytes = 2u << 20;
	heap_fill_exp_table((uint64_t *)skel->rodata->exp_table, PROFD_HEAP_EXP_N, h->cfg.rate);
	{
		uint64_t dev = 0, ino = 0;

		/* the probes then give PIDs as seen from profd's namespace (those of the set) */
		proc_self_pidns(&dev, &ino);
		skel->rodata->pidns_dev = dev;
		skel->rodata->pidns_ino = ino;
	}
	bpf_map__set_max_entries(skel->maps.live_allocs, tracks_live(h) ? h->cfg.max_live : 1);
	bpf_map__set_max_entries(skel->maps.objs, PROCSET_MAX_MAX);
	bpf_map__set_max_entries(skel->maps.events, h->cfg.ring_bytes);
	if (session)
		bpf_program__set_expected_attach_type(skel->progs.on_alloc_session,
						      (enum bpf_attach_type)ATTACH_TYPE_UPROBE_SESSION);
	else
		bpf_program__set_autoload(skel->progs.on_alloc_session, false);
	r = heap_bpf__load(skel);
	if (r) {
		heap_bpf__destroy(skel);
		return r < 0 ? r : -EINVAL;
	}
	h->skel = skel;
	h->session = session;
	return 0;
}

/* Zeroes a per-CPU counter array (after calibration, whose calls are profd's own). */
static void zero_percpu(int map_fd, uint32_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *zero;

	if (ncpu <= 0 || !(zero = calloc((size_t)ncpu, sizeof(*zero))))
		return;
	for (uint32_t k = 0; k < n; k++)
		bpf_map_update_elem(map_fd, &k, zero, BPF_ANY);
	free(zero);
}

/* Times the heap programs on profd's own calibration functions (probecost.h): the cost of one
 * entry hit where the kernel emulates the probed instruction and where it single-steps it, and
 * of one return probe. Called with calls of size 0, the programs take their cheapest path, the
 * one almost every call of the target takes (not sampled). Failure leaves conservative costs. */
static void calibrate(struct heap_source *h)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = PROFD_HEAP_MALLOC |
							 ((uint64_t)CALIB_PROBE << PROFD_HEAP_COOKIE_PROBE_SHIFT));
	pid_t self = getpid();

	for (int site = 0; site < PROBECOST__COUNT; site++) {
		struct bpf_link *entry = NULL, *ret = NULL;
		struct probecost_fn fn;
		double bare, probed;

		/* without a measurement: 2 us (emulated) and 10 us (stepped), as measured.md found */
		h->cost_entry_ns[site] = site == PROBECOST_EMULATED ? 2000 : 10000;
		if (probecost_fn((enum probecost_site)site, &fn) < 0)
			continue;
		bare = probecost_time((enum probecost_site)site, CALIB_CALLS);
		opts.retprobe = false;
		entry = bpf_program__attach_uprobe_opts(h->skel->progs.on_alloc_enter, self, fn.path, fn.file_offset,
							&opts);
		if (entry) {
			probed = probecost_time((enum probecost_site)site, CALIB_CALLS);
			h->cost_entry_ns[site] = probed > bare ? probed - bare : 1;
			if (site == PROBECOST_EMULATED) {
				opts.retprobe = true;
				ret = bpf_program__attach_uprobe_opts(h->skel->progs.on_alloc_return, self, fn.path,
								      fn.file_offset, &opts);
				if (ret) {
					double pair = probecost_time(PROBECOST_EMULATED, CALIB_CALLS);

					h->cost_ret_ns = pair > probed ? pair - probed : 1;
				}
			}
		}
		bpf_link__destroy(ret);
		bpf_link__destroy(entry);
	}
	if (!h->cost_ret_ns)
		h->cost_ret_ns = 1000;
	zero_percpu(bpf_map__fd(h->skel->maps.counters), PROFD_HEAP_CNT__COUNT);
	zero_percpu(bpf_map__fd(h->skel->maps.probe_hits), PROFD_HEAP_MAX_PROBES);
	h->calibrated = true;
	log_debug("heap: one probe hit costs %.2f us (emulated), %.2f us (single-stepped), a return probe "
		  "%.2f us on this machine", h->cost_entry_ns[PROBECOST_EMULATED] / 1e3,
		  h->cost_entry_ns[PROBECOST_STEPPED] / 1e3, h->cost_ret_ns / 1e3);
}

/* Sums a per-CPU array of n counters into out. */
static void sum_percpu(int map_fd, uint32_t n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *per;

	memset(out, 0, n * sizeof(*out));
	if (ncpu <= 0 || !(per = calloc((size_t)ncpu, sizeof(*per))))
		return;
	for (uint32_t k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(map_fd, &k, per) != 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += per[c];
	}
	free(per);
}

/* Counters of this attachment plus those that ended; caller holds h->lock. */
static void read_counters(struct heap_source *h)
{
	uint64_t vals[PROFD_HEAP_CNT__COUNT] = { 0 };

	if (h->skel)
		sum_percpu(bpf_map__fd(h->skel->maps.counters), PROFD_HEAP_CNT__COUNT, vals);
	for (int k = 0; k < PROFD_HEAP_CNT__COUNT; k++)
		vals[k] += h->base[k];
	h->st.calls = vals[PROFD_HEAP_CNT_CALLS];
	h->st.frees = vals[PROFD_HEAP_CNT_FREES];
	h->st.sampled = vals[PROFD_HEAP_CNT_SAMPLED];
	h->st.nested = vals[PROFD_HEAP_CNT_NESTED];
	h->st.dropped_ringbuf = vals[PROFD_HEAP_CNT_RB_FULL];
	h->st.dropped_free_ev = vals[PROFD_HEAP_CNT_RB_FULL_FREE];
	h->st.pending_lost = vals[PROFD_HEAP_CNT_PENDING_LOST];
	h->st.failed = vals[PROFD_HEAP_CNT_FAILED];
	h->st.no_thread = vals[PROFD_HEAP_CNT_NO_THREAD];
	h->st.stack_fail = vals[PROFD_HEAP_CNT_STACK_FAIL];
	/* counted in BPF (live_allocs full) and here (profd's live table full) */
	h->st.dropped_live_full = vals[PROFD_HEAP_CNT_LIVE_FULL] + h->user_live_full;
	h->st.live = h->live_count;
	h->st.records = h->nrecs;
}

static void hp_free(struct heap_proc *hp);

/* Attaches the probes of every live process not yet attached, and lets go of the ones that
 * ended (their probes, what they had in use). With one process (--pid) its failure is the
 * attachment's; in a set a process that cannot be probed is left out and counted. Manager
 * thread only. Returns 0 or -errno with err set. */
static int attach_procs(struct heap_source *h, char *err, size_t errlen)
{
	int r = 0, attached = 0, k = 0;
	int32_t gone[64];
	int ngone = 0;

	pthread_mutex_lock(&h->hp_lock);
	h->changed = false;
	for (int i = 0; i < h->nhp; i++) {
		struct heap_proc *hp = h->hp[i];

		if (hp->gone) {
			if (hp->attached)
				detach_proc(h, hp);
			if (ngone < 64)
				gone[ngone++] = hp->p->target.pid;
			continue;
		}
		if (!hp->attached && hp->plan && h->skel) {
			char one[512];
			int e = attach_proc(h, hp, one, sizeof(one));

			if (e < 0 && !h->multi) {
				snprintf(err, errlen, "%s", one);
				r = e;
			} else if (e < 0) {
				snprintf(hp->why, sizeof(hp->why), "%s", one);
				log_debug("heap: %s", one);
			}
		}
		attached += hp->attached;
	}
	/* ended processes go, but those whose plan others borrow (they stay until those go). Which
	 * are lent is decided over the whole list before any is freed: the compaction below
	 * leaves freed pointers behind it. */
	for (int i = 0; i < h->nhp; i++)
		h->hp[i]->lent = false;
	for (int j = 0; j < h->nhp; j++)
		if (h->hp[j]->plan_owner && h->hp[j]->plan_owner != h->hp[j])
			h->hp[j]->plan_owner->lent = true;
	for (int i = 0; i < h->nhp; i++) {
		struct heap_proc *hp = h->hp[i];

		if (hp->gone && !hp->lent)
			hp_free(hp);
		else
			h->hp[k++] = hp;
	}
	h->nhp = k;
	pthread_mutex_unlock(&h->hp_lock);
	if (ngone) {
		pthread_mutex_lock(&h->lock);
		for (int i = 0; i < ngone; i++)
			live_forget_pid(h, gone[i]);
		pthread_mutex_unlock(&h->lock);
	}
	if (!r && !attached && !h->multi)
		r = -ESRCH;
	return r;
}

/* Ends the attachment: the target stops paying at once; what was queued is read, and what was
 * tracked as live can no longer be followed (live_forget_all). Manager thread only. */
static void probes_detach(struct heap_source *h)
{
	struct ring_buffer *rb;
	struct heap_bpf *skel;

	pthread_mutex_lock(&h->hp_lock);
	for (int i = 0; i < h->nhp; i++)
		detach_proc(h, h->hp[i]);
	pthread_mutex_unlock(&h->hp_lock);
	pthread_mutex_lock(&h->lock);
	rb = h->rb;
	skel = h->skel;
	if (rb)
		ring_buffer__consume(rb);
	if (skel) {
		uint64_t vals[PROFD_HEAP_CNT__COUNT];

		sum_percpu(bpf_map__fd(skel->maps.counters), PROFD_HEAP_CNT__COUNT, vals);
		for (int k = 0; k < PROFD_HEAP_CNT__COUNT; k++)
			h->base[k] += vals[k];
	}
	live_forget_all(h);
	h->rb = NULL;
	h->skel = NULL;
	pthread_mutex_unlock(&h->lock);
	ring_buffer__free(rb);
	heap_bpf__destroy(skel);
}

/* Loads the program, calibrates once, attaches every probe. Manager thread only. Returns 0 or
 * -errno with err set; on failure nothing stays attached. */
static int probes_attach(struct heap_source *h, char *err, size_t errlen)
{
	/* Not over a set: the kernel runs every session consumer of a probed instruction on every hit,
	 * and one whose PID filter does not match still asks for the return, so with a link per
	 * process each process's every call would pay a return trap that no counter sees. Classic
	 * return probes cost the same there, and are counted. */
	bool want_session = tracks_live(h) && !h->cfg.no_session && !h->multi && kernel_has_sessions();
	struct heap_bpf *skel;
	struct ring_buffer *rb;
	int r;

	/* uprobe sessions (kernel 6.13+) skip the return probe of unsampled calls; a kernel that
	 * refuses the program gets one without it and classic uretprobes */
	r = skel_load(h, want_session);
	if (r < 0 && want_session) {
		log_debug("heap: the uprobe-session program did not load (%s): classic return probes", strerror(-r));
		r = skel_load(h, false);
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot load the heap BPF program: %s (profd needs CAP_BPF and CAP_PERFMON, "
			 "or root; --log-level debug shows the verifier's log)", strerror(-r));
		return r;
	}
	skel = h->skel;
	if (!h->calibrated)
		calibrate(h);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, h, NULL);
	if (!rb) {
		r = -errno;
		snprintf(err, errlen, "cannot set up the heap ring buffer: %s", strerror(-r));
		goto fail;
	}
	pthread_mutex_lock(&h->lock);
	h->rb = rb;
	pthread_mutex_unlock(&h->lock);
	r = attach_procs(h, err, errlen);
	if (r < 0)
		goto fail;
	h->prev_check = profd_mono_ns();
	memset(h->prev_hits, 0, sizeof(h->prev_hits));
	h->prev_returns = 0;
	return 0;
fail:
	/* h->skel is set: probes_detach undoes all of it */
	if (!h->rb)
		ring_buffer__free(rb);
	probes_detach(h);
	return r;
}

/* The CPU time the probed processes used since the last call, in ns: the sum of each one's
 * (all its threads), for those seen both times; -1 when none could be read. Manager only. */
static int64_t procs_cpu_delta(struct heap_source *h)
{
	int64_t total = -1;

	pthread_mutex_lock(&h->hp_lock);
	for (int i = 0; i < h->nhp; i++) {
		struct heap_proc *hp = h->hp[i];
		int64_t now;

		if (!hp->attached || (now = proc_cpu_ns(hp)) < 0)
			continue;
		if (hp->prev_cpu_ns >= 0 && now >= hp->prev_cpu_ns)
			total = (total < 0 ? 0 : total) + (now - hp->prev_cpu_ns);
		hp->prev_cpu_ns = now;
	}
	pthread_mutex_unlock(&h->hp_lock);
	return total;
}

/* One sentence on a pause, for the log, comments and the index. */
static void pause_sentence(const struct heap_source *h, const struct heap_pause *p, char *out, size_t len)
{
	char at[32], until[32];

	profd_format_utc(p->at, at, sizeof(at));
	profd_format_utc(p->until, until, sizeof(until));
	snprintf(out, len,
		 "heap probes paused at %s: the allocator was called %.0f times/s; at %.1f us per call that would "
		 "cost the target %.0f%% of its CPU; budget %g%% (--heap-budget); they may come back at %s%s",
		 at, p->calls_per_s, p->ns_per_call / 1e3, p->share * 100, h->cfg.budget_pct, until,
		 h->cfg.mode == HEAP_MODE_DEMAND ? ", on the next heap or allocs request" : "");
}

/* Every HEAP_BUDGET_CHECK_NS while attached: what did the probes cost the target since the last
 * check? Above the budget, pause them (the manager detaches at once). Manager thread only. */
static void budget_check(struct heap_source *h)
{
	uint64_t hits[PROFD_HEAP_MAX_PROBES], vals[PROFD_HEAP_CNT__COUNT], calls = 0;
	int64_t now = profd_mono_ns(), cpu, dt = now - h->prev_check;
	double est = 0, share;

	if (dt < HEAP_BUDGET_CHECK_NS || !h->skel)
		return;
	cpu = procs_cpu_delta(h);
	sum_percpu(bpf_map__fd(h->skel->maps.probe_hits), PROFD_HEAP_MAX_PROBES, hits);
	sum_percpu(bpf_map__fd(h->skel->maps.counters), PROFD_HEAP_CNT__COUNT, vals);
	for (int i = 0; i < h->nprobes; i++) {
		uint64_t d = hits[i] - h->prev_hits[i];

		calls += d;
		est += (double)d * h->cost_entry_ns[h->stepped[i] ? PROBECOST_STEPPED : PROBECOST_EMULATED];
		h->prev_hits[i] = hits[i];
	}
	est += (double)(vals[PROFD_HEAP_CNT_RETURNS] - h->prev_returns) * h->cost_ret_ns;
	h->prev_returns = vals[PROFD_HEAP_CNT_RETURNS];
	/* the probed processes together (a set's share of its own CPU time) */
	if (cpu <= 0)
		share = est > 0 && cpu == 0 ? 1 : 0;
	else
		share = est / (double)cpu;
	h->prev_check = now;
	h->probe_ns_total += (uint64_t)est;

	pthread_mutex_lock(&h->cost_lock);
	h->last_share = share;
	h->last_calls_per_s = (double)calls * 1e9 / (double)dt;
	if (h->cfg.budget_pct < 100 && est / (double)dt > HEAP_BUDGET_FLOOR && share * 100 > h->cfg.budget_pct) {
		struct demand_view v;
		char line[512];

		h->pause.until = demand__pause(h->demand);
		demand__view(h->demand, &v);
		h->pause.at = v.paused_at;
		h->pause.calls_per_s = h->last_calls_per_s;
		h->pause.ns_per_call = calls ? est / (double)calls : 0;
		h->pause.share = share;
		pause_sentence(h, &h->pause, line, sizeof(line));
		/* once in the log; the index and every heap profile say it each time */
		if (v.npauses == 1)
			log_warn("%s", line);
		else
			log_debug("%s (pause %d)", line, v.npauses);
	}
	pthread_mutex_unlock(&h->cost_lock);
}

/* The demand manager's calls (demand.h). */
static int heap_attach(void *ctx, char *err, size_t errlen)
{
	return probes_attach(ctx, err, errlen);
}

static void heap_detach(void *ctx)
{
	probes_detach(ctx);
}

static void heap_poll(void *ctx)
{
	struct heap_source *h = ctx;
	struct epoll_event ev;

	/* submissions below the wakeup threshold do not wake us: the timeout drains them */
	epoll_wait(ring_buffer__epoll_fd(h->rb), &ev, 1, POLL_MS);
	pthread_mutex_lock(&h->lock);
	ring_buffer__consume(h->rb);
	pthread_mutex_unlock(&h->lock);
	if (__atomic_load_n(&h->changed, __ATOMIC_ACQUIRE)) {
		char err[512];

		attach_procs(h, err, sizeof(err)); /* processes that came (and went) since */
	}
	budget_check(h);
}

static const struct demand_ops heap_demand_ops = {
	.attach = heap_attach,
	.detach = heap_detach,
	.poll = heap_poll,
};

/* A process to probe: its plan, built or borrowed from a probed process with the same layout
 * (forked workers). Caller holds hp_lock. NULL only when out of memory; a process whose
 * allocator cannot be probed gets no plan and says why (err too). */
static struct heap_proc *hp_make(struct heap_source *h, struct proc *p, char *err, size_t errlen)
{
	struct heap_proc *hp = calloc(1, sizeof(*hp));
	int r;

	if (!hp)
		return NULL;
	hp->p = proc__ref(p);
	hp->prev_cpu_ns = -1;
	hp->have_cpu_clock = clock_getcpuclockid(p->target.pid, &hp->cpu_clock) == 0;
	for (int i = 0; p->layout && i < h->nhp; i++) {
		struct heap_proc *o = h->hp[i];

		if (o->p->layout == p->layout && o->plan && !o->gone) {
			hp->plan_owner = o->plan_owner;
			hp->plan = o->plan;
			return hp;
		}
	}
	hp->plan = calloc(1, sizeof(*hp->plan));
	if (!hp->plan) {
		proc__put(hp->p);
		free(hp);
		return NULL;
	}
	r = alloc_plan_build(p->target.pid, hp->plan, err, errlen);
	if (r < 0) {
		snprintf(hp->why, sizeof(hp->why), "%s", err);
		hp->why_err = r;
		alloc_plan_release(hp->plan);
		free(hp->plan);
		hp->plan = NULL;
		h->nrefused++;
		return hp;
	}
	hp->plan_owner = hp;
	return hp;
}

static void hp_free(struct heap_proc *hp)
{
	if (!hp)
		return;
	if (hp->plan_owner == hp) {
		alloc_plan_release(hp->plan);
		free(hp->plan);
	}
	proc__put(hp->p);
	free(hp);
}

static int hp_add(struct heap_source *h, struct heap_proc *hp)
{
	if (h->nhp == h->hp_cap) {
		int cap = h->hp_cap ? h->hp_cap * 2 : 8;
		struct heap_proc **n = realloc(h->hp, (size_t)cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->hp = n;
		h->hp_cap = cap;
	}
	h->hp[h->nhp++] = hp;
	return 0;
}

/* The set's changes: the manager attaches newcomers and lets go of the ones that ended. */
static void on_proc_came(void *ctx, struct proc *p)
{
	struct heap_source *h = ctx;
	struct heap_proc *hp;
	char err[512];

	pthread_mutex_lock(&h->hp_lock);
	if (!hp_find(h, p->target.pid)) {
		hp = hp_make(h, p, err, sizeof(err));
		if (hp && hp_add(h, hp) < 0)
			hp_free(hp);
		if (hp && !hp->plan)
			log_debug("heap: process %d (%s) is left out: %s", (int)p->target.pid, p->target.comm, hp->why);
		if (hp && hp->plan) {
			/* a probe's cost by its index, whatever process hit it: the dearer kind */
			for (int i = 0; i < hp->plan->nprobes; i++)
				h->stepped[i] |= hp->plan->probes[i].stepped;
			if (hp->plan->nprobes > h->nprobes)
				h->nprobes = hp->plan->nprobes;
			if (!h->have_plan)
				alloc_plan_describe(hp->plan, h->first_plan, sizeof(h->first_plan));
			h->have_plan = true;
		}
	}
	__atomic_store_n(&h->changed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->hp_lock);
}

static void on_proc_went(void *ctx, struct proc *p)
{
	struct heap_source *h = ctx;

	pthread_mutex_lock(&h->hp_lock);
	for (int i = 0; i < h->nhp; i++)
		if (h->hp[i]->p == p)
			h->hp[i]->gone = true;
	__atomic_store_n(&h->changed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->hp_lock);
}

int heap_source__new(struct procs *ps, const struct heap_config *cfg, struct heap_source **ret, char *err,
		     size_t errlen)
{
	struct procs_listener l = { .came = on_proc_came, .went = on_proc_went };
	struct heap_source *h;
	char line[1800];
	int r;

	*ret = NULL;
	if (cfg->mode == HEAP_MODE_OFF || cfg->rate < 1 || cfg->max_live < 1 || cfg->max_stacks < 1 ||
	    cfg->ring_bytes < 4096 || cfg->ring_bytes > HEAP_MAX_RING_BYTES || (cfg->ring_bytes & (cfg->ring_bytes - 1)) ||
	    cfg->idle_ns < 1000000000 || !(cfg->budget_pct > 0) || cfg->budget_pct > 100) {
		snprintf(err, errlen, "heap profiling: invalid configuration");
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ps = ps;
	h->multi = procs__multi(ps);
	h->cfg = *cfg;
	if (cfg->snapshot_dir)
		snprintf(h->snapshot_dir, sizeof(h->snapshot_dir), "%s", cfg->snapshot_dir);
	h->cfg.snapshot_dir = NULL;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->hp_lock, NULL);
	pthread_mutex_init(&h->snap_lock, NULL);
	pthread_cond_init(&h->snap_cond, NULL);
	pthread_mutex_init(&h->cost_lock, NULL);
	h->rec_index_size = 1;
	while (h->rec_index_size < 2 * cfg->max_stacks)
		h->rec_index_size *= 2;
	h->rec_index = calloc(h->rec_index_size, sizeof(*h->rec_index));
	if (!h->rec_index) {
		r = -ENOMEM;
		goto fail;
	}
	/* the processes now (the listener's first calls), and those to come */
	l.ctx = h;
	r = procs__listen(ps, &l);
	if (r < 0)
		goto fail;
	if (!h->multi) {
		/* one process: its allocator must be probeable, and why not is the caller's to say */
		pthread_mutex_lock(&h->hp_lock);
		r = h->nhp == 1 && h->hp[0]->plan ? 0 : -ENOENT;
		if (r && h->nhp == 1) {
			snprintf(err, errlen, "%s", h->hp[0]->why);
			r = h->hp[0]->why_err;
		} else if (r) {
			snprintf(err, errlen, "the process is gone");
			r = -ESRCH;
		}
		pthread_mutex_unlock(&h->hp_lock);
		if (r)
			goto fail;
	}
	pthread_mutex_lock(&h->hp_lock);
	if (h->nhp >= 1)
		h->single = h->hp[0]->p->target.pid;
	snprintf(line, sizeof(line), "%s", h->have_plan ? h->first_plan :
		 "no process of the set has a probeable allocator yet");
	pthread_mutex_unlock(&h->hp_lock);
	snprintf(h->describe, sizeof(h->describe), "%s; mode %s, rate %llu", line, heap_mode_name(cfg->mode),
		 (unsigned long long)cfg->rate);
	snprintf(h->what, sizeof(h->what), "heap probes of %.40s", procset__describe(procs__set(ps)));
	{
		struct demand_config dc = {
			.what = h->what,
			.idle_flag = "--heap-idle",
			.always = cfg->mode != HEAP_MODE_DEMAND,
			.idle_ns = cfg->idle_ns,
			.max_windows = HEAP_MAX_WINDOWS,
		};

		/* --heap inuse|allocs: attached before this returns, a failure is the caller's */
		r = demand__new(&dc, &heap_demand_ops, h, &h->demand, err, errlen);
		if (r < 0)
			goto fail;
	}
	if (tracks_live(h) && cfg->mode != HEAP_MODE_DEMAND) {
		size_t len = strlen(h->describe);

		/* known once loaded (attached above); in demand mode the status line says it */
		snprintf(h->describe + len, sizeof(h->describe) - len, ", returns: %s",
			 h->session ? "uprobe session (sampled calls only)" : "uretprobe");
	}
	*ret = h;
	return 0;
fail:
	heap_source__free(h);
	return r;
}

void heap_source__free(struct heap_source *h)
{
	if (!h)
		return;
	procs__unlisten(h->ps, h);
	heap_source__wait_snapshot(h);
	if (h->snap_thread_started)
		pthread_join(h->snap_thread, NULL);
	demand__free(h->demand); /* detaches first */
	for (uint32_t i = 0; i < h->nrecs; i++)
		free(h->recs[i].pcs);
	free(h->recs);
	free(h->rec_index);
	free(h->live);
	for (int i = 0; i < h->nhp; i++) {
		if (h->hp[i]->plan && h->hp[i]->plan_owner != h->hp[i]) {
			hp_free(h->hp[i]); /* borrowers first: their owners' plans outlive them */
			h->hp[i] = NULL;
		}
	}
	for (int i = 0; i < h->nhp; i++)
		hp_free(h->hp[i]); /* NULL-safe: the borrowers are gone */
	free(h->hp);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->hp_lock);
	pthread_mutex_destroy(&h->snap_lock);
	pthread_cond_destroy(&h->snap_cond);
	pthread_mutex_destroy(&h->cost_lock);
	free(h);
}

const char *heap_source__describe(const struct heap_source *h)
{
	return h->describe;
}

void heap_source__stats(struct heap_source *h, struct heap_stats *ret)
{
	pthread_mutex_lock(&h->lock);
	if (h->rb)
		ring_buffer__consume(h->rb);
	read_counters(h);
	*ret = h->st;
	pthread_mutex_unlock(&h->lock);
}

/* ---- output ---- */

/* The lifecycle and the cost as they are now, for comments, text and the index. */
struct heap_view {
	struct demand_view d;
	bool session;
	struct heap_pause pause;
	double share, calls_per_s;
	uint64_t probe_ns_total;
};

static void heap_view(struct heap_source *h, struct heap_view *v)
{
	demand__view(h->demand, &v->d);
	v->session = h->session;
	pthread_mutex_lock(&h->cost_lock);
	v->pause = h->pause;
	v->share = h->last_share;
	v->calls_per_s = h->last_calls_per_s;
	v->probe_ns_total = h->probe_ns_total;
	pthread_mutex_unlock(&h->cost_lock);
}

/* The comments every heap profile carries: what the probes saw and when, what they cost, what was
 * dropped. started: this request started the tracking. Caller holds h->lock (for h->st). */
static void add_comments(struct heap_source *h, struct profd_sample_set *set, const struct heap_view *v,
			 bool started)
{
	char since[32], back[32], idle[16], line[512];

	sample_set__comment(set, "profd heap: %s%s", h->describe,
			    tracks_live(h) && h->cfg.mode == HEAP_MODE_DEMAND && v->d.tracking_since
				    ? v->session ? ", returns: uprobe session" : ", returns: uretprobe" : "");
	profd_format_utc(v->d.tracking_since, since, sizeof(since));
	profd_format_utc(v->d.attached_since, back, sizeof(back));
	profd_format_duration(h->cfg.idle_ns, idle, sizeof(idle));
	if (started)
		sample_set__comment(set, "heap tracking started at %s by this request; ask again later, or use "
				    "?seconds=N for what is allocated over the next N seconds", since);
	else if (!v->d.tracking_since)
		sample_set__comment(set, "heap tracking is not running (--heap demand): a heap or allocs request "
				    "starts it, ?seconds=N collects a window; what is shown is what was tracked "
				    "before it stopped");
	else if (h->cfg.mode == HEAP_MODE_DEMAND)
		sample_set__comment(set, "heap tracking since %s (--heap demand: it stops after %s without a "
				    "heap or allocs request, --heap-idle)", since, idle);
	else
		sample_set__comment(set, "heap probes attached since %s (--heap %s)", since, heap_mode_name(h->cfg.mode));
	if (v->d.tracking_since && v->d.attached_since > v->d.tracking_since && tracks_live(h))
		sample_set__comment(set, "inuse_* covers what was allocated since %s, when the probes came back "
				    "after a pause: frees made while they were off were not seen", back);
	if (v->d.paused) {
		pause_sentence(h, &v->pause, line, sizeof(line));
		sample_set__comment(set, "%s", line);
	} else if (v->d.npauses) {
		pause_sentence(h, &v->pause, line, sizeof(line));
		sample_set__comment(set, "the heap probes were paused %d time%s for their cost; the last: %s",
				    v->d.npauses, v->d.npauses == 1 ? "" : "s", line);
	}
	if (v->d.attached)
		sample_set__comment(set, "heap probe cost now: the allocator is called %.0f times/s, estimated at "
				    "%.2f%% of the target's CPU time (budget %g%%, --heap-budget); %.2f s of the "
				    "target's CPU in all so far", v->calls_per_s, v->share * 100, h->cfg.budget_pct,
				    (double)v->probe_ns_total / 1e9);
	sample_set__comment(set, "allocations made before profd attached its probes are not in this profile");
	if (h->cfg.mode == HEAP_MODE_ALLOCS)
		sample_set__comment(set, "--heap allocs: frees are not followed, inuse_* are not measured (0)");
	if (h->st.dropped_ringbuf || h->st.dropped_records || h->st.dropped_live_full || h->st.dropped_free_ev)
		sample_set__comment(set,
				    "dropped at bounds: %llu sampled allocations (ring buffer full), %llu (more "
				    "than %u stacks), %llu not followed to their free (live table full), %llu "
				    "free events lost",
				    (unsigned long long)h->st.dropped_ringbuf, (unsigned long long)h->st.dropped_records,
				    h->cfg.max_stacks, (unsigned long long)h->st.dropped_live_full,
				    (unsigned long long)h->st.dropped_free_ev);
	if (stack_tally__short(&h->st.stacks)) {
		stack_tally__sentence(&h->st.stacks, "sampled stacks", line, sizeof(line));
		sample_set__comment(set, "%s", line);
	}
}

static struct profd_sample_set *new_heap_set(struct heap_source *h, bool allocs)
{
	static const struct profd_value_type types[4] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	struct profd_sample_set *set = sample_set__new(4);

	if (!set)
		return NULL;
	memcpy(set->types, types, sizeof(types));
	set->period_type.type = "space";
	set->period_type.unit = "bytes";
	set->period = (int64_t)h->cfg.rate;
	set->default_sample_type = allocs ? 1 : -1;
	return set;
}

/* Whether a record is in the request's scope (?pid= over a set). */
static bool in_scope(const struct heap_source *h, const struct record *rc, pid_t scope_pid)
{
	return !h->multi || scope_pid <= 0 || rc->pid == scope_pid;
}

/* One record's sample: alloc and in-use object counts (sampled), scaled as Go scales them; over a
 * set, labelled with its process. */
static int add_record(struct heap_source *h, struct profd_sample_set *set, const struct record *rc,
		      uint64_t alloc_objs, uint64_t inuse_objs, const struct procs_names *nm)
{
	struct proc *p = h->multi ? procs_names__find(nm, rc->pid) : NULL;
	struct profd_label labs[3] = {
		{ .key = "bytes", .num = (int64_t)rc->size },
		{ .key = "pid", .num = rc->pid },
		{ .key = "process", .str = p ? (char *)p->target.comm : "?" },
	};
	int64_t v[4];

	heap_scale((int64_t)alloc_objs, (int64_t)(alloc_objs * rc->size), (int64_t)h->cfg.rate, &v[0], &v[1]);
	heap_scale((int64_t)inuse_objs, (int64_t)(inuse_objs * rc->size), (int64_t)h->cfg.rate, &v[2], &v[3]);
	return sample_set__add(set, rc->pcs, rc->nframes, v, labs, h->multi ? 3 : 1);
}

static int snapshot(struct heap_source *h, bool allocs, bool started, pid_t scope_pid,
		    struct profd_sample_set **ret)
{
	struct profd_sample_set *set;
	struct procs_names nm = { 0 };
	struct heap_view v;
	int r = 0;

	*ret = NULL;
	if (h->multi && (r = procs_names__get(h->ps, &nm)) < 0)
		return r;
	set = new_heap_set(h, allocs);
	if (!set) {
		procs_names__free(&nm);
		return -ENOMEM;
	}
	heap_view(h, &v);
	pthread_mutex_lock(&h->lock);
	if (h->rb)
		ring_buffer__consume(h->rb);
	read_counters(h);
	set->time_nanos = profd_now_nanos();
	for (uint32_t i = 0; i < h->nrecs && r == 0; i++) {
		const struct record *rc = &h->recs[i];

		/* --heap allocs: frees are not followed, nothing is known to be in use */
		if (in_scope(h, rc, scope_pid))
			r = add_record(h, set, rc, rc->alloc_objects,
				       tracks_live(h) ? rc->alloc_objects - rc->free_objects : 0, &nm);
	}
	add_comments(h, set, &v, started);
	pthread_mutex_unlock(&h->lock);
	procs_names__free(&nm);
	if (r < 0) {
		sample_set__free(set);
		return r;
	}
	*ret = set;
	return 0;
}

int heap_source__snapshot(struct heap_source *h, bool allocs, struct profd_sample_set **ret)
{
	return snapshot(h, allocs, false, 0, ret);
}

/* The window's wait: on the process's exit for one process, the whole duration over a set (its
 * members come and go). Returns target_wait's result. */
static int window_wait(struct heap_source *h, int64_t duration_ns, profd_cancel_fn cancelled, void *arg)
{
	struct proc *p = h->multi ? NULL : procs__get(h->ps, h->single);
	int r = target_wait(p ? &p->target : NULL, duration_ns, cancelled, arg);

	proc__put(p);
	return r;
}

static int collect(struct heap_source *h, bool allocs, pid_t scope_pid, int64_t duration_ns,
		   profd_cancel_fn cancelled, void *arg, struct profd_sample_set **ret)
{
	struct profd_sample_set *set = NULL;
	uint64_t *alloc0 = NULL, *live_in = NULL;
	uint32_t start_seq, start_nrecs;
	int64_t start_real, start_mono;
	struct procs_names nm = { 0 };
	struct heap_view v;
	int r, waited;

	*ret = NULL;
	r = demand__want(h->demand, true, NULL);
	if (r < 0)
		return r;
	/* the window's start: what each record had allocated, and the last allocation seen */
	pthread_mutex_lock(&h->lock);
	if (h->rb)
		ring_buffer__consume(h->rb);
	start_seq = h->seq;
	start_nrecs = h->nrecs;
	alloc0 = malloc((start_nrecs ? start_nrecs : 1) * sizeof(*alloc0));
	for (uint32_t i = 0; alloc0 && i < start_nrecs; i++)
		alloc0[i] = h->recs[i].alloc_objects;
	pthread_mutex_unlock(&h->lock);
	start_real = profd_now_nanos();
	start_mono = profd_mono_ns();
	if (!alloc0) {
		r = -ENOMEM;
		goto cleanup;
	}
	waited = window_wait(h, duration_ns, cancelled, arg);
	if (h->multi && (r = procs_names__get(h->ps, &nm)) < 0)
		goto cleanup;
	set = new_heap_set(h, allocs);
	if (!set) {
		r = -ENOMEM;
		goto cleanup;
	}
	heap_view(h, &v);
	pthread_mutex_lock(&h->lock);
	if (h->rb)
		ring_buffer__consume(h->rb);
	read_counters(h);
	live_in = calloc(h->nrecs ? h->nrecs : 1, sizeof(*live_in));
	if (!live_in) {
		pthread_mutex_unlock(&h->lock);
		r = -ENOMEM;
		goto cleanup;
	}
	/* in use at the end, of what was allocated in the window */
	for (uint32_t j = 0; j < h->live_size; j++)
		if (h->live[j].id && seq_after(h->live[j].seq, start_seq))
			live_in[h->live[j].rec]++;
	set->time_nanos = profd_now_nanos();
	set->duration_nanos = set->time_nanos - start_real;
	for (uint32_t i = 0; i < h->nrecs && r == 0; i++) {
		const struct record *rc = &h->recs[i];
		uint64_t alloc = rc->alloc_objects - (i < start_nrecs ? alloc0[i] : 0);

		if ((alloc || live_in[i]) && in_scope(h, rc, scope_pid))
			r = add_record(h, set, rc, alloc, live_in[i], &nm);
	}
	sample_set__comment(set, "a %.0f s window: alloc_* is what was allocated in it, inuse_* what of that "
			    "was still in use at its end", (double)set->duration_nanos / 1e9);
	if (waited == -ESRCH)
		sample_set__comment(set, "the target process (pid %d) exited %.1f s into the window; this is what "
				    "was collected until then", (int)h->single,
				    (double)(profd_mono_ns() - start_mono) / 1e9);
	else if (waited == -ECANCELED)
		sample_set__comment(set, "the window was ended early by its requester");
	if (v.d.paused_at > start_real)
		sample_set__comment(set, "the probes were paused for their cost during this window: what was "
				    "allocated while they were off is missing");
	add_comments(h, set, &v, false);
	pthread_mutex_unlock(&h->lock);
cleanup:
	demand__window_done(h->demand);
	procs_names__free(&nm);
	free(alloc0);
	free(live_in);
	if (r < 0) {
		sample_set__free(set);
		return r;
	}
	*ret = set;
	return 0;
}

int heap_source__collect(struct heap_source *h, bool allocs, int64_t duration_ns, profd_cancel_fn cancelled,
			 void *arg, struct profd_sample_set **ret)
{
	return collect(h, allocs, 0, duration_ns, cancelled, arg, ret);
}

/* Go sorts by in-use bytes; with --heap allocs (nothing known in use) by allocated bytes. */
static int cmp_inuse_desc(const void *a, const void *b, void *arg)
{
	const struct heap_source *h = arg;
	const struct record *x = &h->recs[*(const uint32_t *)a], *y = &h->recs[*(const uint32_t *)b];
	bool allocs = !tracks_live(h);
	uint64_t bx = (x->alloc_objects - (allocs ? 0 : x->free_objects)) * x->size;
	uint64_t by = (y->alloc_objects - (allocs ? 0 : y->free_objects)) * y->size;

	if (bx != by)
		return bx > by ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int write_text(struct heap_source *h, bool started, pid_t scope_pid, struct buf *out)
{
	struct profd_sample_set *notes = sample_set__new(1);
	struct procs_names nm = { 0 };
	uint64_t tot[4] = { 0 };
	uint32_t *order = NULL, n = 0;
	struct heap_view v;
	int r = 0;

	if (!notes)
		return -ENOMEM;
	r = procs_names__get(h->ps, &nm);
	if (r < 0) {
		sample_set__free(notes);
		return r;
	}
	heap_view(h, &v);
	pthread_mutex_lock(&h->lock);
	if (h->rb)
		ring_buffer__consume(h->rb);
	read_counters(h);
	add_comments(h, notes, &v, started);
	order = malloc((h->nrecs ? h->nrecs : 1) * sizeof(*order));
	if (!order) {
		r = -ENOMEM;
		goto cleanup;
	}
	for (uint32_t i = 0; i < h->nrecs; i++) {
		const struct record *rc = &h->recs[i];
		uint64_t live = tracks_live(h) ? rc->alloc_objects - rc->free_objects : 0;

		if (!in_scope(h, rc, scope_pid))
			continue;
		order[n++] = i;
		tot[0] += live;
		tot[1] += live * rc->size;
		tot[2] += rc->alloc_objects;
		tot[3] += rc->alloc_objects * rc->size;
	}
	qsort_r(order, n, sizeof(*order), cmp_inuse_desc, h);
	/* like newer Go: keep pprof from reading equal columns as a two-column profile */
	if (tot[1] == tot[3])
		tot[3]++;
	r = buf_printf(out, "heap profile: %llu: %llu [%llu: %llu] @ heap/%llu\n", (unsigned long long)tot[0],
		       (unsigned long long)tot[1], (unsigned long long)tot[2], (unsigned long long)tot[3],
		       (unsigned long long)(2 * h->cfg.rate));
	for (uint32_t i = 0; i < n && r >= 0; i++) {
		const struct record *rc = &h->recs[order[i]];
		uint64_t live = tracks_live(h) ? rc->alloc_objects - rc->free_objects : 0;

		r = buf_printf(out, "%llu: %llu [%llu: %llu] @", (unsigned long long)live,
			       (unsigned long long)(live * rc->size), (unsigned long long)rc->alloc_objects,
			       (unsigned long long)(rc->alloc_objects * rc->size));
		for (uint32_t f = 0; f < rc->nframes && r >= 0; f++)
			r = buf_printf(out, " %#llx", (unsigned long long)rc->pcs[f]);
		if (r >= 0)
			r = buf_putc(out, '\n');
		if (r >= 0)
			r = pprof_write_legacy_frames(rc->pcs, rc->nframes, procs_names__sym(&nm, rc->pid), out);
		if (r >= 0 && h->multi) {
			struct proc *p = procs_names__find(&nm, rc->pid);

			/* legacy parsers skip comment lines; people read which process it was */
			r = buf_printf(out, "# pid %d (%s)\n", (int)rc->pid, p ? p->target.comm : "?");
		}
		if (r >= 0)
			r = buf_putc(out, '\n');
	}
	if (r >= 0)
		r = buf_printf(out,
			       "\n# profd heap\n# %s\n# Mode = %s\n# Rate = %llu\n# TrackingSince = %lld\n"
			       "# Calls = %llu\n# Frees = %llu\n# Sampled = %llu\n# Nested = %llu\n# Live = %llu\n"
			       "# Records = %llu\n# DroppedRingbuf = %llu\n# DroppedFreeEvents = %llu\n"
			       "# DroppedLiveFull = %llu\n# DroppedRecords = %llu\n# UnwindIncomplete = %llu\n"
			       "# Pauses = %d\n# UnwindStops =",
			       h->describe, heap_mode_name(h->cfg.mode), (unsigned long long)h->cfg.rate,
			       (long long)v.d.tracking_since, (unsigned long long)h->st.calls,
			       (unsigned long long)h->st.frees, (unsigned long long)h->st.sampled,
			       (unsigned long long)h->st.nested, (unsigned long long)h->live_count,
			       (unsigned long long)h->nrecs, (unsigned long long)h->st.dropped_ringbuf,
			       (unsigned long long)h->st.dropped_free_ev, (unsigned long long)h->st.dropped_live_full,
			       (unsigned long long)h->st.dropped_records, (unsigned long long)h->st.unwind_failed,
			       v.d.npauses);
	for (int w = 0; w < UNWIND_STOP__COUNT && w < 8 && r >= 0; w++)
		r = buf_printf(out, " %s %llu", unwind_stop_name((enum unwind_stop)w),
			       (unsigned long long)h->st.unwind_stops[w]);
	if (r >= 0)
		r = buf_putc(out, '\n');
	for (int c = 0; c < notes->ncomments && r >= 0; c++)
		r = buf_printf(out, "# Note = %s\n", notes->comments[c]);
cleanup:
	pthread_mutex_unlock(&h->lock);
	procs_names__free(&nm);
	free(order);
	sample_set__free(notes);
	return r < 0 ? r : 0;
}

int heap_source__write_text(struct heap_source *h, struct buf *out)
{
	return write_text(h, false, 0, out);
}

/* ---- struct profd_profile glue ---- */

static int prof_count(void *ctx)
{
	struct heap_source *h = ctx;
	int n;

	pthread_mutex_lock(&h->lock);
	n = (int)h->nrecs;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* A request without seconds: in demand mode it starts or extends the tracking first. */
static int prof_heap_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	bool started = false;
	int r = scope && scope->held ? 0 : demand__want(((struct heap_source *)ctx)->demand, false, &started);

	return r < 0 ? r : snapshot(ctx, false, started, scope ? scope->pid : 0, ret);
}

static int prof_allocs_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	bool started = false;
	int r = scope && scope->held ? 0 : demand__want(((struct heap_source *)ctx)->demand, false, &started);

	return r < 0 ? r : snapshot(ctx, true, started, scope ? scope->pid : 0, ret);
}

static int prof_text(void *ctx, const struct profd_scope *scope, int debug, struct buf *out)
{
	bool started;
	int r = demand__want(((struct heap_source *)ctx)->demand, false, &started);

	return r < 0 ? r : write_text(ctx, started, scope ? scope->pid : 0, out);
}

static int prof_heap_collect(void *ctx, const struct profd_scope *scope, int64_t duration_ns,
			     profd_cancel_fn cancelled, void *arg, struct profd_sample_set **ret)
{
	return collect(ctx, false, scope ? scope->pid : 0, duration_ns, cancelled, arg, ret);
}

static int prof_allocs_collect(void *ctx, const struct profd_scope *scope, int64_t duration_ns,
			       profd_cancel_fn cancelled, void *arg, struct profd_sample_set **ret)
{
	return collect(ctx, true, scope ? scope->pid : 0, duration_ns, cancelled, arg, ret);
}

/* /metrics: per process, the sampled heap as the heap profile scales it (in use and allocated
 * since the probes first attached); for the source, whether the probes are attached, their cost
 * and what was dropped. Reads counters and records only. */
static int prof_metrics(void *ctx, const struct profd_scope *scope, struct metrics *m)
{
	static const char *const why[] = { "ring_buffer_full", "free_event_lost", "live_table_full", "records_full" };
	struct heap_source *h = ctx;
	struct procs_names nm = { 0 };
	struct heap_view v;
	int64_t (*sums)[4] = NULL; /* per nm index: alloc objects, alloc bytes, inuse objects, inuse bytes */
	uint64_t dropped[4];
	int r;

	if ((r = procs_names__get(h->ps, &nm)) < 0)
		return r;
	sums = calloc((size_t)nm.n + 1, sizeof(*sums));
	if (!sums) {
		procs_names__free(&nm);
		return -ENOMEM;
	}
	pthread_mutex_lock(&h->lock);
	if (h->rb)
		ring_buffer__consume(h->rb);
	read_counters(h);
	for (uint32_t i = 0; i < h->nrecs; i++) {
		const struct record *rc = &h->recs[i];
		int k = procs_names__index(&nm, h->multi ? rc->pid : h->single);
		int64_t v4[4];

		if (k < 0)
			continue;
		heap_scale((int64_t)rc->alloc_objects, (int64_t)(rc->alloc_objects * rc->size), (int64_t)h->cfg.rate,
			   &v4[0], &v4[1]);
		heap_scale((int64_t)(rc->alloc_objects - rc->free_objects),
			   (int64_t)((rc->alloc_objects - rc->free_objects) * rc->size), (int64_t)h->cfg.rate, &v4[2],
			   &v4[3]);
		for (int j = 0; j < 4; j++)
			sums[k][j] += v4[j];
	}
	dropped[0] = h->st.dropped_ringbuf;
	dropped[1] = h->st.dropped_free_ev;
	dropped[2] = h->st.dropped_live_full;
	dropped[3] = h->st.dropped_records;
	pthread_mutex_unlock(&h->lock);
	for (int k = 0; k < nm.n; k++) {
		const struct proc *p = nm.list[k];
		char pid[16];
		struct metric_label l[2] = { { "pid", pid }, { "process", p->target.comm } };

		if (scope && scope->pid > 0 && p->target.pid != scope->pid)
			continue;
		if (proc__exited(h->ps, p) && !sums[k][0])
			continue;
		snprintf(pid, sizeof(pid), "%d", (int)p->target.pid);
		metrics__add(m, "profd_heap_inuse_bytes", METRIC_GAUGE,
			     "Sampled heap in use, scaled to an estimate of all (as the heap profile's inuse_space): "
			     "what was allocated while profd's probes were attached and not yet freed.", l, 2,
			     (double)sums[k][3]);
		metrics__add(m, "profd_heap_inuse_objects", METRIC_GAUGE,
			     "Sampled heap objects in use, scaled (as the heap profile's inuse_objects).", l, 2,
			     (double)sums[k][2]);
		metrics__add(m, "profd_heap_allocated_bytes_total", METRIC_COUNTER,
			     "Bytes allocated while profd's probes were attached, scaled from samples (alloc_space).", l,
			     2, (double)sums[k][1]);
		metrics__add(m, "profd_heap_allocated_objects_total", METRIC_COUNTER,
			     "Objects allocated while profd's probes were attached, scaled from samples "
			     "(alloc_objects).", l, 2, (double)sums[k][0]);
	}
	procs_names__free(&nm);
	free(sums);
	heap_view(h, &v);
	metrics__add(m, "profd_heap_probes_attached", METRIC_GAUGE,
		     "1 while the heap probes are attached to the allocator, 0 otherwise (--heap demand attaches "
		     "them only while requests ask).", NULL, 0, v.d.attached ? 1 : 0);
	metrics__add(m, "profd_heap_allocator_calls_per_second", METRIC_GAUGE,
		     "Allocator calls per second the probes saw at the last cost check (0 when detached).", NULL, 0,
		     v.d.attached ? v.calls_per_s : 0);
	metrics__add(m, "profd_heap_probe_cost_ratio", METRIC_GAUGE,
		     "Estimated share of the target's CPU time the heap probes cost, at the last check (0..1).",
		     NULL, 0, v.d.attached ? v.share : 0);
	metrics__add(m, "profd_heap_probe_cost_seconds_total", METRIC_COUNTER,
		     "Estimated CPU time the heap probes have cost the target so far.", NULL, 0,
		     (double)v.probe_ns_total / 1e9);
	metrics__add(m, "profd_heap_probe_pauses_total", METRIC_COUNTER,
		     "Times the heap probes were detached for exceeding --heap-budget.", NULL, 0, v.d.npauses);
	for (int i = 0; i < 4; i++) {
		struct metric_label l = { "reason", why[i] };

		metrics__add(m, "profd_heap_dropped_events_total", METRIC_COUNTER,
			     "Heap events lost at profd's bounds, by reason (ring buffer full, free event lost, live "
			     "table full, --max-stacks records full).", &l, 1, (double)dropped[i]);
	}
	return 0;
}

/* One line for the index: the allocator and probes, then whether they are attached and why. */
static int prof_status(void *ctx, struct buf *out)
{
	struct heap_source *h = ctx;
	struct heap_view v;
	char since[32], line[512];

	heap_view(h, &v);
	profd_format_utc(v.d.tracking_since, since, sizeof(since));
	buf_printf(out, "%s. ", h->describe);
	if (v.d.paused) {
		pause_sentence(h, &v.pause, line, sizeof(line));
		return buf_printf(out, "%s.", line);
	}
	if (!v.d.tracking_since)
		buf_puts(out, "No probe attached (--heap demand): the first heap or allocs request attaches them.");
	else if (v.d.attached)
		buf_printf(out, "Probes attached since %s; the allocator is called %.0f times/s, estimated at %.2f%% "
			   "of the target's CPU time (budget %g%%).", since, v.calls_per_s, v.share * 100,
			   h->cfg.budget_pct);
	if (v.d.npauses)
		buf_printf(out, " Paused %d time%s for their cost so far.", v.d.npauses, v.d.npauses == 1 ? "" : "s");
	if (h->multi) {
		int live = 0, probed = 0, refused = 0;
		char why[512] = "";

		pthread_mutex_lock(&h->hp_lock);
		for (int i = 0; i < h->nhp; i++) {
			const struct heap_proc *hp = h->hp[i];

			if (hp->gone)
				continue;
			live++;
			probed += hp->attached;
			if (!hp->plan && refused++ == 0)
				snprintf(why, sizeof(why), "%s", hp->why);
		}
		pthread_mutex_unlock(&h->hp_lock);
		buf_printf(out, " %d of the set's %d running processes probed", probed, live);
		if (refused)
			buf_printf(out, "; %d cannot be (%s)", refused, why);
		buf_puts(out, ".");
	}
	return 0;
}

void heap_source__profiles(struct heap_source *h, struct profd_profile *ret_heap, struct profd_profile *ret_allocs)
{
	memset(ret_heap, 0, sizeof(*ret_heap));
	ret_heap->name = "heap";
	ret_heap->description = "A sampling of memory allocations of live objects (native allocator, while profd's "
				"probes are attached).";
	ret_heap->ctx = h;
	ret_heap->count = prof_count;
	ret_heap->snapshot = prof_heap_snapshot;
	ret_heap->write_text = prof_text;
	ret_heap->status = prof_status;
	ret_heap->collect = prof_heap_collect;
	ret_heap->metrics = prof_metrics;
	*ret_allocs = *ret_heap;
	ret_allocs->metrics = NULL;
	ret_allocs->name = "allocs";
	ret_allocs->description = "A sampling of all past memory allocations while profd's probes are attached.";
	ret_allocs->snapshot = prof_allocs_snapshot;
	ret_allocs->collect = prof_allocs_collect;
	ret_allocs->status = NULL;
}

/* ---- files: SIGUSR2 snapshots and the one-shot command ---- */

static int write_all(int fd, const struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t w = write(fd, b->data + off, b->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (size_t)w;
	}
	return 0;
}

/* Writes the profile to path through path.tmp + rename (readers never see half a file), or to
 * stdout for "-". */
static int write_profile_file(struct heap_source *h, bool allocs, const char *path)
{
	struct profd_sample_set *set = NULL;
	struct procs_names nm = { 0 };
	struct buf b = { 0 };
	int r;

	r = heap_source__snapshot(h, allocs, &set);
	if (r < 0)
		goto cleanup;
	r = procs_names__get(h->ps, &nm);
	if (r < 0)
		goto cleanup;
	{
		struct pprof_symbols syms = { .get = procs_names_symbolizer, .ctx = &nm };

		r = pprof_encode_procs(set, &syms, &b);
	}
	if (r < 0)
		goto cleanup;
	if (strcmp(path, "-") == 0) /* the one-shot command's -o - */
		r = write_all(STDOUT_FILENO, &b);
	else
		r = file_write_atomic(path, b.data, b.len);
cleanup:
	procs_names__free(&nm);
	buf_free(&b);
	sample_set__free(set);
	return r;
}

/* Removes the oldest kept snapshots (their names sort by time) beyond h->snap_keep. */
static void prune_snapshots(struct heap_source *h)
{
	int r = files_prune(h->snapshot_dir, h->snap_prefix, ".pb.gz", h->snap_keep);

	if (r < 0)
		log_debug("heap: cannot remove the old snapshots %s/%s*: %s", h->snapshot_dir, h->snap_prefix,
			  strerror(-r));
}

static void *snapshot_main(void *arg)
{
	struct heap_source *h = arg;
	int r = write_profile_file(h, false, h->snap_path);

	if (r == 0 && h->snap_keep > 0)
		prune_snapshots(h);

	pthread_mutex_lock(&h->snap_lock);
	h->snap_result = r;
	h->snap_busy = false;
	pthread_cond_broadcast(&h->snap_cond);
	pthread_mutex_unlock(&h->snap_lock);
	return NULL;
}

static int request_snapshot(struct heap_source *h, int keep, char *ret_path, size_t len);

int heap_source__request_snapshot(struct heap_source *h, char *ret_path, size_t len)
{
	return request_snapshot(h, 0, ret_path, len);
}

int heap_source__request_kept_snapshot(struct heap_source *h, int keep, char *ret_path, size_t len)
{
	return keep > 0 ? request_snapshot(h, keep, ret_path, len) : -EINVAL;
}

static int request_snapshot(struct heap_source *h, int keep, char *ret_path, size_t len)
{
	int r;

	if (!h->snapshot_dir[0])
		return -ENOTDIR;
	pthread_mutex_lock(&h->snap_lock);
	if (h->snap_busy) {
		pthread_mutex_unlock(&h->snap_lock);
		return -EBUSY;
	}
	if (h->snap_thread_started) {
		pthread_join(h->snap_thread, NULL);
		h->snap_thread_started = false;
	}
	h->snap_keep = keep;
	/* over a set: after profd's own PID (its members come and go) */
	if (keep > 0) {
		int64_t now = profd_now_nanos();
		time_t secs = (time_t)(now / 1000000000);
		struct tm tm;
		char when[16];

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
		snprintf(h->snap_prefix, sizeof(h->snap_prefix), "profd-heap-%s%d-", h->multi ? "set-" : "",
			 h->multi ? (int)getpid() : (int)h->single);
		snprintf(h->snap_path, sizeof(h->snap_path), "%s/%s%s.%03dZ.pb.gz", h->snapshot_dir, h->snap_prefix,
			 when, (int)(now / 1000000 % 1000));
	} else if (h->multi)
		snprintf(h->snap_path, sizeof(h->snap_path), "%s/profd-heap-set-%d.pb.gz", h->snapshot_dir,
			 (int)getpid());
	else
		snprintf(h->snap_path, sizeof(h->snap_path), "%s/profd-heap-%d.pb.gz", h->snapshot_dir,
			 (int)h->single);
	h->snap_busy = true;
	r = pthread_create(&h->snap_thread, NULL, snapshot_main, h);
	if (r) {
		h->snap_busy = false;
		pthread_mutex_unlock(&h->snap_lock);
		return -r;
	}
	h->snap_thread_started = true;
	snprintf(ret_path, len, "%s", h->snap_path);
	pthread_mutex_unlock(&h->snap_lock);
	return 0;
}

int heap_source__wait_snapshot(struct heap_source *h)
{
	int r;

	pthread_mutex_lock(&h->snap_lock);
	while (h->snap_busy)
		pthread_cond_wait(&h->snap_cond, &h->snap_lock);
	r = h->snap_result;
	pthread_mutex_unlock(&h->snap_lock);
	return r;
}

static bool oneshot_stopped(void *arg)
{
	return *(volatile sig_atomic_t *)arg != 0;
}

int heap_oneshot(struct procs *ps, int seconds, const struct heap_config *cfg, const char *out_path,
		 volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	const char *who = procset__describe(procs__set(ps));
	struct heap_config c = *cfg;
	struct heap_source *h = NULL;
	int r;

	if (seconds <= 0) {
		snprintf(err, errlen, "--seconds must be a positive number of seconds (got %d)", seconds);
		return -EINVAL;
	}
	/* the command asks for these seconds: attached from the start, whatever --heap says */
	if (c.mode == HEAP_MODE_DEMAND)
		c.mode = HEAP_MODE_INUSE;
	r = heap_source__new(ps, &c, &h, err, errlen);
	if (r < 0)
		return r;
	if (procs__multi(ps) && (r = procs__start(ps)) < 0) {
		snprintf(err, errlen, "cannot follow %s: %s", who, strerror(-r));
		goto cleanup;
	}
	window_wait(h, (int64_t)seconds * 1000000000, stop ? oneshot_stopped : NULL, (void *)stop);
	r = write_profile_file(h, c.mode == HEAP_MODE_ALLOCS, out_path);
	if (r < 0)
		snprintf(err, errlen, "cannot write the heap profile to '%s': %s", out_path, strerror(-r));
cleanup:
	heap_source__free(h);
	return r;
}
