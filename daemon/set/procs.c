// SPDX-License-Identifier: MIT
/* The processes served and their per-process machinery (procs.h). One lock guards the member
 * array; listeners are called without it, with references held. The scan thread sleeps on a
 * condition variable between scans so that procs__free() ends it at once. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "proc/procmaps.h"
#include "set/procs.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

struct procs {
	struct procset *set;
	bool multi;
	pthread_mutex_t lock;
	struct proc **m;     /* every process the set lists (live and exited), referenced */
	int n, cap;
	struct procs_listener listeners[PROCS_MAX_LISTENERS];
	int nlisteners;
	pthread_mutex_t scan_lock; /* one scan at a time (the thread, or a caller) */
	pthread_t thread;
	bool started;
	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	atomic_bool stop;
};

struct proc *procs__get_rescan(struct procs *ps, pid_t pid, int64_t *last_rescan_ns)
{
	struct proc *p = procs__get(ps, pid);

	if (!p && profd_mono_ns() - *last_rescan_ns > 100000000ll) {
		*last_rescan_ns = profd_mono_ns();
		procs__scan(ps);
		p = procs__get(ps, pid);
	}
	return p;
}

struct proc *proc__ref(struct proc *p)
{
	if (p)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void proc__put(struct proc *p)
{
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (p->shares) {
		proc__put(p->shares);
	} else {
		symbolizer__free(p->sym);
		unwinder__free(p->uw);
	}
	free(p);
}

/* A hash of the process's executable mappings: two processes with the same hash (a master and
 * the workers it forked) have the same code at the same addresses. 0 when unknown. */
static uint64_t layout_hash(pid_t pid)
{
	struct procmaps maps;
	uint64_t h = 1469598103934665603ull;
	bool any = false;

	if (procmaps_read(pid, &maps) < 0)
		return 0;
	for (size_t i = 0; i < maps.n; i++) {
		const struct procmaps_entry *e = &maps.entries[i];
		uint64_t v[5] = { e->start, e->end, e->offset, e->inode, ((uint64_t)e->dev_major << 32) | e->dev_minor };

		if (!e->exec)
			continue;
		any = true;
		for (int k = 0; k < 5; k++)
			h = (h ^ v[k]) * 1099511628211ull;
	}
	procmaps_free(&maps);
	return any ? (h ? h : 1) : 0;
}

/* A new process: its identity, and a symbolizer and unwinder of its own or borrowed from a live
 * member with the same layout. Caller holds ps->lock (for the members it may share with). */
static struct proc *proc_make(struct procs *ps, const struct procset_member *m)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->refs = 1;
	p->first_seen = m->first_seen;
	p->image = m->image;
	if (target_open(m->pid, &p->target) != 0 || p->target.start_time != m->start_time) {
		/* it ended (or its PID is someone else's already): an exited member with a name */
		memset(&p->target, 0, sizeof(p->target));
		p->target.pid = m->pid;
		p->target.start_time = m->start_time;
		snprintf(p->target.comm, sizeof(p->target.comm), "%s", m->comm);
		return p;
	}
	p->layout = layout_hash(m->pid);
	for (int i = 0; p->layout && i < ps->n; i++) {
		struct proc *o = ps->m[i];

		if (o->layout == p->layout && !o->exited_at && (o->sym || o->uw)) {
			struct proc *owner = o->shares ? o->shares : o;

			p->shares = proc__ref(owner);
			p->sym = owner->sym;
			p->uw = owner->uw;
			return p;
		}
	}
	p->sym = symbolizer__new(m->pid);
	p->uw = unwinder__new(m->pid);
	if (!p->sym || !p->uw)
		log_debug("procs: process %d (%s) could not be read for symbols or unwinding (it may have ended)",
			  (int)m->pid, m->comm);
	return p;
}

/* The member (pid, start, image), or -1; start 0: any start, image 0: any image. */
static int find(const struct procs *ps, pid_t pid, uint64_t start, uint64_t image)
{
	for (int i = 0; i < ps->n; i++)
		if (ps->m[i]->target.pid == pid && (!start || ps->m[i]->target.start_time == start) &&
		    (!image || ps->m[i]->image == image))
			return i;
	return -1;
}

