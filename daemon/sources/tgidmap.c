// SPDX-License-Identifier: MIT
/* The BPF map of a set's PIDs, kept as the set changes (see tgidmap.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "base/log.h"
#include "set/procs.h"
#include "sources/tgidmap.h"

static void on_came(void *ctx, struct proc *p)
{
	struct tgidmap *m = ctx;
	__u32 tgid = (__u32)p->target.pid;
	__u8 one = 1;

	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		bpf_map_update_elem(m->fd, &tgid, &one, BPF_ANY);
	pthread_mutex_unlock(&m->lock);
}

static void on_went(void *ctx, struct proc *p)
{
	struct tgidmap *m = ctx;
	__u32 tgid = (__u32)p->target.pid;

	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		bpf_map_delete_elem(m->fd, &tgid);
	pthread_mutex_unlock(&m->lock);
}

int tgidmap__init(struct tgidmap *m, struct procs *ps)
{
	struct procs_listener l = { .came = on_came, .went = on_went, .ctx = m };
	int r;

	memset(m, 0, sizeof(*m));
	m->ps = ps;
	m->fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	r = procs__listen(ps, &l);
	m->listening = r == 0;
	return r;
}

void tgidmap__fini(struct tgidmap *m)
{
	if (!m->ps)
		return;
	if (m->listening)
		procs__unlisten(m->ps, m);
	tgidmap__detach(m);
	pthread_mutex_destroy(&m->lock);
	m->ps = NULL;
	m->listening = false;
}

int tgidmap__prepare(struct tgidmap *m, struct bpf_map *tgids, struct bpf_program *on_fork, bool *follow_forks,
		     bool pidns)
{
	bool multi = procs__multi(m->ps);

	*follow_forks = multi && !pidns;
	if (!multi)
		bpf_program__set_autoload(on_fork, false);
	return bpf_map__set_max_entries(tgids, TGIDMAP_MAX_PROCS);
}

int tgidmap__attach(struct tgidmap *m, struct bpf_map *tgids, struct bpf_program *on_fork, const char *what)
{
	struct proc **list = NULL;
	int n, fd = bpf_map__fd(tgids);
	__u8 one = 1;

	/* the fd first: a process that comes while the list is read is added by on_came */
	pthread_mutex_lock(&m->lock);
	m->fd = fd;
	pthread_mutex_unlock(&m->lock);
	n = procs__list(m->ps, &list);
	if (n < 0)
		return n;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < n; i++) {
		__u32 tgid = (__u32)list[i]->target.pid;

		if (!proc__exited(m->ps, list[i]))
			bpf_map_update_elem(fd, &tgid, &one, BPF_ANY);
	}
	pthread_mutex_unlock(&m->lock);
	procs__list_free(list, n);
	if (procs__multi(m->ps)) {
		m->fork_link = bpf_program__attach(on_fork);
		if (!m->fork_link)
			log_debug("%s: new processes of the set are followed by its scan only (the fork tracepoint: %s)",
				  what, strerror(errno));
	}
	return 0;
}

void tgidmap__detach(struct tgidmap *m)
{
	bpf_link__destroy(m->fork_link);
	m->fork_link = NULL;
	if (!m->ps) /* after tgidmap__fini, which detached */
		return;
	pthread_mutex_lock(&m->lock);
	m->fd = -1;
	pthread_mutex_unlock(&m->lock);
}
