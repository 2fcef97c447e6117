// SPDX-License-Identifier: MIT
/* Threadcreate profile source (see threadcreate.h): owns bpf/threadcreate.bpf.c, its ring
 * buffer and the cumulative set of creation stacks. Threads: the demand manager (demand.h, in
 * `always` mode) attaches at start-up and drains the ring buffer; requests read the set. `lock`
 * guards the skeleton, the ring buffer, the set and the counters. */
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

#include "threadcreate.skel.h"
#include "base/clock.h"
#include "base/log.h"
#include "bpf/threadcreate.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/demand.h"
#include "sources/probeframes.h"
#include "sources/threadcreate.h"
#include "stacks/complete.h"
#include "stacks/unwind.h"
#include "symbols/frame.h"

#define POLL_MS 100
#define PROC_PID_INIT_INO 0xEFFFFFFCu

struct threadcreate_source {
	struct procs *ps;
	bool multi;
	struct demand *demand;
	char what[96];

	pthread_mutex_t lock; /* everything below */
	struct threadcreate_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[2];
	struct profd_sample_set *cum; /* creations by stack (+ the threads found at attach) */
	int64_t since;                /* CLOCK_REALTIME of the attach */
	uint64_t records, dropped, partial, before;
	struct stack_tally stacks; /* creation stacks by the rule of stacks/complete.h */
	/* recent creations, slot = new TID % THREADCREATE_CREATIONS (a newer one takes the slot) */
	struct creation {
		int32_t tid, creator;
		uint32_t npcs;
		uint64_t pcs[THREADCREATE_CREATION_FRAMES];
	} *creations;
};

static struct profd_sample_set *new_set(void)
{
	struct profd_sample_set *set = sample_set__new(1);

	if (!set)
		return NULL;
	set->max_samples = THREADCREATE_MAX_STACKS;
	set->types[0] = (struct profd_value_type){ "threadcreate", "count" };
	set->period_type = (struct profd_value_type){ "threadcreate", "count" };
	set->period = 1;
	set->default_sample_type = -1;
	return set;
}

/* One sample under "created before profd attached" for the threads p has now. Caller holds lock. */
static void add_before(struct threadcreate_source *tc, struct proc *p)
{
	uint64_t pc = sample_pc_exact(sym_synthetic_addr(SYM_SYNTHETIC_BEFORE_ATTACH));
	struct profd_label labels[2] = {
		{ .key = "pid", .num = (int64_t)p->target.pid },
		{ .key = "process", .str = (char *)p->target.comm },
	};
	int n = target_thread_count(&p->target);
	int64_t v = n;

	if (n <= 0)
		return;
	if (sample_set__add(tc->cum, &pc, 1, &v, labels, tc->multi ? 2 : 0) == 0)
		tc->before += (uint64_t)n;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const size_t hdr = offsetof(struct profd_tc_event, stack);
	struct threadcreate_source *tc = ctx;
	const struct profd_tc_event *e = data;
	uint64_t pcs[PROFD_MAX_FRAMES];
	enum unwind_stop why = UNWIND_STOP_ERROR;
	struct unwind_regs regs;
	struct unwind_stack stack = { 0 };
	struct probe_fix fix;
	struct proc *p;
	int64_t one = 1;
	int n = 0;

	if (size < hdr)
		return 0;
	p = procs__get(tc->ps, (pid_t)e->tgid);
	memcpy(regs.r, e->regs, sizeof(regs.r));
	stack.start = e->regs[UNWIND_REG_RSP];
	stack.data = e->stack;
	stack.len = e->stack_len < size - hdr ? e->stack_len : size - hdr;
	probe_fix_sample(&e->up, &regs, &stack, &fix);
	if (p && p->uw) {
		n = unwinder__unwind(p->uw, &regs, &stack, pcs, PROFD_MAX_FRAMES, &why);
		if (n < 0)
			n = 0;
		/* glibc's clone and clone3 end their FDE before the syscall ("in the child the unwind
		 * info will be wrong"): the walk stops at the leaf. Both are leaves that push nothing,
		 * so the return address is the word at sp: walk on from there. */
		if (n <= 1 && why != UNWIND_STOP_ROOT && stack.len >= 8) {
			struct unwind_regs up = regs;
			enum unwind_stop why2 = UNWIND_STOP_ERROR;
			uint64_t ra;
			int n2;

			memcpy(&ra, stack.data, sizeof(ra));
			up.r[UNWIND_REG_RIP] = ra;
			up.r[UNWIND_REG_RSP] += 8;
			n2 = unwinder__unwind(p->uw, &up, &stack, pcs + 1, PROFD_MAX_FRAMES - 1, &why2);
			if (n2 > 0 && why2 == UNWIND_STOP_ROOT) {
				pcs[0] = sample_pc_exact(regs.r[UNWIND_REG_RIP]);
				pcs[1] = ra; /* a return address: caller style */
				n = n2 + 1;
				why = why2;
			}
		}
	}
	if (n == 0 && regs.r[UNWIND_REG_RIP]) {
		pcs[0] = sample_pc_exact(regs.r[UNWIND_REG_RIP]);
		n = 1;
	}
	if (fix.leaf_is_return && n > 0)
		pcs[0] = regs.r[UNWIND_REG_RIP];
	{
		char comm[PROFD_TC_COMM_LEN + 1];
		struct profd_label labels[2] = {
			{ .key = "pid", .num = (int64_t)e->tgid },
			{ .key = "process", .str = comm },
		};

		memcpy(comm, e->comm, PROFD_TC_COMM_LEN);
		comm[PROFD_TC_COMM_LEN] = '\0';
		if (p)
			labels[1].str = (char *)p->target.comm;
		if (n == 0 || sample_set__add(tc->cum, pcs, (uint32_t)n, &one, labels, tc->multi ? 2 : 0) < 0)
			tc->dropped++;
	}
	if (e->new_tid && n > 0 && tc->creations) {
		struct creation *c = &tc->creations[e->new_tid % THREADCREATE_CREATIONS];

		c->tid = (int32_t)e->new_tid;
		c->creator = (int32_t)e->tid;
		c->npcs = (uint32_t)(n < THREADCREATE_CREATION_FRAMES ? n : THREADCREATE_CREATION_FRAMES);
		memcpy(c->pcs, pcs, c->npcs * sizeof(c->pcs[0]));
	}
	tc->records++;
	stack_tally__add(&tc->stacks, n, why);
	tc->partial = stack_tally__short(&tc->stacks);
	proc__put(p);
	return 0;
}

