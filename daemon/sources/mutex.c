// SPDX-License-Identifier: MIT
/* Mutex profile source (see mutex.h): owns bpf/mutex.bpf.c, its ring buffer and the cumulative
 * sample set. Threads: the demand manager (demand.h) alone attaches, detaches and polls (drains
 * the ring buffer, unwinds); requests renew the lease or open windows and read the set. `lock`
 * guards the skeleton, the ring buffer, the set, the wake table and the counters.
 *
 * The BPF program sends two kinds of record: a sampled contended wake (the waker's stack, under
 * an id) and charges against an id (waiting it caused, and the waits it ended). A wake's stack
 * is unwound at once into the set with zero values, and the wake table remembers where it went;
 * its charges, which always come after it in the ring, add to that sample. */
#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mutex.skel.h"
#include "base/clock.h"
#include "base/log.h"
#include "bpf/mutex.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/cumwindow.h"
#include "sources/demand.h"
#include "sources/heap.h"
#include "sources/mutex.h"
#include "sources/probeframes.h"
#include "stacks/unwind.h"

#define POLL_MS 100
#define PROC_PID_INIT_INO 0xEFFFFFFCu
#define NLINKS 5

struct wake_slot {
	uint64_t id;  /* 0: empty */
	int64_t at;   /* the sample's index in cum, -1: it could not be kept */
};

struct mutex_source {
	struct procs *ps;
	bool multi;
	pid_t single; /* --pid: its process (whose exit ends a window) */
	struct mutex_config cfg;
	struct demand *demand;
	char what[96];        /* the demand manager's name for it, in the log */

	pthread_mutex_t lock; /* everything below */
	struct mutex_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[NLINKS];
	bool waitv;           /* futex_waitv's tracepoints exist and are attached */
	int stats_fd;         /* bpf_enable_stats(): BPF run time is counted while >= 0 */
	struct profd_sample_set *cum; /* raw values: contentions, delay ns; since the tracking began */
	int64_t cum_since;    /* CLOCK_REALTIME of the tracking the set counts from */
	struct cumwindow cw;  /* its requests (cumwindow.h) */
	struct wake_slot wakes_seen[MUTEX_WAKE_TABLE];
	/* counters of earlier attachments (the BPF ones are added from .bss while attached) */
	uint64_t waits, wait_ns, other_waits, wakes, sampled, charged_ns, uncharged_ns, lost, no_slot;
	uint64_t records, dropped, partial, unmatched, unmatched_ns;
	uint64_t prog_ns, prog_runs;
	int64_t attached_mono;
	int64_t attached_total_ns;
	bool said_no_stats;
};

/* ---- pure logic ---- */

void mutex_config_default(struct mutex_config *cfg)
{
	cfg->rate = MUTEX_DEFAULT_RATE;
	cfg->idle_ns = MUTEX_DEFAULT_IDLE_NS;
	cfg->max_stacks = MUTEX_DEFAULT_MAX_STACKS;
}

int mutex_rate_parse(const char *s, uint32_t *ret, char *err, size_t errlen)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < 1 || v > PROFD_MUTEX_MAX_RATE)
		goto bad;
	*ret = (uint32_t)v;
	return 0;
bad:
	snprintf(err, errlen, "--mutex-rate: expected a whole number from 1 to %u, as Go's "
		 "runtime.SetMutexProfileFraction (on average one contended unlock in N is recorded; 1: every "
		 "one), got '%s'", PROFD_MUTEX_MAX_RATE, s ? s : "");
	return -EINVAL;
}

int mutex_idle_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen)
{
	if (heap_idle_parse(s, ret_ns, err, errlen) == 0)
		return 0;
	snprintf(err, errlen, "--mutex-idle: expected a duration from 1s to 168h, a whole number with a unit "
		 "s, m or h (e.g. 90s, 10m, 1h), got '%s'", s ? s : "");
	return -EINVAL;
}

int mutex_classify(uint32_t op, uint32_t val)
{
	return profd_mutex_classify(op, val);
}

/* ---- the ring buffer ---- */

static struct profd_sample_set *new_cum(const struct mutex_source *m)
{
	struct profd_sample_set *set = sample_set__new(2);

	if (set)
		set->max_samples = m->cfg.max_stacks;
	return set;
}

