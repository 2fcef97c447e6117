// SPDX-License-Identifier: MIT
/* Block profile source (see block.h): owns bpf/block.bpf.c, its ring buffer and the cumulative
 * sample set of sampled waits. Threads: the demand manager (demand.h) alone attaches, detaches
 * and polls (drains the ring buffer, unwinds); requests renew the lease or open windows and read
 * the set. `lock` guards the skeleton, the ring buffer, the set and the counters.
 *
 * Why the stack is read at the syscall's exit and not at sched_switch: Go's rule needs the wait's
 * length before deciding, and copying every thread's stack at every switch-out would cost the
 * target a 16 KiB copy per context switch. Between a wait's end and its syscall's exit no user
 * code runs, so registers and stack are still the wait's. */
#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
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
#include <bpf/libbpf.h>

#include "block.skel.h"
#include "base/clock.h"
#include "base/log.h"
#include "bpf/block.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/block.h"
#include "sources/cumwindow.h"
#include "sources/demand.h"
#include "sources/heap.h"
#include "sources/probeframes.h"
#include "stacks/complete.h"
#include "stacks/unwind.h"

#define POLL_MS 100
#define PROC_PID_INIT_INO 0xEFFFFFFCu

struct block_source {
	struct procs *ps;
	bool multi;
	pid_t single; /* --pid: its process (whose exit ends a window) */
	struct block_config cfg;
	struct demand *demand;
	char what[96];        /* the demand manager's name for it, in the log */

	pthread_mutex_t lock; /* everything below */
	struct block_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[3];
	int stats_fd;         /* bpf_enable_stats(): BPF run time is counted while >= 0 */
	struct profd_sample_set *cum; /* values: count in thousandths, delay ns; since the tracking began */
	int64_t cum_since;    /* CLOCK_REALTIME of the tracking the set counts from */
	struct cumwindow cw;  /* its requests (cumwindow.h) */
	/* counters of earlier attachments, and of this one at its start */
	uint64_t waits, wait_ns, sampled, lost, records, dropped, partial, no_stack;
	struct stack_tally stacks; /* sampled stacks by the rule of stacks/complete.h */
	uint64_t prog_ns, prog_runs; /* BPF run time of earlier attachments */
	int64_t attached_mono;       /* this attachment began (CLOCK_MONOTONIC) */
	int64_t attached_total_ns;   /* earlier attachments' length */
	bool said_no_stats;
};

/* ---- pure logic ---- */

void block_config_default(struct block_config *cfg)
{
	cfg->rate_ns = BLOCK_DEFAULT_RATE_NS;
	cfg->idle_ns = BLOCK_DEFAULT_IDLE_NS;
	cfg->max_stacks = BLOCK_DEFAULT_MAX_STACKS;
}

int block_rate_parse(const char *s, uint64_t *ret_ns, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = { { "", 1 }, { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 } };
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		if (v < 1 || v > PROFD_BLOCK_MAX_RATE / units[i].ns)
			goto bad;
		*ret_ns = v * units[i].ns;
		return 0;
	}
bad:
	snprintf(err, errlen, "--block-rate: expected a duration from 1ns to 1s, a whole number with an optional "
		 "unit ns (the default), us, ms or s (e.g. 10ms, 500us, 1), got '%s'", s ? s : "");
	return -EINVAL;
}

int block_idle_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen)
{
	if (heap_idle_parse(s, ret_ns, err, errlen) == 0)
		return 0;
	snprintf(err, errlen, "--block-idle: expected a duration from 1s to 168h, a whole number with a unit "
		 "s, m or h (e.g. 90s, 10m, 1h), got '%s'", s ? s : "");
	return -EINVAL;
}

