// SPDX-License-Identifier: MIT
/* Thread dumps over a set of processes (threads_set.h). The entries (one threads_source per live
 * process) change under `lock` from procs' scan thread; a dump copies them, with references, and
 * dumps each process without the lock. Dumps of one set serialize on `dump_lock`. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pprof/pprof.h"
#include "set/procs.h"
#include "sources/taskiter.h"
#include "sources/threads.h"
#include "sources/threads_set.h"

struct entry {
	struct proc *p;               /* referenced */
	struct threads_source *src;
};

struct threads_set {
	struct procs *ps;
	size_t stack_bytes;
	struct taskiter *ti; /* one BPF task iterator for every process; NULL: ptrace only */
	char ti_why[512];    /* why ti is NULL */
	pthread_mutex_t lock;
	struct entry *e;
	int n, cap;
	pthread_mutex_t dump_lock;
	char error[512];
	threads_creator_fn creator_fn; /* under lock; "created by" trailers, NULL: none */
	void *creator_ctx;
};

static void on_came(void *ctx, struct proc *p)
{
	struct threads_set *ts = ctx;
	struct threads_source *src;

	if (!p->uw || !p->sym)
		return; /* it ended before it could be read */
	src = threads_source__new_shared(&p->target, p->uw, p->sym, ts->stack_bytes, ts->ti, ts->ti_why);
	if (!src)
		return;
	pthread_mutex_lock(&ts->lock);
	if (ts->creator_fn)
		threads_source__set_creators(src, ts->creator_fn, ts->creator_ctx);
	if (ts->n == ts->cap) {
		int cap = ts->cap ? ts->cap * 2 : 16;
		struct entry *e = realloc(ts->e, (size_t)cap * sizeof(*e));

		if (!e) {
			pthread_mutex_unlock(&ts->lock);
			threads_source__free(src);
			return;
		}
		ts->e = e;
		ts->cap = cap;
	}
	ts->e[ts->n++] = (struct entry){ .p = proc__ref(p), .src = src };
	pthread_mutex_unlock(&ts->lock);
}

/* An ended process is dropped; a dump that holds its entry keeps it until the dump ends. */
static void entry_release(struct entry *e)
{
	threads_source__free(e->src);
	proc__put(e->p);
}

static void on_went(void *ctx, struct proc *p)
{
	struct threads_set *ts = ctx;
	struct entry gone = { 0 };

	pthread_mutex_lock(&ts->lock);
	for (int i = 0; i < ts->n; i++) {
		if (ts->e[i].p == p) {
			gone = ts->e[i];
			ts->e[i] = ts->e[--ts->n];
			break;
		}
	}
	pthread_mutex_unlock(&ts->lock);
	/* the dump lock: a dump in progress may be using this process's source */
	if (gone.src) {
		pthread_mutex_lock(&ts->dump_lock);
		entry_release(&gone);
		pthread_mutex_unlock(&ts->dump_lock);
	}
}

struct threads_set *threads_set__new(struct procs *ps, size_t stack_bytes, enum threads_method method)
{
	struct procs_listener l = { .came = on_came, .went = on_went };
	struct threads_set *ts = calloc(1, sizeof(*ts));
	int r;

	if (!ts) {
		errno = ENOMEM;
		return NULL;
	}
	ts->ps = ps;
	ts->stack_bytes = stack_bytes;
	/* loaded once for the set, before any process joins: a process costs one link, not one
	 * program and ring buffer */
	ts->ti = threads_taskiter_new(0, stack_bytes, method, ts->ti_why, sizeof(ts->ti_why));
	pthread_mutex_init(&ts->lock, NULL);
	pthread_mutex_init(&ts->dump_lock, NULL);
	l.ctx = ts;
	r = procs__listen(ps, &l);
	if (r < 0) {
		threads_set__free(ts);
		errno = -r;
		return NULL;
	}
	return ts;
}

void threads_set__free(struct threads_set *ts)
{
	if (!ts)
		return;
	procs__unlisten(ts->ps, ts);
	for (int i = 0; i < ts->n; i++)
		entry_release(&ts->e[i]);
	free(ts->e);
	taskiter__free(ts->ti); /* after the sources that walk with it */
	pthread_mutex_destroy(&ts->lock);
	pthread_mutex_destroy(&ts->dump_lock);
	free(ts);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->p->target.pid > y->p->target.pid) - (x->p->target.pid < y->p->target.pid);
}

/* The entries to dump (all, or pid's), sorted by PID; called with dump_lock held, which keeps
 * them alive. Returns the number or -errno. */