static void on_wake(struct mutex_source *m, const struct profd_mutex_wake *e, size_t size)
{
	const size_t hdr = offsetof(struct profd_mutex_wake, stack);
	struct wake_slot *slot = &m->wakes_seen[e->id & (MUTEX_WAKE_TABLE - 1)];
	uint64_t pcs[PROFD_MAX_FRAMES];
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct unwind_regs regs;
	struct unwind_stack stack = { 0 };
	struct probe_fix fix;
	char comm[PROFD_MUTEX_COMM_LEN + 1];
	struct proc *p = procs__get(m->ps, (pid_t)e->tgid);
	int n = 0;

	memcpy(regs.r, e->regs, sizeof(regs.r));
	stack.start = e->regs[UNWIND_REG_RSP];
	stack.data = e->stack;
	stack.len = e->stack_len < size - hdr ? e->stack_len : size - hdr;
	if (!(e->flags & PROFD_MUTEX_F_NO_STACK))
		probe_fix_sample(&e->up, &regs, &stack, &fix);
	else
		memset(&fix, 0, sizeof(fix));
	if (p && p->uw) {
		n = unwinder__unwind(p->uw, &regs, &stack, pcs, PROFD_MAX_FRAMES, &why);
		if (n < 0)
			n = 0;
	}
	if (n == 0 && regs.r[UNWIND_REG_RIP]) {
		pcs[0] = sample_pc_exact(regs.r[UNWIND_REG_RIP]);
		n = 1;
	}
	if (fix.leaf_is_return && n > 0)
		pcs[0] = regs.r[UNWIND_REG_RIP];
	memcpy(comm, e->comm, PROFD_MUTEX_COMM_LEN);
	comm[PROFD_MUTEX_COMM_LEN] = '\0';
	slot->id = e->id;
	slot->at = -1;
	{
		struct profd_label labels[2] = {
			{ .key = "pid", .num = (int64_t)e->tgid },
			{ .key = "process", .str = p ? (char *)p->target.comm : comm },
		};
		int64_t zero[2] = { 0, 0 };

		if (n > 0)
			slot->at = sample_set__add_at(m->cum, pcs, (uint32_t)n, zero, labels, m->multi ? 2 : 0);
	}
	m->records++;
	if (slot->at < 0) {
		slot->at = -1;
		m->dropped++;
	}
	if (why != UNWIND_STOP_ROOT)
		m->partial++;
	proc__put(p);
}

static void on_charge(struct mutex_source *m, const struct profd_mutex_charge *c)
{
	const struct wake_slot *slot = &m->wakes_seen[c->id & (MUTEX_WAKE_TABLE - 1)];

	if (slot->id != c->id || slot->at < 0 || (size_t)slot->at >= m->cum->nsamples) {
		m->unmatched++;
		m->unmatched_ns += c->delay_ns;
		return;
	}
	m->cum->samples[slot->at].values[0] += c->count;
	m->cum->samples[slot->at].values[1] += (int64_t)c->delay_ns;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct mutex_source *m = ctx;
	__u32 type;

	if (size < sizeof(type) || !m->cum)
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type == PROFD_MUTEX_EV_WAKE && size >= offsetof(struct profd_mutex_wake, stack))
		on_wake(m, data, size);
	else if (type == PROFD_MUTEX_EV_CHARGE && size >= sizeof(struct profd_mutex_charge))
		on_charge(m, data);
	return 0;
}

/* ---- attachment (the demand manager's thread) ---- */

static void on_proc_came(void *ctx, struct proc *p)
{
	struct mutex_source *m = ctx;
	__u32 tgid = (__u32)p->target.pid;
	__u8 one = 1;

	pthread_mutex_lock(&m->lock);
	if (m->skel)
		bpf_map_update_elem(bpf_map__fd(m->skel->maps.tgids), &tgid, &one, BPF_ANY);
	pthread_mutex_unlock(&m->lock);
}

static void on_proc_went(void *ctx, struct proc *p)
{
	struct mutex_source *m = ctx;
	__u32 tgid = (__u32)p->target.pid;

	pthread_mutex_lock(&m->lock);
	if (m->skel)
		bpf_map_delete_elem(bpf_map__fd(m->skel->maps.tgids), &tgid);
	pthread_mutex_unlock(&m->lock);
}