const char *block_wait_name(int nr, char *buf, size_t len)
{
	static const struct {
		int nr;
		const char *name;
	} names[] = {
		{ SYS_read, "read" }, { SYS_write, "write" }, { SYS_readv, "readv" }, { SYS_writev, "writev" },
		{ SYS_pread64, "pread64" }, { SYS_pwrite64, "pwrite64" }, { SYS_preadv, "preadv" },
		{ SYS_pwritev, "pwritev" }, { SYS_poll, "poll" }, { SYS_ppoll, "ppoll" }, { SYS_select, "select" },
		{ SYS_pselect6, "pselect6" }, { SYS_epoll_wait, "epoll_wait" }, { SYS_epoll_pwait, "epoll_pwait" },
		{ SYS_futex, "futex" }, { SYS_nanosleep, "nanosleep" }, { SYS_clock_nanosleep, "clock_nanosleep" },
		{ SYS_accept, "accept" }, { SYS_accept4, "accept4" }, { SYS_connect, "connect" },
		{ SYS_recvfrom, "recvfrom" }, { SYS_recvmsg, "recvmsg" }, { SYS_recvmmsg, "recvmmsg" },
		{ SYS_sendto, "sendto" }, { SYS_sendmsg, "sendmsg" }, { SYS_sendmmsg, "sendmmsg" },
		{ SYS_wait4, "wait4" }, { SYS_waitid, "waitid" }, { SYS_pause, "pause" },
		{ SYS_rt_sigsuspend, "rt_sigsuspend" }, { SYS_rt_sigtimedwait, "rt_sigtimedwait" },
		{ SYS_open, "open" }, { SYS_openat, "openat" }, { SYS_close, "close" }, { SYS_fsync, "fsync" },
		{ SYS_fdatasync, "fdatasync" }, { SYS_flock, "flock" }, { SYS_fcntl, "fcntl" },
		{ SYS_ioctl, "ioctl" }, { SYS_semop, "semop" }, { SYS_semtimedop, "semtimedop" },
		{ SYS_msgrcv, "msgrcv" }, { SYS_msgsnd, "msgsnd" }, { SYS_io_getevents, "io_getevents" },
		{ SYS_sendfile, "sendfile" }, { SYS_splice, "splice" }, { SYS_mmap, "mmap" },
		{ SYS_munmap, "munmap" }, { SYS_mprotect, "mprotect" }, { SYS_madvise, "madvise" },
		{ SYS_exit_group, "exit_group" }, { SYS_exit, "exit" }, { SYS_sched_yield, "sched_yield" },
#ifdef SYS_epoll_pwait2
		{ SYS_epoll_pwait2, "epoll_pwait2" },
#endif
#ifdef SYS_io_uring_enter
		{ SYS_io_uring_enter, "io_uring_enter" },
#endif
#ifdef SYS_futex_waitv
		{ SYS_futex_waitv, "futex_waitv" },
#endif
	};

	if (nr < 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].nr == nr) {
			snprintf(buf, len, "%s", names[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "syscall %d", nr);
	return buf;
}

void block_scale(uint64_t d, uint64_t rate, uint64_t *count_milli, uint64_t *delay_ns)
{
	__u64 c = *count_milli, dl = *delay_ns;

	profd_block_scale(d, rate, &c, &dl);
	*count_milli = c;
	*delay_ns = dl;
}

bool block_keep(uint64_t d, uint64_t rate, uint32_t rand)
{
	return profd_block_keep(d, rate, rand);
}

/* ---- the ring buffer: unwind each record into the cumulative set ---- */

static struct profd_sample_set *new_cum(const struct block_source *b)
{
	struct profd_sample_set *set = sample_set__new(2);

	if (set)
		set->max_samples = b->cfg.max_stacks;
	return set;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const size_t hdr = offsetof(struct profd_block_event, stack);
	struct block_source *b = ctx;
	const struct profd_block_event *e = data;
	uint64_t pcs[PROFD_MAX_FRAMES];
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct unwind_regs regs;
	struct unwind_stack stack = { 0 };
	struct probe_fix fix;
	char wait[32], comm[PROFD_BLOCK_COMM_LEN + 1];
	struct proc *p;
	int n = 0, err;

	if (size < hdr)
		return 0;
	p = procs__get(b->ps, (pid_t)e->tgid);
	memcpy(regs.r, e->regs, sizeof(regs.r));
	stack.start = e->regs[UNWIND_REG_RSP];
	stack.data = e->stack;
	stack.len = e->stack_len < size - hdr ? e->stack_len : size - hdr;
	if (!(e->flags & PROFD_BLOCK_F_NO_STACK))
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
	memcpy(comm, e->comm, PROFD_BLOCK_COMM_LEN);
	comm[PROFD_BLOCK_COMM_LEN] = '\0';
	{
		struct profd_label labels[3] = {
			{ .key = "wait", .str = (char *)block_wait_name(e->syscall, wait, sizeof(wait)) },
			{ .key = "pid", .num = (int64_t)e->tgid },
			{ .key = "process", .str = p ? (char *)p->target.comm : comm },
		};
		int64_t values[2] = { (int64_t)e->count_milli, (int64_t)e->delay_ns };

		err = n > 0 ? sample_set__add(b->cum, pcs, (uint32_t)n, values, labels, b->multi ? 3 : 1) : -EINVAL;
	}
	b->records++;
	if (err)
		b->dropped++;
	stack_tally__add(&b->stacks, n, why);
	b->partial = stack_tally__short(&b->stacks);
	if (e->flags & PROFD_BLOCK_F_NO_STACK)
		b->no_stack++;
	proc__put(p);
	return 0;
}

/* ---- attachment (the demand manager's thread) ---- */

static void on_proc_came(void *ctx, struct proc *p)
{
	struct block_source *b = ctx;
	__u32 tgid = (__u32)p->target.pid;
	__u8 one = 1;

	pthread_mutex_lock(&b->lock);
	if (b->skel)
		bpf_map_update_elem(bpf_map__fd(b->skel->maps.tgids), &tgid, &one, BPF_ANY);
	pthread_mutex_unlock(&b->lock);
}

static void on_proc_went(void *ctx, struct proc *p)
{
	struct block_source *b = ctx;
	__u32 tgid = (__u32)p->target.pid;

	pthread_mutex_lock(&b->lock);
	if (b->skel)
		bpf_map_delete_elem(bpf_map__fd(b->skel->maps.tgids), &tgid);
	pthread_mutex_unlock(&b->lock);
}

/* BPF run time and runs of the attached programs so far. Caller holds lock. */
static void prog_cost(const struct block_source *b, uint64_t *ns, uint64_t *runs)
{
	struct bpf_program *progs[2] = { b->skel->progs.on_switch, b->skel->progs.on_sys_exit };

	*ns = 0;
	*runs = 0;
	for (int i = 0; i < 2; i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len) == 0) {
			*ns += info.run_time_ns;
			*runs += info.run_cnt;
		}
	}
}