static void on_proc_came(void *ctx, struct proc *p)
{
	struct threadcreate_source *tc = ctx;
	__u32 tgid = (__u32)p->target.pid;
	__u8 one = 1;

	pthread_mutex_lock(&tc->lock);
	if (tc->skel) {
		bpf_map_update_elem(bpf_map__fd(tc->skel->maps.tgids), &tgid, &one, BPF_ANY);
		/* a process that joins the set later: its first thread came with it (its own fork) */
		if (tc->multi) {
			uint64_t pc = sample_pc_exact(sym_synthetic_addr(SYM_SYNTHETIC_BEFORE_ATTACH));
			struct profd_label labels[2] = {
				{ .key = "pid", .num = (int64_t)p->target.pid },
				{ .key = "process", .str = (char *)p->target.comm },
			};
			int64_t v = 1;

			if (sample_set__add(tc->cum, &pc, 1, &v, labels, 2) == 0)
				tc->before++;
		}
	}
	pthread_mutex_unlock(&tc->lock);
}

static void on_proc_went(void *ctx, struct proc *p)
{
	struct threadcreate_source *tc = ctx;
	__u32 tgid = (__u32)p->target.pid;

	pthread_mutex_lock(&tc->lock);
	if (tc->skel)
		bpf_map_delete_elem(bpf_map__fd(tc->skel->maps.tgids), &tgid);
	pthread_mutex_unlock(&tc->lock);
}

static void teardown(struct threadcreate_source *tc)
{
	for (int i = 0; i < 2; i++) {
		bpf_link__destroy(tc->links[i]);
		tc->links[i] = NULL;
	}
	ring_buffer__free(tc->rb);
	tc->rb = NULL;
	threadcreate_bpf__destroy(tc->skel);
	tc->skel = NULL;
}