static int select_entries(struct threads_set *ts, pid_t pid, struct entry **ret)
{
	int n = 0;

	pthread_mutex_lock(&ts->lock);
	*ret = malloc((size_t)(ts->n ? ts->n : 1) * sizeof(**ret));
	for (int i = 0; *ret && i < ts->n; i++)
		if (!pid || ts->e[i].p->target.pid == pid)
			(*ret)[n++] = ts->e[i];
	pthread_mutex_unlock(&ts->lock);
	if (!*ret)
		return -ENOMEM;
	qsort(*ret, (size_t)n, sizeof(**ret), cmp_entry);
	if (pid && n == 0) {
		free(*ret);
		*ret = NULL;
		return -ESRCH;
	}
	return n;
}

/* A snapshot of every selected process, each sample labelled; owner_pids: label with the pid of
 * the process whose layout it shares (so identical stacks of forked workers merge) and leave out
 * the process name. */
static int combined_snapshot(struct threads_set *ts, const struct entry *e, int n, bool owner_pids,
			     struct profd_sample_set **ret)
{
	struct profd_sample_set *all = NULL;
	int r = 0, dumped = 0;

	*ret = NULL;
	ts->error[0] = '\0';
	for (int i = 0; i < n && r >= 0; i++) {
		struct profd_sample_set *one = NULL;
		const struct proc *p = e[i].p;
		struct profd_label labels[2] = {
			{ .key = "pid", .num = owner_pids && p->shares ? p->shares->target.pid : p->target.pid },
			{ .key = "process", .str = (char *)p->target.comm },
		};
		int err = threads_source__snapshot(e[i].src, &one);

		if (err == -ESRCH)
			continue; /* it ended during the dump */
		if (err) {
			snprintf(ts->error, sizeof(ts->error), "process %d (%s): %s", (int)p->target.pid,
				 p->target.comm, err == -EPERM ? threads_source__error(e[i].src) : strerror(-err));
			continue;
		}
		if (!all) {
			/* the first process's header: sample and period types, time */
			all = sample_set__new(one->nvalues);
			if (!all) {
				sample_set__free(one);
				return -ENOMEM;
			}
			memcpy(all->types, one->types, sizeof(all->types));
			all->period_type = one->period_type;
			all->period = one->period;
			all->default_sample_type = one->default_sample_type;
			all->time_nanos = one->time_nanos;
		}
		dumped++;
		for (size_t s = 0; s < one->nsamples && r >= 0; s++)
			r = sample_set__add(all, one->samples[s].pcs, one->samples[s].nframes, one->samples[s].values,
					    labels, owner_pids ? 1 : 2);
		for (int c = 0; c < one->ncomments; c++)
			sample_set__comment(all, "process %d: %s", (int)p->target.pid, one->comments[c]);
		sample_set__free(one);
	}
	if (r < 0) {
		sample_set__free(all);
		return r;
	}
	if (!dumped) {
		sample_set__free(all);
		return n ? -EPERM : -ESRCH;
	}
	if (ts->error[0])
		sample_set__comment(all, "not dumped: %s", ts->error);
	*ret = all;
	return 0;
}

int threads_set__snapshot(struct threads_set *ts, pid_t pid, struct profd_sample_set **ret)
{
	struct entry *e = NULL;
	int n, r;

	pthread_mutex_lock(&ts->dump_lock);
	n = select_entries(ts, pid, &e);
	r = n < 0 ? n : combined_snapshot(ts, e, n, false, ret);
	pthread_mutex_unlock(&ts->dump_lock);
	free(e);
	return r;
}