/* Folds this attachment's counters into the totals. Caller holds lock, skel attached. */
static void fold_counters(struct block_source *b)
{
	uint64_t ns, runs;

	b->waits += b->skel->bss->waits;
	b->wait_ns += b->skel->bss->wait_ns;
	b->sampled += b->skel->bss->sampled;
	b->lost += b->skel->bss->lost;
	prog_cost(b, &ns, &runs);
	b->prog_ns += ns;
	b->prog_runs += runs;
	b->attached_total_ns += profd_mono_ns() - b->attached_mono;
}

static void teardown(struct block_source *b)
{
	for (int i = 0; i < 3; i++) {
		bpf_link__destroy(b->links[i]);
		b->links[i] = NULL;
	}
	ring_buffer__free(b->rb);
	b->rb = NULL;
	block_bpf__destroy(b->skel);
	b->skel = NULL;
	if (b->stats_fd >= 0)
		close(b->stats_fd);
	b->stats_fd = -1;
}

static int fill_tgids(struct block_source *b)
{
	struct proc **list = NULL;
	int n = procs__list(b->ps, &list), fd = bpf_map__fd(b->skel->maps.tgids);
	__u8 one = 1;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		__u32 tgid = (__u32)list[i]->target.pid;

		if (!proc__exited(b->ps, list[i]))
			bpf_map_update_elem(fd, &tgid, &one, BPF_ANY);
	}
	procs__list_free(list, n);
	return 0;
}