static int tc_attach(void *ctx, char *err, size_t errlen)
{
	struct threadcreate_source *tc = ctx;
	const char *step = "open";
	struct proc **list = NULL;
	struct stat st;
	int r, n = 0;
	__u8 one = 1;

	pthread_mutex_lock(&tc->lock);
	tc->skel = threadcreate_bpf__open();
	if (!tc->skel) {
		r = -errno;
		goto fail;
	}
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != PROC_PID_INIT_INO) {
		tc->skel->rodata->pidns_dev = (__u64)st.st_dev;
		tc->skel->rodata->pidns_ino = (__u64)st.st_ino;
	}
	tc->skel->rodata->follow_forks = tc->multi && !tc->skel->rodata->pidns_ino;
	if (!tc->multi)
		bpf_program__set_autoload(tc->skel->progs.on_fork, false);
	r = bpf_map__set_max_entries(tc->skel->maps.tgids, PROFD_TC_MAX_PROCS);
	if (r)
		goto fail;
	step = "load";
	r = threadcreate_bpf__load(tc->skel);
	if (r)
		goto fail;
	step = "attach";
	/* the filter first, then the tracepoint, then the count: a thread created in between is
	 * counted twice at worst, never missed */
	n = procs__list(tc->ps, &list);
	for (int i = 0; i < n; i++) {
		__u32 tgid = (__u32)list[i]->target.pid;

		if (!proc__exited(tc->ps, list[i]))
			bpf_map_update_elem(bpf_map__fd(tc->skel->maps.tgids), &tgid, &one, BPF_ANY);
	}
	tc->links[0] = bpf_program__attach(tc->skel->progs.on_newtask);
	if (!tc->links[0]) {
		r = -errno;
		goto fail;
	}
	if (tc->multi)
		tc->links[1] = bpf_program__attach(tc->skel->progs.on_fork);
	tc->rb = ring_buffer__new(bpf_map__fd(tc->skel->maps.events), on_event, tc, NULL);
	if (!tc->rb) {
		r = -errno;
		goto fail;
	}
	sample_set__free(tc->cum);
	tc->cum = new_set();
	if (!tc->cum) {
		r = -ENOMEM;
		goto fail;
	}
	tc->since = profd_now_nanos();
	tc->records = tc->dropped = tc->partial = tc->before = 0;
	tc->stacks = (struct stack_tally){ 0 };
	for (int i = 0; i < n; i++)
		if (!proc__exited(tc->ps, list[i]))
			add_before(tc, list[i]);
	procs__list_free(list, n > 0 ? n : 0);
	pthread_mutex_unlock(&tc->lock);
	return 0;

fail:
	procs__list_free(list, n > 0 ? n : 0);
	teardown(tc);
	pthread_mutex_unlock(&tc->lock);
	snprintf(err, errlen, "cannot %s the threadcreate profile's BPF program (task_newtask): %s%s", step,
		 strerror(-r), r == -EPERM || r == -EACCES ? " (profd needs CAP_BPF and CAP_PERFMON, or root)" : "");
	return r;
}

static void tc_detach(void *ctx)
{
	struct threadcreate_source *tc = ctx;

	pthread_mutex_lock(&tc->lock);
	if (tc->rb)
		ring_buffer__consume(tc->rb);
	teardown(tc);
	pthread_mutex_unlock(&tc->lock);
}

static void tc_poll(void *ctx)
{
	struct threadcreate_source *tc = ctx;
	struct epoll_event ev;
	int fd = -1;

	pthread_mutex_lock(&tc->lock);
	if (tc->rb)
		fd = ring_buffer__epoll_fd(tc->rb);
	pthread_mutex_unlock(&tc->lock);
	if (fd >= 0)
		epoll_wait(fd, &ev, 1, POLL_MS);
	pthread_mutex_lock(&tc->lock);
	if (tc->rb)
		ring_buffer__consume(tc->rb);
	pthread_mutex_unlock(&tc->lock);
}

static const struct demand_ops tc_demand_ops = {
	.attach = tc_attach,
	.detach = tc_detach,
	.poll = tc_poll,
};

int threadcreate_source__new(struct procs *ps, struct threadcreate_source **ret, char *err, size_t errlen)
{
	struct procs_listener l = { .came = on_proc_came, .went = on_proc_went };
	struct threadcreate_source *tc;
	int r;

	*ret = NULL;
	tc = calloc(1, sizeof(*tc));
	if (!tc) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	tc->ps = ps;
	tc->multi = procs__multi(ps);
	pthread_mutex_init(&tc->lock, NULL);
	tc->creations = calloc(THREADCREATE_CREATIONS, sizeof(*tc->creations));
	if (!tc->creations) {
		threadcreate_source__free(tc);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(tc->what, sizeof(tc->what), "threadcreate tracking of %s", procset__describe(procs__set(ps)));
	{
		struct demand_config dc = {
			.what = tc->what,
			.idle_flag = "(always)",
			.always = true,
			.max_windows = 1,
		};

		r = demand__new(&dc, &tc_demand_ops, tc, &tc->demand, err, errlen);
	}
	if (r < 0) {
		threadcreate_source__free(tc);
		return r;
	}
	l.ctx = tc;
	/* after the attach: came() for the members now adds nothing for a single process, and for a
	 * set only its first thread, which add_before counted: undo by listening first would need a
	 * second count; instead the initial came() calls are skipped below */
	pthread_mutex_lock(&tc->lock);
	{
		struct threadcreate_bpf *skel = tc->skel;

		tc->skel = NULL; /* came() for current members: nothing to add, the attach counted them */
		pthread_mutex_unlock(&tc->lock);
		r = procs__listen(ps, &l);
		pthread_mutex_lock(&tc->lock);
		tc->skel = skel;
	}
	pthread_mutex_unlock(&tc->lock);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		threadcreate_source__free(tc);
		return r;
	}
	*ret = tc;
	return 0;
}