/* Keeps exactly the processes the set lists; returns the ones that came and went, referenced. */
static int merge(struct procs *ps, const struct procset_delta *d, struct proc **came, int *ncame, struct proc **went,
		 int *nwent)
{
	struct procset_member *members = NULL;
	int n = procset__members(ps->set, &members), k = 0;
	int64_t now = profd_now_nanos();

	if (n < 0)
		return n;
	*ncame = *nwent = 0;
	pthread_mutex_lock(&ps->lock);
	for (int i = 0; i < d->nwent; i++) {
		int j = find(ps, d->went[i].pid, d->went[i].start_time, d->went[i].image);

		if (j >= 0 && !ps->m[j]->exited_at) {
			ps->m[j]->exited_at = d->went[i].exited_at ? d->went[i].exited_at : now;
			went[(*nwent)++] = proc__ref(ps->m[j]);
		}
	}
	for (int i = 0; i < d->ncame; i++) {
		struct proc *p;

		if (find(ps, d->came[i].pid, d->came[i].start_time, d->came[i].image) >= 0)
			continue;
		p = proc_make(ps, &d->came[i]);
		if (!p)
			continue;
		if (ps->n == ps->cap) {
			int cap = ps->cap ? ps->cap * 2 : 16;
			struct proc **m = realloc(ps->m, (size_t)cap * sizeof(*m));

			if (!m) {
				proc__put(p);
				continue;
			}
			ps->m = m;
			ps->cap = cap;
		}
		ps->m[ps->n++] = p;
		came[(*ncame)++] = proc__ref(p);
	}
	/* drop what the set no longer lists (exited members pushed out by its bound) */
	for (int i = 0; i < ps->n; i++) {
		bool listed = false;

		for (int j = 0; j < n && !listed; j++)
			listed = members[j].pid == ps->m[i]->target.pid &&
				 members[j].start_time == ps->m[i]->target.start_time &&
				 members[j].image == ps->m[i]->image;
		if (listed)
			ps->m[k++] = ps->m[i];
		else
			proc__put(ps->m[i]);
	}
	ps->n = k;
	pthread_mutex_unlock(&ps->lock);
	free(members);
	return 0;
}

int procs__scan(struct procs *ps)
{
	struct procset_delta d;
	struct proc **came = NULL, **went = NULL;
	struct procs_listener ls[PROCS_MAX_LISTENERS];
	int ncame = 0, nwent = 0, nls, r;

	pthread_mutex_lock(&ps->scan_lock);
	r = procset__scan(ps->set, &d);
	if (r < 0 || (!d.ncame && !d.nwent))
		goto out;
	came = calloc((size_t)d.ncame + 1, sizeof(*came));
	went = calloc((size_t)d.nwent + 1, sizeof(*went));
	if (!came || !went) {
		r = -ENOMEM;
		goto out;
	}
	r = merge(ps, &d, came, &ncame, went, &nwent);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&ps->lock);
	nls = ps->nlisteners;
	memcpy(ls, ps->listeners, sizeof(ls));
	pthread_mutex_unlock(&ps->lock);
	for (int i = 0; i < nwent; i++)
		for (int l = 0; l < nls; l++)
			if (ls[l].went)
				ls[l].went(ls[l].ctx, went[i]);
	for (int i = 0; i < ncame; i++)
		for (int l = 0; l < nls; l++)
			if (ls[l].came)
				ls[l].came(ls[l].ctx, came[i]);
out:
	for (int i = 0; i < ncame; i++)
		proc__put(came[i]);
	for (int i = 0; i < nwent; i++)
		proc__put(went[i]);
	free(came);
	free(went);
	pthread_mutex_unlock(&ps->scan_lock);
	return r;
}

static void *scan_main(void *arg)
{
	struct procs *ps = arg;

	pthread_mutex_lock(&ps->wake_lock);
	while (!atomic_load(&ps->stop)) {
		int64_t until = profd_mono_ns() + PROCS_SCAN_NS;
		struct timespec ts = { .tv_sec = until / 1000000000, .tv_nsec = until % 1000000000 };

		pthread_cond_timedwait(&ps->wake, &ps->wake_lock, &ts);
		if (atomic_load(&ps->stop))
			break;
		pthread_mutex_unlock(&ps->wake_lock);
		procs__scan(ps);
		pthread_mutex_lock(&ps->wake_lock);
	}
	pthread_mutex_unlock(&ps->wake_lock);
	return NULL;
}