static int block_attach(void *ctx, char *err, size_t errlen)
{
	struct block_source *b = ctx;
	struct demand_view v;
	struct stat st;
	const char *step = "open";
	int r;

	pthread_mutex_lock(&b->lock);
	b->skel = block_bpf__open();
	if (!b->skel) {
		r = -errno;
		goto fail;
	}
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != PROC_PID_INIT_INO) {
		b->skel->rodata->pidns_dev = (__u64)st.st_dev;
		b->skel->rodata->pidns_ino = (__u64)st.st_ino;
	}
	b->skel->rodata->follow_forks = b->multi && !b->skel->rodata->pidns_ino;
	b->skel->rodata->rate = b->cfg.rate_ns;
	b->skel->rodata->stack_bytes = BLOCK_STACK_BYTES;
	b->skel->rodata->wakeup_bytes = BLOCK_RING_BYTES / 4;
	if (!b->multi)
		bpf_program__set_autoload(b->skel->progs.on_fork, false);
	r = bpf_map__set_max_entries(b->skel->maps.events, BLOCK_RING_BYTES);
	if (!r)
		r = bpf_map__set_max_entries(b->skel->maps.tgids, PROFD_BLOCK_MAX_PROCS);
	if (r)
		goto fail;
	step = "load";
	r = block_bpf__load(b->skel);
	if (r)
		goto fail;
	r = fill_tgids(b);
	if (r)
		goto fail;
	step = "attach";
	b->links[0] = bpf_program__attach(b->skel->progs.on_switch);
	if (!b->links[0]) {
		r = -errno;
		goto fail;
	}
	b->links[1] = bpf_program__attach(b->skel->progs.on_sys_exit);
	if (!b->links[1]) {
		r = -errno;
		goto fail;
	}
	if (b->multi)
		b->links[2] = bpf_program__attach(b->skel->progs.on_fork); /* else the set's scan follows */
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_event, b, NULL);
	if (!b->rb) {
		r = -errno;
		goto fail;
	}
	/* what the programs cost, measured by the kernel (CAP_SYS_ADMIN; counts while the fd is open) */
	b->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (b->stats_fd < 0 && !b->said_no_stats) {
		b->said_no_stats = true;
		log_debug("block: BPF run time statistics unavailable (%s): its cost is not measured", strerror(errno));
	}
	b->attached_mono = profd_mono_ns();
	/* a new tracking (not a come-back within one: demand.h sets tracking_since after this) starts a
	 * new set */
	demand__view(b->demand, &v);
	if (!b->cum || !v.tracking_since) {
		sample_set__free(b->cum);
		b->cum = new_cum(b);
		b->cum_since = profd_now_nanos();
		b->waits = b->wait_ns = b->sampled = b->lost = b->records = b->dropped = b->partial = 0;
		b->stacks = (struct stack_tally){ 0 };
		b->no_stack = b->prog_ns = b->prog_runs = 0;
		b->attached_total_ns = 0;
		if (!b->cum) {
			r = -ENOMEM;
			goto fail;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return 0;

fail:
	teardown(b);
	pthread_mutex_unlock(&b->lock);
	snprintf(err, errlen, "cannot %s the block profile's BPF programs (sched_switch, sys_exit): %s%s", step,
		 strerror(-r), r == -EPERM || r == -EACCES ? " (profd needs CAP_BPF and CAP_PERFMON, or root)" : "");
	return r;
}

static void block_detach(void *ctx)
{
	struct block_source *b = ctx;

	pthread_mutex_lock(&b->lock);
	if (b->skel) {
		/* what is queued still counts */
		bpf_link__destroy(b->links[0]);
		bpf_link__destroy(b->links[1]);
		b->links[0] = b->links[1] = NULL;
		if (b->rb)
			ring_buffer__consume(b->rb);
		fold_counters(b);
	}
	teardown(b);
	pthread_mutex_unlock(&b->lock);
}

static void block_poll(void *ctx)
{
	struct block_source *b = ctx;
	struct epoll_event ev;
	int fd = -1;

	pthread_mutex_lock(&b->lock);
	if (b->rb)
		fd = ring_buffer__epoll_fd(b->rb);
	pthread_mutex_unlock(&b->lock);
	/* only the manager detaches: rb lives across this wait */
	if (fd >= 0)
		epoll_wait(fd, &ev, 1, POLL_MS);
	pthread_mutex_lock(&b->lock);
	if (b->rb)
		ring_buffer__consume(b->rb);
	pthread_mutex_unlock(&b->lock);
}

static const struct demand_ops block_demand_ops = {
	.attach = block_attach,
	.detach = block_detach,
	.poll = block_poll,
};

/* the profile's values and comments, for its requests (cumwindow.h) */
static void block_values(void *ctx, const int64_t *in, int64_t *out);
static void add_comments(void *ctx, struct profd_sample_set *set, bool started);

int block_source__new(struct procs *ps, const struct block_config *cfg, struct block_source **ret, char *err,
		      size_t errlen)
{
	struct procs_listener l = { .came = on_proc_came, .went = on_proc_went };
	struct block_source *b;
	int r;

	*ret = NULL;
	if (!cfg->rate_ns || cfg->rate_ns > PROFD_BLOCK_MAX_RATE) {
		snprintf(err, errlen, "--block-rate must be from 1ns to 1s");
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->ps = ps;
	b->multi = procs__multi(ps);
	b->cfg = *cfg;
	b->stats_fd = -1;
	pthread_mutex_init(&b->lock, NULL);
	if (!b->multi) {
		struct proc **list = NULL;
		int n = procs__list(ps, &list);

		b->single = n > 0 ? list[0]->target.pid : 0;
		procs__list_free(list, n > 0 ? n : 0);
	}
	b->cum = new_cum(b);
	b->cw = (struct cumwindow){ b, &b->lock, &b->demand, &b->rb, &b->cum, &b->cum_since, ps,
					   b->single, "the waits that ended in it", block_values, add_comments };
	l.ctx = b;
	if (!b->cum || procs__listen(ps, &l) < 0) {
		block_source__free(b);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (b->multi)
		snprintf(b->what, sizeof(b->what), "block profiling of %s", procset__describe(procs__set(ps)));
	else
		snprintf(b->what, sizeof(b->what), "block profiling of process %d", (int)b->single);
	{
		struct demand_config dc = {
			.what = b->what,
			.idle_flag = "--block-idle",
			.idle_ns = cfg->idle_ns,
			.max_windows = BLOCK_MAX_WINDOWS,
		};

		r = demand__new(&dc, &block_demand_ops, b, &b->demand, err, errlen);
	}
	if (r < 0) {
		block_source__free(b);
		return r;
	}
	*ret = b;
	return 0;
}

void block_source__free(struct block_source *b)
{
	if (!b)
		return;
	procs__unlisten(b->ps, b);
	demand__free(b->demand); /* detaches first */
	pthread_mutex_lock(&b->lock);
	teardown(b);
	pthread_mutex_unlock(&b->lock);
	sample_set__free(b->cum);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* ---- output ---- */

static void format_time(int64_t realtime_ns, char *out, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Go's block profile from thousandths: counts rounded to whole contentions (cumwindow_values_fn). */
static void block_values(void *ctx, const int64_t *in, int64_t *out)
{
	(void)ctx;
	out[0] = (in[0] + (int64_t)PROFD_BLOCK_MILLI / 2) / (int64_t)PROFD_BLOCK_MILLI;
	out[1] = in[1];
}

/* The comments every block profile carries. Caller holds lock. */
static void add_comments(void *ctx, struct profd_sample_set *set, bool started)
{
	struct block_source *b = ctx;
	uint64_t waits = b->waits, wait_ns = b->wait_ns, sampled = b->sampled, lost = b->lost, ns = b->prog_ns;
	uint64_t runs = b->prog_runs;
	int64_t attached_ns = b->attached_total_ns;
	struct demand_view v;
	char since[32], idle[32];

	demand__view(b->demand, &v);
	if (b->skel) {
		uint64_t n2, r2;

		waits += b->skel->bss->waits;
		wait_ns += b->skel->bss->wait_ns;
		sampled += b->skel->bss->sampled;
		lost += b->skel->bss->lost;
		prog_cost(b, &n2, &r2);
		ns += n2;
		runs += r2;
		attached_ns += profd_mono_ns() - b->attached_mono;
	}
	sample_set__comment(set, "profd block: off-CPU waits of the target's threads (they left the CPU to sleep, "
			    "until they ran again), from sched_switch (eBPF); sampled as Go's "
			    "runtime.SetBlockProfileRate(%" PRIu64 ") (--block-rate): a wait of d ns is kept with "
			    "probability min(1, d/%" PRIu64 ") and scaled; the label `wait` names the syscall",
			    b->cfg.rate_ns, b->cfg.rate_ns);
	format_time(v.tracking_since ? v.tracking_since : b->cum_since, since, sizeof(since));
	snprintf(idle, sizeof(idle), "%llds", (long long)(b->cfg.idle_ns / 1000000000));
	if (started)
		sample_set__comment(set, "block tracking started at %s by this request; ask again later, or use "
				    "?seconds=N for the waits of the next N seconds", since);
	else if (v.tracking_since)
		sample_set__comment(set, "block tracking since %s (it stops after %s without a block request, "
				    "--block-idle)", since, idle);
	else
		sample_set__comment(set, "block tracking is not running: a block request starts it; what is shown "
				    "is what was tracked before it stopped%s", b->cum_since ? "" : " (nothing)");
	if (b->stats_fd >= 0 || ns)
		sample_set__comment(set, "block cost: its BPF programs ran %" PRIu64 " times (every context switch "
				    "and syscall exit on the machine while attached) for %.0f ns each on average, "
				    "%.3f%% of one CPU over %.1f s attached; the target's threads waited %" PRIu64
				    " times (%.1f s), %" PRIu64 " kept",
				    runs, runs ? (double)ns / (double)runs : 0.0,
				    attached_ns > 0 ? 100.0 * (double)ns / (double)attached_ns : 0.0,
				    (double)attached_ns / 1e9, waits, (double)wait_ns / 1e9, sampled);
	else
		sample_set__comment(set, "block: the target's threads waited %" PRIu64 " times (%.1f s), %" PRIu64
				    " kept; the BPF programs' run time is not measured here (bpf_enable_stats)",
				    waits, (double)wait_ns / 1e9, sampled);
	sample_set__comment(set, "waits that began before profd attached are not in this profile");
	if (lost || b->dropped)
		sample_set__comment(set, "dropped at bounds: %" PRIu64 " sampled waits (ring buffer full), %" PRIu64
				    " (more than %u stacks)", lost, b->dropped, b->cfg.max_stacks);
	if (b->partial) {
		char line[512];

		stack_tally__sentence(&b->stacks, "sampled stacks", line, sizeof(line));
		sample_set__comment(set, "%s", line);
	}
	if (b->no_stack)
		sample_set__comment(set, "%" PRIu64 " waits outside a syscall (wait=none: page faults) have only "
				    "their leaf", b->no_stack);
}

static int prof_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	(void)scope;
	return cumwindow_snapshot(&((struct block_source *)ctx)->cw, ret);
}

static int prof_collect(void *ctx, const struct profd_scope *scope, int64_t duration_ns, profd_cancel_fn cancelled,
			void *arg, struct profd_sample_set **ret)
{
	(void)scope;
	return cumwindow_collect(&((struct block_source *)ctx)->cw, duration_ns, cancelled, arg, ret);
}

static int prof_count(void *ctx)
{
	struct block_source *b = ctx;
	int n;

	pthread_mutex_lock(&b->lock);
	n = b->cum ? (int)b->cum->nsamples : 0;
	pthread_mutex_unlock(&b->lock);
	return n;
}

static int prof_status(void *ctx, struct buf *out)
{
	struct block_source *b = ctx;
	struct demand_view v;
	char since[32];

	demand__view(b->demand, &v);
	if (!v.attached) {
		buf_printf(out, "Not attached: the first block request attaches (sched_switch, rate %" PRIu64 " ns).",
			   b->cfg.rate_ns);
		return 0;
	}
	format_time(v.tracking_since, since, sizeof(since));
	buf_printf(out, "Tracking since %s (rate %" PRIu64 " ns, --block-rate).", since, b->cfg.rate_ns);
	return 0;
}

void block_source__provider(struct block_source *b, struct profd_profile *ret)
{
	*ret = (struct profd_profile){
		.name = "block",
		.description = "Stack traces that led to blocking on synchronization primitives (here: every "
			       "off-CPU wait of the target's threads, labelled with the syscall)",
		.ctx = b,
		.count = prof_count,
		.snapshot = prof_snapshot,
		.collect = prof_collect,
		.status = prof_status,
		.contention_text = "contention",
	};
}
