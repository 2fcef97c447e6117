// SPDX-License-Identifier: MIT
/* Snapshots on the OOM and pressure triggers (snapshots.h): the main loop's thread reads the
 * triggers and takes the profiles from their sources at once; one helper thread at a time
 * encodes and writes them, under lock only for the hand-over. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "http/endpoints.h"
#include "pprof/pprof.h"
#include "pprof/provider.h"
#include "proc/mempressure.h"
#include "proc/proctext.h"
#include "proc/target.h"
#include "set/procs.h"
#include "snapshots.h"
#include "sources/oomwatch.h"

struct pending_file {
	const char *profile;
	char prefix[160];  /* "profd-heap-1234-": the series it belongs to */
	char path[4400];
	struct profd_sample_set *set;
};

struct snapshot_triggers {
	char *dir;
	int keep;
	struct procs *ps;
	const struct endpoints *ep;
	bool multi;
	struct oom_watch *oom;
	struct mempressure *mp;
	int64_t last_oom_ns, last_pressure_ns; /* CLOCK_MONOTONIC; 0: never */
	int64_t last_rescan_ns;
	/* over a set: the last `keep` OOM victims, whose files stay (a ring) */
	pid_t *victims;
	int victim_next;
	pid_t forget;       /* the writer's: a victim pushed out of the ring, whose files go */
	/* the writer: files handed over while !busy */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started, busy;
	struct pending_file files[SNAPSHOT_MAX_PROFILES]; /* the writer's */
	int nfiles;
	struct pending_file caught[SNAPSHOT_MAX_PROFILES]; /* the main thread's, before the hand-over */
	const char *trigger;
	uint64_t written, skipped;
};

static void *writer_main(void *arg)
{
	struct snapshot_triggers *t = arg;
	struct procs_names nm = { 0 };
	int r = procs_names__get(t->ps, &nm);

	for (int i = 0; i < t->nfiles; i++) {
		struct pending_file *f = &t->files[i];
		struct pprof_symbols syms = { .get = procs_names_symbolizer, .ctx = &nm };
		struct buf b = { 0 };

		if (r == 0)
			r = pprof_encode_procs(f->set, &syms, &b);
		if (r == 0)
			r = file_write_atomic(f->path, b.data, b.len);
		if (r == 0)
			files_prune(t->dir, f->prefix, ".pb.gz", t->keep);
		else
			log_error("--snapshot-on %s: cannot write %s: %s", t->trigger, f->path, strerror(-r));
		buf_free(&b);
		sample_set__free(f->set);
		f->set = NULL;
		r = r == -ENOMEM ? r : 0;
	}
	procs_names__free(&nm);
	if (t->forget) {
		static const char *const names[] = SNAPSHOT_PROFILES;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			char prefix[160];

			snprintf(prefix, sizeof(prefix), "profd-%s-%d-", names[i], (int)t->forget);
			files_prune(t->dir, prefix, ".pb.gz", 0);
		}
	}
	pthread_mutex_lock(&t->lock);
	t->busy = false;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void writer_wait(struct snapshot_triggers *t)
{
	pthread_mutex_lock(&t->lock);
	while (t->busy)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	if (t->thread_started) {
		pthread_join(t->thread, NULL);
		t->thread_started = false;
	}
}

/* Takes every profile of SNAPSHOT_PROFILES that profd serves, from what its source holds, and
 * hands them to the writer. who: the PID part of the names ("1234", "set-99"); scope_pid: the
 * process of a set the files are about (0: all). why: the log's reason. wait: rather than skip
 * while a write is in progress, take the profiles at once and wait for it to end. forget: a
 * victim whose files go once these are written (0: none). Returns 0 or -EBUSY. */