int procs__new(const struct procset_config *cfg, struct procs **ret, char *err, size_t errlen)
{
	struct procset_member *members = NULL;
	pthread_condattr_t ca;
	struct procs *ps;
	int n, r;

	*ret = NULL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_mutex_init(&ps->scan_lock, NULL);
	pthread_mutex_init(&ps->wake_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ps->wake, &ca);
	pthread_condattr_destroy(&ca);
	ps->multi = cfg->kind != PROCSET_PID;
	r = procset__new(cfg, &ps->set, err, errlen);
	if (r < 0)
		goto fail;
	/* the first members (procset__new scanned once) */
	n = procset__members(ps->set, &members);
	if (n < 0) {
		r = n;
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		struct proc *p;

		if (members[i].exited_at)
			continue;
		p = proc_make(ps, &members[i]);
		if (!p)
			continue;
		if (ps->n == ps->cap) {
			int cap = ps->cap ? ps->cap * 2 : 16;
			struct proc **m = realloc(ps->m, (size_t)cap * sizeof(*m));

			if (!m) {
				proc__put(p);
				r = -ENOMEM;
				goto fail;
			}
			ps->m = m;
			ps->cap = cap;
		}
		ps->m[ps->n++] = p;
	}
	free(members);
	*ret = ps;
	return 0;
fail:
	free(members);
	procs__free(ps);
	return r;
}

int procs__start(struct procs *ps)
{
	int r = pthread_create(&ps->thread, NULL, scan_main, ps);

	if (r)
		return -r;
	ps->started = true;
	return 0;
}

void procs__free(struct procs *ps)
{
	if (!ps)
		return;
	pthread_mutex_lock(&ps->wake_lock);
	atomic_store(&ps->stop, true);
	pthread_cond_broadcast(&ps->wake);
	pthread_mutex_unlock(&ps->wake_lock);
	if (ps->started)
		pthread_join(ps->thread, NULL);
	for (int i = 0; i < ps->n; i++)
		proc__put(ps->m[i]);
	free(ps->m);
	procset__free(ps->set);
	pthread_mutex_destroy(&ps->lock);
	pthread_mutex_destroy(&ps->scan_lock);
	pthread_mutex_destroy(&ps->wake_lock);
	pthread_cond_destroy(&ps->wake);
	free(ps);
}

int procs__listen(struct procs *ps, const struct procs_listener *l)
{
	struct proc **list = NULL;
	int n;

	pthread_mutex_lock(&ps->lock);
	if (ps->nlisteners >= PROCS_MAX_LISTENERS) {
		pthread_mutex_unlock(&ps->lock);
		return -ENOSPC;
	}
	ps->listeners[ps->nlisteners++] = *l;
	pthread_mutex_unlock(&ps->lock);
	n = procs__list(ps, &list);
	for (int i = 0; i < n && l->came; i++)
		if (!proc__exited(ps, list[i]))
			l->came(l->ctx, list[i]);
	procs__list_free(list, n > 0 ? n : 0);
	return 0;
}

void procs__unlisten(struct procs *ps, void *ctx)
{
	/* the scan lock: no listener is being called when this returns */
	pthread_mutex_lock(&ps->scan_lock);
	pthread_mutex_lock(&ps->lock);
	for (int i = 0; i < ps->nlisteners;) {
		if (ps->listeners[i].ctx == ctx)
			ps->listeners[i] = ps->listeners[--ps->nlisteners];
		else
			i++;
	}
	pthread_mutex_unlock(&ps->lock);
	pthread_mutex_unlock(&ps->scan_lock);
}

struct proc *procs__get(struct procs *ps, pid_t pid)
{
	struct proc *p = NULL;
	int i;

	pthread_mutex_lock(&ps->lock);
	/* a live member first: a PID reused by a newcomer after an exited one */
	for (i = 0; i < ps->n; i++)
		if (ps->m[i]->target.pid == pid && !ps->m[i]->exited_at)
			break;
	if (i == ps->n)
		i = find(ps, pid, 0, 0);
	if (i >= 0 && i < ps->n)
		p = proc__ref(ps->m[i]);
	pthread_mutex_unlock(&ps->lock);
	return p;
}