/* BPF run time and runs of the attached programs so far. Caller holds lock. */
static void prog_cost(const struct mutex_source *m, uint64_t *ns, uint64_t *runs)
{
	struct bpf_program *progs[4] = { m->skel->progs.on_futex_enter, m->skel->progs.on_futex_exit,
					 m->skel->progs.on_futex_waitv_enter, m->skel->progs.on_futex_waitv_exit };

	*ns = 0;
	*runs = 0;
	for (int i = 0; i < (m->waitv ? 4 : 2); i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len) == 0) {
			*ns += info.run_time_ns;
			*runs += info.run_cnt;
		}
	}
}

/* The BPF counters of this attachment. Caller holds lock, skel loaded. */
#define BSS(m, f) ((m)->skel ? (m)->skel->bss->f : 0)

static void fold_counters(struct mutex_source *m)
{
	uint64_t ns, runs;

	m->waits += BSS(m, waits);
	m->wait_ns += BSS(m, wait_ns);
	m->other_waits += BSS(m, other_waits);
	m->wakes += BSS(m, wakes);
	m->sampled += BSS(m, sampled);
	m->charged_ns += BSS(m, charged_ns);
	m->uncharged_ns += BSS(m, uncharged_ns);
	m->lost += BSS(m, lost);
	m->no_slot += BSS(m, no_slot);
	prog_cost(m, &ns, &runs);
	m->prog_ns += ns;
	m->prog_runs += runs;
	m->attached_total_ns += profd_mono_ns() - m->attached_mono;
}

static void teardown(struct mutex_source *m)
{
	for (int i = 0; i < NLINKS; i++) {
		bpf_link__destroy(m->links[i]);
		m->links[i] = NULL;
	}
	ring_buffer__free(m->rb);
	m->rb = NULL;
	mutex_bpf__destroy(m->skel);
	m->skel = NULL;
	if (m->stats_fd >= 0)
		close(m->stats_fd);
	m->stats_fd = -1;
}

static int fill_tgids(struct mutex_source *m)
{
	struct proc **list = NULL;
	int n = procs__list(m->ps, &list), fd = bpf_map__fd(m->skel->maps.tgids);
	__u8 one = 1;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		__u32 tgid = (__u32)list[i]->target.pid;

		if (!proc__exited(m->ps, list[i]))
			bpf_map_update_elem(fd, &tgid, &one, BPF_ANY);
	}
	procs__list_free(list, n);
	return 0;
}

/* futex_waitv(2) (Linux 5.16) has syscall tracepoints of its own; older kernels have none. */
static bool have_waitv_tracepoint(void)
{
	return access("/sys/kernel/tracing/events/syscalls/sys_enter_futex_waitv", F_OK) == 0 ||
	       access("/sys/kernel/debug/tracing/events/syscalls/sys_enter_futex_waitv", F_OK) == 0;
}