static int take(struct snapshot_triggers *t, const char *trigger, const char *who, pid_t scope_pid, const char *why,
		bool wait, pid_t forget)
{
	static const char *const names[] = SNAPSHOT_PROFILES;
	int64_t now = profd_now_nanos();
	time_t secs = (time_t)(now / 1000000000);
	char when[32], list[2048] = "", empty[256] = "", prefix[160];
	struct tm tm;
	bool busy;
	int n = 0;

	pthread_mutex_lock(&t->lock);
	busy = t->busy;
	pthread_mutex_unlock(&t->lock);
	if (busy && !wait) {
		t->skipped++;
		log_warn("--snapshot-on %s: %s; not written: the previous snapshot is still being written", trigger, why);
		return -EBUSY;
	}
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
	/* taken now, into the main thread's own slots: the writer may still use its own */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n < SNAPSHOT_MAX_PROFILES; i++) {
		const struct profd_profile *p = endpoints__profile(t->ep, names[i]);
		struct profd_scope scope = { .pid = scope_pid, .held = true };
		struct pending_file *f = &t->caught[n];
		struct profd_sample_set *set = NULL;
		int r;

		if (!p || !p->snapshot)
			continue;
		r = p->snapshot(p->ctx, &scope, &set);
		if (r < 0) {
			log_warn("--snapshot-on %s: cannot take the %s profile: %s", trigger, names[i], strerror(-r));
			continue;
		}
		if (scope_pid)
			sample_set__keep_pid(set, scope_pid);
		sample_set__comment(set, "written by --snapshot-on %s: %s", trigger, why);
		/* the heap is the point, written even empty (its comments say why); the others only
		 * when they hold something */
		if (!set->nsamples && strcmp(names[i], "heap") != 0) {
			snprintf(empty + strlen(empty), sizeof(empty) - strlen(empty), "%s%s", *empty ? ", " : "",
				 names[i]);
			sample_set__free(set);
			continue;
		}
		f->profile = names[i];
		f->set = set;
		snprintf(prefix, sizeof(prefix), "profd-%s-%s-", names[i], who);
		snprintf(f->prefix, sizeof(f->prefix), "%s", prefix);
		snprintf(f->path, sizeof(f->path), "%s/%s%s.%03dZ.pb.gz", t->dir, prefix, when,
			 (int)(now / 1000000 % 1000));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", n ? ", " : "", f->path);
		n++;
	}
	if (!n) {
		log_warn("--snapshot-on %s: %s; nothing to write: no heap profile is served", trigger, why);
		return 0;
	}
	log_info("--snapshot-on %s: %s: writing %s%s%s%s", trigger, why, list, *empty ? " (" : "", empty,
		 *empty ? ": nothing held)" : "");
	writer_wait(t); /* joins the finished thread (or, to wait, the one still writing) */
	memcpy(t->files, t->caught, (size_t)n * sizeof(t->files[0]));
	t->nfiles = n;
	t->forget = forget;
	t->trigger = trigger;
	t->written++;
	pthread_mutex_lock(&t->lock);
	t->busy = true;
	if (pthread_create(&t->thread, NULL, writer_main, t) != 0) {
		t->busy = false;
		pthread_mutex_unlock(&t->lock);
		log_error("--snapshot-on %s: cannot start the thread that writes the snapshot", trigger);
		for (int i = 0; i < n; i++)
			sample_set__free(t->files[i].set);
		t->nfiles = 0;
		return -EAGAIN;
	}
	t->thread_started = true;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* The member of the set the victim is, or NULL: the victim's PID is a thread's, its group
 * leader's but when the leader had exited. Referenced. */
static struct proc *victim_member(struct snapshot_triggers *t, pid_t pid)
{
	struct proc *p = procs__get_rescan(t->ps, pid, &t->last_rescan_ns);
	char path[64], text[4096];

	if (p)
		return p;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (proc_read_file(path, text, sizeof(text)) > 0) {
		long long tgid = proctext_status_field(text, "Tgid");

		if (tgid > 0 && tgid != pid)
			return procs__get_rescan(t->ps, (pid_t)tgid, &t->last_rescan_ns);
	}
	return NULL;
}

static void on_victim(struct snapshot_triggers *t, const struct oom_victim *v)
{
	struct proc *p = victim_member(t, v->pid);
	char why[256], who[32];
	int64_t now = profd_mono_ns();
	pid_t pid, out;

	if (!p) {
		log_debug("the OOM killer chose process %d, which profd does not serve", (int)v->pid);
		return;
	}
	pid = p->target.pid;
	if (v->anon_rss_kb)
		snprintf(why, sizeof(why), "the OOM killer chose process %d (%s, %llu MiB anonymous)", (int)pid,
			 p->target.comm, (unsigned long long)(v->anon_rss_kb >> 10));
	else
		snprintf(why, sizeof(why), "the OOM killer chose process %d (%s)", (int)pid, p->target.comm);
	proc__put(p);
	if (t->last_oom_ns && now - t->last_oom_ns < SNAPSHOT_OOM_INTERVAL_NS) {
		t->skipped++;
		log_warn("--snapshot-on oom: %s; not written: at most one OOM snapshot a second", why);
		return;
	}
	snprintf(who, sizeof(who), "%d", (int)pid);
	/* a pre-mortem is not given up for a write in progress, which takes milliseconds; over a
	 * set, the victim pushed out of the ring loses its files once these are written */
	out = t->multi ? t->victims[t->victim_next] : 0;
	if (take(t, "oom", who, t->multi ? pid : 0, why, true, out == pid ? 0 : out) == 0) {
		t->last_oom_ns = now;
		if (t->multi) {
			t->victims[t->victim_next] = pid;
			t->victim_next = (t->victim_next + 1) % t->keep;
		}
	}
}