int64_t proc__exited(struct procs *ps, const struct proc *p)
{
	int64_t t;

	pthread_mutex_lock(&ps->lock);
	t = p->exited_at;
	pthread_mutex_unlock(&ps->lock);
	return t;
}

static int cmp_list(const void *a, const void *b)
{
	const struct proc *x = *(struct proc *const *)a, *y = *(struct proc *const *)b;

	if (!x->exited_at != !y->exited_at)
		return x->exited_at ? 1 : -1;
	if (x->exited_at)
		return (y->exited_at > x->exited_at) - (y->exited_at < x->exited_at);
	return (x->target.pid > y->target.pid) - (x->target.pid < y->target.pid);
}

int procs__list(struct procs *ps, struct proc ***ret)
{
	int n;

	pthread_mutex_lock(&ps->lock);
	n = ps->n;
	*ret = malloc((size_t)(n ? n : 1) * sizeof(**ret));
	if (*ret) {
		for (int i = 0; i < n; i++)
			(*ret)[i] = proc__ref(ps->m[i]);
		qsort(*ret, (size_t)n, sizeof(**ret), cmp_list);
	}
	pthread_mutex_unlock(&ps->lock);
	return *ret ? n : -ENOMEM;
}

void procs__list_free(struct proc **list, int n)
{
	for (int i = 0; i < n; i++)
		proc__put(list[i]);
	free(list);
}

struct symbolizer *procs_list_symbolizer(void *arg, int64_t pid)
{
	const struct proc_list *l = arg;

	/* a one-process profile has no pid labels: its process is the only one */
	if (pid == 0)
		return l->n > 0 ? l->p[0]->sym : NULL;
	for (int i = 0; i < l->n; i++)
		if (l->p[i]->target.pid == pid)
			return l->p[i]->sym;
	return NULL;
}

static int cmp_proc_pid(const void *a, const void *b)
{
	pid_t x = (*(struct proc *const *)a)->target.pid, y = (*(struct proc *const *)b)->target.pid;

	return x < y ? -1 : x > y;
}

int procs_names__get(struct procs *ps, struct procs_names *nm)
{
	nm->refreshed = NULL;
	nm->n = procs__list(ps, &nm->list);
	if (nm->n < 0) {
		int r = nm->n;

		nm->list = NULL;
		nm->n = 0;
		return r;
	}
	qsort(nm->list, (size_t)nm->n, sizeof(*nm->list), cmp_proc_pid);
	nm->refreshed = calloc((size_t)nm->n + 1, sizeof(*nm->refreshed));
	if (!nm->refreshed) {
		procs_names__free(nm);
		return -ENOMEM;
	}
	return 0;
}

void procs_names__free(struct procs_names *nm)
{
	procs__list_free(nm->list, nm->n > 0 ? nm->n : 0);
	free(nm->refreshed);
	nm->list = NULL;
	nm->refreshed = NULL;
	nm->n = 0;
}

int procs_names__index(const struct procs_names *nm, pid_t pid)
{
	int lo = 0, hi = nm->n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		pid_t m = nm->list[mid]->target.pid;

		if (m == pid)
			return mid;
		if (m < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

struct proc *procs_names__find(const struct procs_names *nm, pid_t pid)
{
	int i = procs_names__index(nm, pid);

	return i < 0 ? NULL : nm->list[i];
}

struct symbolizer *procs_names__sym(const struct procs_names *nm, pid_t pid)
{
	int i = procs_names__index(nm, pid);

	if (i < 0 || !nm->list[i]->sym)
		return NULL;
	if (!nm->refreshed[i]) {
		nm->refreshed[i] = true;
		symbolizer__refresh(nm->list[i]->sym);
	}
	return nm->list[i]->sym;
}

struct symbolizer *procs_names_symbolizer(void *arg, int64_t pid)
{
	const struct procs_names *nm = arg;

	if (pid == 0)
		return nm->n > 0 ? procs_names__sym(nm, nm->list[0]->target.pid) : NULL;
	return procs_names__sym(nm, (pid_t)pid);
}

struct procset *procs__set(struct procs *ps)
{
	return ps->set;
}

bool procs__multi(const struct procs *ps)
{
	return ps->multi;
}