static int mutex_attach(void *ctx, char *err, size_t errlen)
{
	struct mutex_source *m = ctx;
	struct bpf_program *progs[NLINKS];
	struct demand_view v;
	struct stat st;
	const char *step = "open";
	int r, np = 0;

	pthread_mutex_lock(&m->lock);
	m->skel = mutex_bpf__open();
	if (!m->skel) {
		r = -errno;
		goto fail;
	}
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != PROC_PID_INIT_INO) {
		m->skel->rodata->pidns_dev = (__u64)st.st_dev;
		m->skel->rodata->pidns_ino = (__u64)st.st_ino;
	}
	m->skel->rodata->follow_forks = m->multi && !m->skel->rodata->pidns_ino;
	m->skel->rodata->rate = m->cfg.rate;
	m->skel->rodata->stack_bytes = MUTEX_STACK_BYTES;
	m->skel->rodata->wakeup_bytes = MUTEX_RING_BYTES / 4;
	m->waitv = have_waitv_tracepoint();
	if (!m->multi)
		bpf_program__set_autoload(m->skel->progs.on_fork, false);
	if (!m->waitv) {
		bpf_program__set_autoload(m->skel->progs.on_futex_waitv_enter, false);
		bpf_program__set_autoload(m->skel->progs.on_futex_waitv_exit, false);
	}
	r = bpf_map__set_max_entries(m->skel->maps.events, MUTEX_RING_BYTES);
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.tgids, PROFD_MUTEX_MAX_PROCS);
	if (r)
		goto fail;
	step = "load";
	r = mutex_bpf__load(m->skel);
	if (r)
		goto fail;
	r = fill_tgids(m);
	if (r)
		goto fail;
	step = "attach";
	progs[np++] = m->skel->progs.on_futex_exit; /* exits first: no wait begins unseen by them */
	progs[np++] = m->skel->progs.on_futex_enter;
	if (m->waitv) {
		progs[np++] = m->skel->progs.on_futex_waitv_exit;
		progs[np++] = m->skel->progs.on_futex_waitv_enter;
	}
	if (m->multi)
		progs[np++] = m->skel->progs.on_fork; /* else the set's scan follows */
	for (int i = 0; i < np; i++) {
		m->links[i] = bpf_program__attach(progs[i]);
		if (!m->links[i]) {
			r = -errno;
			goto fail;
		}
	}
	m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.events), on_event, m, NULL);
	if (!m->rb) {
		r = -errno;
		goto fail;
	}
	m->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (m->stats_fd < 0 && !m->said_no_stats) {
		m->said_no_stats = true;
		log_debug("mutex: BPF run time statistics unavailable (%s): its cost is not measured", strerror(errno));
	}
	m->attached_mono = profd_mono_ns();
	/* ids restart with each load */
	memset(m->wakes_seen, 0, sizeof(m->wakes_seen));
	demand__view(m->demand, &v);
	if (!m->cum || !v.tracking_since) {
		sample_set__free(m->cum);
		m->cum = new_cum(m);
		m->cum_since = profd_now_nanos();
		m->waits = m->wait_ns = m->other_waits = m->wakes = m->sampled = m->charged_ns = 0;
		m->uncharged_ns = m->lost = m->no_slot = m->records = m->dropped = m->partial = 0;
		m->unmatched = m->unmatched_ns = m->prog_ns = m->prog_runs = 0;
		m->attached_total_ns = 0;
		if (!m->cum) {
			r = -ENOMEM;
			goto fail;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return 0;

fail:
	teardown(m);
	pthread_mutex_unlock(&m->lock);
	snprintf(err, errlen, "cannot %s the mutex profile's BPF programs (tracepoints syscalls:sys_enter_futex, "
		 "sys_exit_futex): %s%s", step, strerror(-r),
		 r == -EPERM || r == -EACCES ? " (profd needs CAP_BPF and CAP_PERFMON, or root)"
		 : r == -ENOENT ? " (the syscall tracepoints need the kernel's CONFIG_FTRACE_SYSCALLS and tracefs "
				  "mounted at /sys/kernel/tracing)" : "");
	return r;
}

static void mutex_detach(void *ctx)
{
	struct mutex_source *m = ctx;

	pthread_mutex_lock(&m->lock);
	if (m->skel) {
		/* what is queued still counts */
		for (int i = 0; i < NLINKS; i++) {
			bpf_link__destroy(m->links[i]);
			m->links[i] = NULL;
		}
		if (m->rb)
			ring_buffer__consume(m->rb);
		fold_counters(m);
	}
	teardown(m);
	pthread_mutex_unlock(&m->lock);
}

static void mutex_poll(void *ctx)
{
	struct mutex_source *m = ctx;
	struct epoll_event ev;
	int fd = -1;

	pthread_mutex_lock(&m->lock);
	if (m->rb)
		fd = ring_buffer__epoll_fd(m->rb);
	pthread_mutex_unlock(&m->lock);
	/* only the manager detaches: rb lives across this wait */
	if (fd >= 0)
		epoll_wait(fd, &ev, 1, POLL_MS);
	pthread_mutex_lock(&m->lock);
	if (m->rb)
		ring_buffer__consume(m->rb);
	pthread_mutex_unlock(&m->lock);
}

static const struct demand_ops mutex_demand_ops = {
	.attach = mutex_attach,
	.detach = mutex_detach,
	.poll = mutex_poll,
};

/* the profile's values and comments, for its requests (cumwindow.h) */
static void mutex_values(void *ctx, const int64_t *in, int64_t *out);
static void add_comments(void *ctx, struct profd_sample_set *set, bool started);

int mutex_source__new(struct procs *ps, const struct mutex_config *cfg, struct mutex_source **ret, char *err,
		      size_t errlen)
{
	struct procs_listener l = { .came = on_proc_came, .went = on_proc_went };
	struct mutex_source *m;
	int r;

	*ret = NULL;
	if (!cfg->rate || cfg->rate > PROFD_MUTEX_MAX_RATE) {
		snprintf(err, errlen, "--mutex-rate must be from 1 to %u", PROFD_MUTEX_MAX_RATE);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->ps = ps;
	m->multi = procs__multi(ps);
	m->cfg = *cfg;
	m->stats_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	if (!m->multi) {
		struct proc **list = NULL;
		int n = procs__list(ps, &list);

		m->single = n > 0 ? list[0]->target.pid : 0;
		procs__list_free(list, n > 0 ? n : 0);
	}
	m->cum = new_cum(m);
	m->cw = (struct cumwindow){ m, &m->lock, &m->demand, &m->rb, &m->cum, &m->cum_since, ps,
					   m->single, "the contention charged in it", mutex_values, add_comments };
	l.ctx = m;
	if (!m->cum || procs__listen(ps, &l) < 0) {
		mutex_source__free(m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (m->multi)
		snprintf(m->what, sizeof(m->what), "mutex profiling of %s", procset__describe(procs__set(ps)));
	else
		snprintf(m->what, sizeof(m->what), "mutex profiling of process %d", (int)m->single);
	{
		struct demand_config dc = {
			.what = m->what,
			.idle_flag = "--mutex-idle",
			.idle_ns = cfg->idle_ns,
			.max_windows = MUTEX_MAX_WINDOWS,
		};

		r = demand__new(&dc, &mutex_demand_ops, m, &m->demand, err, errlen);
	}
	if (r < 0) {
		mutex_source__free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void mutex_source__free(struct mutex_source *m)
{
	if (!m)
		return;
	procs__unlisten(m->ps, m);
	demand__free(m->demand); /* detaches first */
	pthread_mutex_lock(&m->lock);
	teardown(m);
	pthread_mutex_unlock(&m->lock);
	sample_set__free(m->cum);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- output ---- */

static void format_time(int64_t realtime_ns, char *out, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Go's mutex profile from raw values: both scaled by the rate (runtime/pprof scaleMutexProfile;
 * cumwindow_values_fn). */
static void mutex_values(void *ctx, const int64_t *in, int64_t *out)
{
	const struct mutex_source *m = ctx;

	out[0] = in[0] * (int64_t)m->cfg.rate;
	out[1] = in[1] * (int64_t)m->cfg.rate;
}

/* The comments every mutex profile carries. Caller holds lock. */
static void add_comments(void *ctx, struct profd_sample_set *set, bool started)
{
	struct mutex_source *m = ctx;
	uint64_t waits = m->waits + BSS(m, waits), wait_ns = m->wait_ns + BSS(m, wait_ns);
	uint64_t other = m->other_waits + BSS(m, other_waits), wakes = m->wakes + BSS(m, wakes);
	uint64_t sampled = m->sampled + BSS(m, sampled), lost = m->lost + BSS(m, lost);
	uint64_t uncharged = m->uncharged_ns + BSS(m, uncharged_ns), no_slot = m->no_slot + BSS(m, no_slot);
	uint64_t ns = m->prog_ns, runs = m->prog_runs;
	int64_t attached_ns = m->attached_total_ns;
	struct demand_view v;
	char since[32], idle[32];

	demand__view(m->demand, &v);
	if (m->skel) {
		uint64_t n2, r2;

		prog_cost(m, &n2, &r2);
		ns += n2;
		runs += r2;
		attached_ns += profd_mono_ns() - m->attached_mono;
	}
	sample_set__comment(set, "profd mutex: lock contention of the target's threads, from the futex syscall "
			    "tracepoints (eBPF): the time waiters spent waiting for a lock (mutex, rwlock, "
			    "std::mutex: a futex wait on a held lock word), charged to the stack of the thread "
			    "that released it; sampled as Go's runtime.SetMutexProfileFraction(%u) (--mutex-rate): "
			    "one contended unlock in %u on average is kept and its values scaled by %u",
			    m->cfg.rate, m->cfg.rate, m->cfg.rate);
	format_time(v.tracking_since ? v.tracking_since : m->cum_since, since, sizeof(since));
	snprintf(idle, sizeof(idle), "%llds", (long long)(m->cfg.idle_ns / 1000000000));
	if (started)
		sample_set__comment(set, "mutex tracking started at %s by this request; ask again later, or use "
				    "?seconds=N for the contention of the next N seconds", since);
	else if (v.tracking_since)
		sample_set__comment(set, "mutex tracking since %s (it stops after %s without a mutex request, "
				    "--mutex-idle)", since, idle);
	else
		sample_set__comment(set, "mutex tracking is not running: a mutex request starts it; what is shown "
				    "is what was tracked before it stopped%s", m->cum_since ? "" : " (nothing)");
	if (m->stats_fd >= 0 || ns)
		sample_set__comment(set, "mutex cost: its BPF programs ran %" PRIu64 " times (every futex call on "
				    "the machine while attached) for %.0f ns each on average, %.3f%% of one CPU over "
				    "%.1f s attached; the target's threads waited for locks %" PRIu64 " times (%.3f s), "
				    "%" PRIu64 " contended unlocks, %" PRIu64 " kept",
				    runs, runs ? (double)ns / (double)runs : 0.0,
				    attached_ns > 0 ? 100.0 * (double)ns / (double)attached_ns : 0.0,
				    (double)attached_ns / 1e9, waits, (double)wait_ns / 1e9, wakes, sampled);
	else
		sample_set__comment(set, "mutex: the target's threads waited for locks %" PRIu64 " times (%.3f s), "
				    "%" PRIu64 " contended unlocks, %" PRIu64 " kept; the BPF programs' run time is not "
				    "measured here (bpf_enable_stats)", waits, (double)wait_ns / 1e9, wakes, sampled);
	sample_set__comment(set, "%" PRIu64 " futex waits of the target were not lock waits (condition variables, "
			    "semaphores, joins: see the block profile, wait=futex)", other);
	sample_set__comment(set, "waits that began before profd attached are not in this profile; waiting that no "
			    "unlock ended (timeouts, signals) is not charged: %.3f s", (double)uncharged / 1e9);
	if (lost || m->dropped || no_slot || m->unmatched)
		sample_set__comment(set, "dropped at bounds: %" PRIu64 " records (ring buffer full), %" PRIu64
				    " unlocks (more than %u stacks), %" PRIu64 " waits (maps full), %" PRIu64
				    " charges (%.3f s) whose unlock was not kept", lost, m->dropped, m->cfg.max_stacks,
				    no_slot, m->unmatched, (double)m->unmatched_ns / 1e9);
	if (m->partial)
		sample_set__comment(set, "%" PRIu64 " of %" PRIu64 " sampled stacks were not unwound to the thread's "
				    "root", m->partial, m->records);
}

static int prof_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	(void)scope;
	return cumwindow_snapshot(&((struct mutex_source *)ctx)->cw, ret);
}

static int prof_collect(void *ctx, const struct profd_scope *scope, int64_t duration_ns, profd_cancel_fn cancelled,
			void *arg, struct profd_sample_set **ret)
{
	(void)scope;
	return cumwindow_collect(&((struct mutex_source *)ctx)->cw, duration_ns, cancelled, arg, ret);
}

static int prof_count(void *ctx)
{
	struct mutex_source *m = ctx;
	int n = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; m->cum && i < m->cum->nsamples; i++)
		n += m->cum->samples[i].values[0] || m->cum->samples[i].values[1];
	pthread_mutex_unlock(&m->lock);
	return n;
}

static int prof_status(void *ctx, struct buf *out)
{
	struct mutex_source *m = ctx;
	struct demand_view v;
	char since[32];

	demand__view(m->demand, &v);
	if (!v.attached) {
		buf_printf(out, "Not attached: the first mutex request attaches (futex tracepoints, rate %u).",
			   m->cfg.rate);
		return 0;
	}
	format_time(v.tracking_since, since, sizeof(since));
	buf_printf(out, "Tracking since %s (rate %u, --mutex-rate).", since, m->cfg.rate);
	return 0;
}

void mutex_source__provider(struct mutex_source *m, struct profd_profile *ret)
{
	*ret = (struct profd_profile){
		.name = "mutex",
		.description = "Stack traces of holders of contended mutexes (here: the stacks that released a "
			       "contended lock of the target, charged with the time its waiters waited)",
		.ctx = m,
		.count = prof_count,
		.snapshot = prof_snapshot,
		.collect = prof_collect,
		.status = prof_status,
		.contention_text = "mutex",
		.contention_period = m->cfg.rate,
	};
}