static void on_pressure(struct snapshot_triggers *t, const char *what)
{
	int64_t now = profd_mono_ns();
	char why[512], who[32];

	if (t->last_pressure_ns && now - t->last_pressure_ns < SNAPSHOT_PRESSURE_INTERVAL_NS) {
		t->skipped++;
		log_debug("--snapshot-on pressure: %s; not written: at most one pressure snapshot every %lld s", what,
			  SNAPSHOT_PRESSURE_INTERVAL_NS / 1000000000);
		return;
	}
	snprintf(why, sizeof(why), "memory pressure on %s (%s)", procset__describe(procs__set(t->ps)), what);
	if (t->multi)
		snprintf(who, sizeof(who), "set-%d", (int)getpid());
	else {
		struct proc **list = NULL;
		int n = procs__list(t->ps, &list);

		snprintf(who, sizeof(who), "%d", n > 0 ? (int)list[0]->target.pid : 0);
		procs__list_free(list, n > 0 ? n : 0);
	}
	if (take(t, "pressure", who, 0, why, false, 0) == 0)
		t->last_pressure_ns = now;
}

int snapshot_triggers__new(const struct snapshot_config *cfg, struct procs *ps, const struct endpoints *ep,
			   struct snapshot_triggers **ret)
{
	struct snapshot_triggers *t = calloc(1, sizeof(*t));
	char err[1024];

	*ret = NULL;
	if (!t)
		return -ENOMEM;
	t->dir = strdup(cfg->dir);
	t->keep = cfg->keep > 0 ? cfg->keep : 1;
	t->ps = ps;
	t->ep = ep;
	t->multi = procs__multi(ps);
	t->victims = calloc((size_t)t->keep, sizeof(*t->victims));
	if (!t->victims || !t->dir) {
		free(t->victims);
		free(t->dir);
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (!endpoints__profile(ep, "heap"))
		log_warn("--snapshot-on: heap profiling is unavailable, so snapshots hold no heap profile");
	if (cfg->oom) {
		if (oom_watch__new(&t->oom, err, sizeof(err)) == 0)
			log_info("--snapshot-on oom: watching the OOM killer (tracepoint oom:mark_victim): a victim among "
				 "%s gets its profiles written to %s", procset__describe(procs__set(ps)), t->dir);
		else
			log_warn("--snapshot-on oom is unavailable: %s", err);
	}
	if (cfg->pressure) {
		const char *cg = procset__cgroup(procs__set(ps));

		if (mempressure__new(cfg->pid, cg, &t->mp, err, sizeof(err)) == 0)
			log_info("--snapshot-on pressure: watching %s (at most one snapshot every %lld s)",
				 mempressure__describe(t->mp), SNAPSHOT_PRESSURE_INTERVAL_NS / 1000000000);
		else
			log_warn("--snapshot-on pressure is unavailable: %s", err);
	}
	*ret = t;
	return 0;
}

void snapshot_triggers__free(struct snapshot_triggers *t)
{
	if (!t)
		return;
	writer_wait(t);
	if (t->oom) {
		uint64_t victims, lost;

		oom_watch__stats(t->oom, &victims, &lost);
		log_info("--snapshot-on: %llu snapshot%s written, %llu not (rate limit, or one being written); OOM kills "
			 "on the system: %llu%s", (unsigned long long)t->written, t->written == 1 ? "" : "s",
			 (unsigned long long)t->skipped, (unsigned long long)victims,
			 lost ? " (some victims were lost: a burst filled the queue)" : "");
	} else {
		log_info("--snapshot-on: %llu snapshot%s written, %llu not (rate limit, or one being written)",
			 (unsigned long long)t->written, t->written == 1 ? "" : "s", (unsigned long long)t->skipped);
	}
	oom_watch__free(t->oom);
	mempressure__free(t->mp);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t->victims);
	free(t->dir);
	free(t);
}

int snapshot_triggers__pollfds(const struct snapshot_triggers *t, struct pollfd *pfd)
{
	int n = 0;

	if (t->oom)
		pfd[n++] = (struct pollfd){ .fd = oom_watch__fd(t->oom), .events = POLLIN };
	if (t->mp)
		n += mempressure__pollfds(t->mp, pfd + n);
	return n;
}

void snapshot_triggers__check(struct snapshot_triggers *t)
{
	char why[256];

	if (t->oom) {
		struct oom_victim v[16];
		int n = oom_watch__read(t->oom, v, 16);

		for (int i = 0; i < n; i++)
			on_victim(t, &v[i]);
	}
	if (t->mp) {
		int r = mempressure__check(t->mp, why, sizeof(why));

		if (r > 0)
			on_pressure(t, why);
		else if (r == -ENODEV)
			log_warn("--snapshot-on pressure: the cgroup watched was removed; memory pressure is no longer "
				 "watched (%s)", mempressure__describe(t->mp));
	}
}

void snapshot_triggers__finish(struct snapshot_triggers *t)
{
	if (t->oom) {
		struct oom_victim v[16];
		int n = oom_watch__read(t->oom, v, 16);

		for (int i = 0; i < n; i++)
			on_victim(t, &v[i]);
	}
	writer_wait(t);
}