void threadcreate_source__free(struct threadcreate_source *tc)
{
	if (!tc)
		return;
	procs__unlisten(tc->ps, tc);
	demand__free(tc->demand);
	pthread_mutex_lock(&tc->lock);
	teardown(tc);
	pthread_mutex_unlock(&tc->lock);
	sample_set__free(tc->cum);
	free(tc->creations);
	pthread_mutex_destroy(&tc->lock);
	free(tc);
}

static void format_time(int64_t realtime_ns, char *out, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int prof_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	struct threadcreate_source *tc = ctx;
	struct profd_sample_set *set = new_set();
	char since[32];
	int r = 0;

	(void)scope;
	*ret = NULL;
	if (!set)
		return -ENOMEM;
	pthread_mutex_lock(&tc->lock);
	if (tc->rb)
		ring_buffer__consume(tc->rb);
	for (size_t i = 0; tc->cum && i < tc->cum->nsamples && r == 0; i++) {
		const struct profd_sample *s = &tc->cum->samples[i];

		r = sample_set__add(set, s->pcs, s->nframes, s->values, s->labels, s->nlabels);
	}
	set->time_nanos = profd_now_nanos();
	format_time(tc->since, since, sizeof(since));
	sample_set__comment(set, "profd threadcreate: threads created (clone with CLONE_THREAD) by the creating "
			    "thread's user stack, from the task_newtask tracepoint (eBPF), since %s; the %" PRIu64
			    " threads that existed then are under \"" SYM_SYNTHETIC_BEFORE_ATTACH_NAME "\"",
			    since, tc->before);
	if (tc->dropped || (tc->skel && tc->skel->bss->lost))
		sample_set__comment(set, "dropped: %" PRIu64 " creations (ring buffer full), %" PRIu64 " (more than %u "
				    "stacks)", tc->skel ? (uint64_t)tc->skel->bss->lost : 0, tc->dropped,
				    THREADCREATE_MAX_STACKS);
	if (tc->partial) {
		char line[512];

		stack_tally__sentence(&tc->stacks, "creation stacks", line, sizeof(line));
		sample_set__comment(set, "%s", line);
	}
	pthread_mutex_unlock(&tc->lock);
	if (r < 0) {
		sample_set__free(set);
		return r;
	}
	*ret = set;
	return 0;
}

int threadcreate_source__creator(void *ctx, int tid, uint64_t *pcs, int max, int *ret_creator)
{
	struct threadcreate_source *tc = ctx;
	const struct creation *c;
	int n = 0;

	if (tid <= 0 || max <= 0)
		return 0;
	pthread_mutex_lock(&tc->lock);
	if (tc->rb)
		ring_buffer__consume(tc->rb);
	c = &tc->creations[tid % THREADCREATE_CREATIONS];
	if (c->tid == tid) {
		n = (int)c->npcs < max ? (int)c->npcs : max;
		memcpy(pcs, c->pcs, (size_t)n * sizeof(*pcs));
		*ret_creator = c->creator;
	}
	pthread_mutex_unlock(&tc->lock);
	return n;
}

static int prof_count(void *ctx)
{
	struct threadcreate_source *tc = ctx;
	int64_t n = 0;

	pthread_mutex_lock(&tc->lock);
	if (tc->rb)
		ring_buffer__consume(tc->rb);
	for (size_t i = 0; tc->cum && i < tc->cum->nsamples; i++)
		n += tc->cum->samples[i].values[0];
	pthread_mutex_unlock(&tc->lock);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

void threadcreate_source__provider(struct threadcreate_source *tc, struct profd_profile *ret)
{
	*ret = (struct profd_profile){
		.name = "threadcreate",
		.description = "Stack traces that led to the creation of new OS threads (since profd attached; "
			       "the threads it found then are counted under one frame)",
		.ctx = tc,
		.count = prof_count,
		.snapshot = prof_snapshot,
	};
}
