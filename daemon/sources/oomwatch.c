// SPDX-License-Identifier: MIT
/* The OOM killer's victims from bpf/oom.bpf.c (oomwatch.h): a ring buffer read by the caller's
 * thread into a small queue. Single-threaded by contract: no lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <linux/types.h>

#include "bpf/oom.h"
#include "oom.skel.h"
#include "sources/oomwatch.h"

struct oom_watch {
	struct oom_bpf *skel;
	struct bpf_link *link;
	struct ring_buffer *rb;
	struct oom_victim queue[OOM_WATCH_QUEUE];
	int nqueued;
	uint64_t dropped; /* queue full */
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct oom_watch *w = ctx;
	const struct profd_oom_event *e = data;

	if (len < sizeof(*e))
		return 0;
	if (w->nqueued == OOM_WATCH_QUEUE) {
		w->dropped++;
		return 0;
	}
	w->queue[w->nqueued].pid = (pid_t)e->pid;
	w->queue[w->nqueued].anon_rss_kb = e->anon_rss_kb;
	w->nqueued++;
	return 0;
}

int oom_watch__new(struct oom_watch **ret, char *err, size_t errlen)
{
	const char *step = "open";
	struct oom_watch *w;
	int r;

	*ret = NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* a kernel without the tracepoint (CONFIG_TRACEPOINTS off) fails at attach; said so */
	w->skel = oom_bpf__open();
	if (!w->skel) {
		r = -errno;
		goto fail;
	}
	step = "load";
	r = oom_bpf__load(w->skel);
	if (r)
		goto fail;
	step = "attach";
	w->link = bpf_program__attach(w->skel->progs.on_mark_victim);
	if (!w->link) {
		r = -errno;
		goto fail;
	}
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.events), on_event, w, NULL);
	if (!w->rb) {
		r = -errno;
		goto fail;
	}
	*ret = w;
	return 0;
fail:
	snprintf(err, errlen, "cannot %s the BPF program on the OOM killer (tracepoint oom:mark_victim): %s%s", step,
		 strerror(-r), r == -EPERM || r == -EACCES ? " (profd needs CAP_BPF and CAP_PERFMON, or root)"
		 : r == -ENOENT ? " (this kernel has no such tracepoint)" : "");
	oom_watch__free(w);
	return r;
}

void oom_watch__free(struct oom_watch *w)
{
	if (!w)
		return;
	ring_buffer__free(w->rb);
	bpf_link__destroy(w->link);
	oom_bpf__destroy(w->skel);
	free(w);
}

int oom_watch__fd(const struct oom_watch *w)
{
	return ring_buffer__epoll_fd(w->rb);
}

int oom_watch__read(struct oom_watch *w, struct oom_victim *ret, int max)
{
	int n;

	ring_buffer__consume(w->rb);
	n = w->nqueued < max ? w->nqueued : max;
	memcpy(ret, w->queue, (size_t)n * sizeof(*ret));
	memmove(w->queue, w->queue + n, (size_t)(w->nqueued - n) * sizeof(*ret));
	w->nqueued -= n;
	return n;
}

void oom_watch__stats(struct oom_watch *w, uint64_t *ret_victims, uint64_t *ret_lost)
{
	*ret_victims = __atomic_load_n(&w->skel->bss->victims, __ATOMIC_RELAXED);
	*ret_lost = __atomic_load_n(&w->skel->bss->lost, __ATOMIC_RELAXED) + w->dropped;
}