int threads_set__dump_text(struct threads_set *ts, pid_t pid, int debug, struct buf *out)
{
	struct entry *e = NULL;
	int n, r = 0, dumped = 0;

	if (debug <= 0)
		return -EINVAL;
	pthread_mutex_lock(&ts->dump_lock);
	n = select_entries(ts, pid, &e);
	if (n < 0) {
		r = n;
		goto out;
	}
	if (debug == 1) {
		struct profd_sample_set *set = NULL;
		struct proc **list = NULL;
		int nl;

		r = combined_snapshot(ts, e, n, true, &set);
		if (r < 0)
			goto out;
		nl = procs__list(ts->ps, &list);
		if (nl < 0) {
			r = nl;
		} else {
			struct proc_list pl = { .p = list, .n = nl };
			struct pprof_symbols syms = { .get = procs_list_symbolizer, .ctx = &pl };

			r = pprof_write_count_text_procs("goroutine", set, &syms, out);
			procs__list_free(list, nl);
		}
		sample_set__free(set);
		goto out;
	}
	ts->error[0] = '\0';
	for (int i = 0; i < n && r >= 0; i++) {
		const struct proc *p = e[i].p;
		struct buf one = { 0 };
		int err = threads_source__dump_text(e[i].src, 2, &one);
		int threads = 0;

		for (size_t k = 0; err == 0 && k + 10 <= one.len; k++)
			threads += (k == 0 || one.data[k - 1] == '\n') && memcmp(one.data + k, "goroutine ", 10) == 0;
		if (err == -ESRCH) {
			buf_free(&one);
			continue;
		}
		if (err) {
			snprintf(ts->error, sizeof(ts->error), "process %d (%s): %s", (int)p->target.pid,
				 p->target.comm, err == -EPERM ? threads_source__error(e[i].src) : strerror(-err));
			r = buf_printf(out, "%sprocess %d (%s): not dumped: %s\n", dumped ? "\n" : "", (int)p->target.pid,
				       p->target.comm, err == -EPERM ? threads_source__error(e[i].src) : strerror(-err));
			buf_free(&one);
			continue;
		}
		/* a line per process, then its blocks in Go's shape; blank lines between blocks */
		r = buf_printf(out, "%sprocess %d (%s): %d thread%s\n\n", dumped ? "\n" : "", (int)p->target.pid,
			       p->target.comm, threads, threads == 1 ? "" : "s");
		if (r >= 0)
			r = buf_append(out, one.data, one.len);
		dumped++;
		buf_free(&one);
	}
	if (r >= 0 && !dumped)
		r = n ? -EPERM : -ESRCH;
out:
	pthread_mutex_unlock(&ts->dump_lock);
	free(e);
	return r < 0 ? r : 0;
}

void threads_set__set_creators(struct threads_set *ts, threads_creator_fn fn, void *ctx)
{
	pthread_mutex_lock(&ts->lock);
	ts->creator_fn = fn;
	ts->creator_ctx = ctx;
	/* a dump copies the entries under lock before it reads a source's creator */
	for (int i = 0; i < ts->n; i++)
		threads_source__set_creators(ts->e[i].src, fn, ctx);
	pthread_mutex_unlock(&ts->lock);
}

const char *threads_set__error(struct threads_set *ts)
{
	return ts->error;
}

int threads_set__summary(struct threads_set *ts, struct buf *out)
{
	int lines = 0;

	pthread_mutex_lock(&ts->lock);
	for (int i = 0; i < ts->n; i++) {
		size_t before = out->len;

		if (lines)
			buf_puts(out, "; ");
		if (threads_source__summary(ts->e[i].src, out) == 0)
			lines++;
		else
			out->len = before;
	}
	pthread_mutex_unlock(&ts->lock);
	/* how dumps are taken: before the first, or when the iterator is unavailable (said once) */
	if (!lines || !ts->ti) {
		if (lines)
			buf_puts(out, "; ");
		threads_method_describe(ts->ti, ts->ti_why, out);
	}
	if (out->data)
		out->data[out->len] = '\0';
	return 0;
}

bool threads_set__iterator(const struct threads_set *ts, const char **ret_why)
{
	if (ret_why)
		*ret_why = ts->ti ? "" : ts->ti_why;
	return ts->ti != NULL;
}

static int profile_count(void *ctx)
{
	struct threads_set *ts = ctx;
	int total = 0;

	pthread_mutex_lock(&ts->lock);
	for (int i = 0; i < ts->n; i++) {
		int c = target_thread_count(&ts->e[i].p->target);

		if (c > 0)
			total += c;
	}
	pthread_mutex_unlock(&ts->lock);
	return total;
}

static int profile_snapshot(void *ctx, const struct profd_scope *scope, struct profd_sample_set **ret)
{
	return threads_set__snapshot(ctx, scope ? scope->pid : 0, ret);
}

static int profile_write_text(void *ctx, const struct profd_scope *scope, int debug, struct buf *out)
{
	return threads_set__dump_text(ctx, scope ? scope->pid : 0, debug, out);
}

static int profile_status(void *ctx, struct buf *out)
{
	return threads_set__summary(ctx, out);
}

void threads_set__profile(struct threads_set *ts, struct profd_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->name = "goroutine";
	ret->description = "Stack traces of all current threads of every process of the set (each thread shown as "
			   "a goroutine), grouped by process. Use debug=2 for the panic-style dump.";
	ret->ctx = ts;
	ret->count = profile_count;
	ret->snapshot = profile_snapshot;
	ret->write_text = profile_write_text;
	ret->status = profile_status;
}
