// SPDX-License-Identifier: MIT
/* The /debug/pprof router with Go's exact surface (pprof-compat.md 1.x): index, redirect,
 * cmdline, symbol, named profiles (debug=, seconds= deltas or collections) and the CPU profile.
 * Sources hand over sample sets through pprof/provider.h; this module turns them into
 * responses. Requests of each kind run in their own bounded pool, so that long ones never keep
 * quick ones out: windows (?seconds=N, the CPU profile), MAX_WINDOWS for all profiles together;
 * snapshots (a profile now), MAX_SNAPSHOTS per profile; the index, cmdline and symbol are not
 * pooled. HEAD answers with the headers only and takes nothing from the target.
 * Thread-safe after registration: the table is read-only while serving; the pools are atomic
 * counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "http/endpoints.h"
#include "http/history.h"
#include "http/query.h"
#include "http/resources.h"
#include "http/symbolz.h"
#include "pprof/pprof.h"
#include "proc/procstat.h"
#include "proc/target.h"
#include "set/procs.h"
#include "symbols/symbolize.h"

#define PREFIX "/debug/pprof/"
/* Go's CPU profile length when seconds= is absent or not a positive integer */
#define CPU_DEFAULT_SECONDS 30
#define MAX_PROFILES 24
/* Requests that collect over a window (?seconds=N of any profile, and every CPU profile), all
 * profiles together: each holds a thread and, for a delta, a snapshot for the whole window. */
#define MAX_WINDOWS 16
/* Requests that take a profile now (thread dump, heap snapshot, text), per profile: a few waiting
 * behind a slow dump is plenty. */
#define MAX_SNAPSHOTS 4

struct endpoints {
	struct procs *ps;
	struct proc *single;           /* --pid: the one process (referenced); NULL for a set */
	int max_seconds;
	int nprofiles;
	struct profd_profile profiles[MAX_PROFILES];
	int windows;                   /* atomic */
	int snapshots[MAX_PROFILES];   /* atomic, per profile */
	uint64_t served[MAX_PROFILES]; /* atomic, per profile: requests answered */
	uint64_t scrapes;              /* atomic: /metrics requests */
	struct history *hist;          /* borrowed; NULL: no history */
	int nunavailable;
	struct unavailable {           /* profiles this target cannot have, and why */
		char name[32];
		char reason[512];
	} unavailable[MAX_PROFILES];
};

/* Takes a place in a pool of max; false when it is full. */
static bool pool_enter(int *pool, int max)
{
	if (__atomic_add_fetch(pool, 1, __ATOMIC_ACQ_REL) <= max)
		return true;
	__atomic_sub_fetch(pool, 1, __ATOMIC_ACQ_REL);
	return false;
}

static void pool_leave(int *pool)
{
	__atomic_sub_fetch(pool, 1, __ATOMIC_ACQ_REL);
}

static bool is_head(const struct http_request *req)
{
	return strcmp(req->method, "HEAD") == 0;
}

struct endpoints *endpoints__new(struct procs *ps)
{
	struct endpoints *ep = calloc(1, sizeof(*ep));

	if (!ep)
		return NULL;
	ep->ps = ps;
	if (!procs__multi(ps)) {
		struct proc **list = NULL;
		int n = procs__list(ps, &list);

		ep->single = n > 0 ? proc__ref(list[0]) : NULL;
		procs__list_free(list, n > 0 ? n : 0);
		if (!ep->single) {
			free(ep);
			return NULL;
		}
	}
	ep->max_seconds = 300;
	return ep;
}

void endpoints__free(struct endpoints *ep)
{
	if (!ep)
		return;
	proc__put(ep->single);
	free(ep);
}

/* The target process of --pid, NULL for a set (which does not end). */
static const struct target *single_target(const struct endpoints *ep)
{
	return ep->single ? &ep->single->target : NULL;
}

/* What one request is about. */
struct reqctx {
	struct profd_scope scope; /* ?pid=N (0: all) */
	struct proc *proc;        /* referenced: ?pid='s, the single one, else the first live one; may be NULL */
};

static void reqctx_release(struct reqctx *rc)
{
	proc__put(rc->proc);
	rc->proc = NULL;
}

/* ?pid=N: a member of the set (live or kept after it ended), or a 404 that says how to list the
 * set; without it the single process, or the set's first live one. Returns false when it
 * answered. */
static bool reqctx_init(struct endpoints *ep, const struct http_request *req, struct http_response *resp,
			struct reqctx *rc)
{
	const char *v = http_request__arg(req, "pid");
	int64_t pid;

	memset(rc, 0, sizeof(*rc));
	if (v && *v) {
		if (query_parse_int64(v, &pid) != 0 || pid <= 0 || pid > INT32_MAX) {
			http_response__error(resp, 400, "invalid value for \"pid\" - must be a process ID");
			return false;
		}
		rc->proc = procs__get(ep->ps, (pid_t)pid);
		if (!rc->proc) {
			http_response__error(resp, 404, "process %lld is not one of the processes profd serves (%s); "
					     "the index, /debug/pprof/, lists them", (long long)pid,
					     procset__describe(procs__set(ep->ps)));
			return false;
		}
		rc->scope.pid = ep->single ? 0 : (int)pid;
		return true;
	}
	if (ep->single) {
		rc->proc = proc__ref(ep->single);
	} else {
		struct proc **list = NULL;
		int n = procs__list(ep->ps, &list);

		if (n > 0 && !proc__exited(ep->ps, list[0]))
			rc->proc = proc__ref(list[0]);
		procs__list_free(list, n > 0 ? n : 0);
	}
	return true;
}

/* The pprof resolver over the processes of the set, refreshing each symbolizer once per request
 * (objects dlopen'ed since the last one). */
struct req_syms {
	struct proc **list;
	int n;
	bool *refreshed;
	struct pprof_symbols syms;
};

static struct symbolizer *req_symbolizer(void *arg, int64_t pid)
{
	struct req_syms *rs = arg;

	for (int i = 0; i < rs->n; i++) {
		struct proc *p = rs->list[i];

		/* pid 0: a one-process profile, whose process is the first */
		if (pid != 0 && p->target.pid != pid)
			continue;
		if (p->sym && !rs->refreshed[i]) {
			rs->refreshed[i] = true;
			symbolizer__refresh(p->sym);
		}
		return p->sym;
	}
	return NULL;
}

static int req_syms_init(struct endpoints *ep, struct req_syms *rs)
{
	if (ep->single) {
		rs->list = malloc(sizeof(*rs->list));
		rs->n = rs->list ? 1 : -ENOMEM;
		if (rs->list)
			rs->list[0] = proc__ref(ep->single);
	} else {
		rs->n = procs__list(ep->ps, &rs->list);
	}
	if (rs->n < 0)
		return rs->n;
	rs->refreshed = calloc((size_t)rs->n + 1, sizeof(*rs->refreshed));
	if (!rs->refreshed) {
		procs__list_free(rs->list, rs->n);
		return -ENOMEM;
	}
	rs->syms.get = req_symbolizer;
	rs->syms.ctx = rs;
	return 0;
}

static void req_syms_release(struct req_syms *rs)
{
	procs__list_free(rs->list, rs->n > 0 ? rs->n : 0);
	free(rs->refreshed);
}

static bool name_taken(const struct endpoints *ep, const char *name)
{
	if (strcmp(name, "cmdline") == 0 || strcmp(name, "symbol") == 0 || strcmp(name, "history") == 0)
		return true;
	for (int i = 0; i < ep->nprofiles; i++)
		if (strcmp(ep->profiles[i].name, name) == 0)
			return true;
	return false;
}

static const struct unavailable *find_unavailable(const struct endpoints *ep, const char *name)
{
	for (int i = 0; i < ep->nunavailable; i++)
		if (strcmp(ep->unavailable[i].name, name) == 0)
			return &ep->unavailable[i];
	return NULL;
}

int endpoints__add_profile(struct endpoints *ep, const struct profd_profile *p)
{
	if (!p->snapshot && !p->collect)
		return -EINVAL;
	if (name_taken(ep, p->name) || find_unavailable(ep, p->name))
		return -EEXIST;
	if (ep->nprofiles >= MAX_PROFILES)
		return -ENOSPC;
	ep->profiles[ep->nprofiles++] = *p;
	return 0;
}

int endpoints__add_unavailable(struct endpoints *ep, const char *name, const char *reason)
{
	struct unavailable *u;

	if (!name || !*name || !reason)
		return -EINVAL;
	if (name_taken(ep, name) || find_unavailable(ep, name))
		return -EEXIST;
	if (ep->nunavailable >= MAX_PROFILES)
		return -ENOSPC;
	u = &ep->unavailable[ep->nunavailable++];
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->reason, sizeof(u->reason), "%s", reason);
	return 0;
}

const struct profd_profile *endpoints__profile(const struct endpoints *ep, const char *name)
{
	for (int i = 0; i < ep->nprofiles; i++)
		if (strcmp(ep->profiles[i].name, name) == 0)
			return &ep->profiles[i];
	return NULL;
}

void endpoints__set_max_seconds(struct endpoints *ep, int max_seconds)
{
	ep->max_seconds = max_seconds;
}

void endpoints__set_history(struct endpoints *ep, struct history *h)
{
	ep->hist = h;
}

int endpoints__gather(void *ctx, const struct profd_scope *scope, struct metrics *m)
{
	struct endpoints *ep = ctx;
	int err = 0;

	for (int i = 0; i < ep->nprofiles && !err; i++) {
		const struct profd_profile *p = &ep->profiles[i];

		if (p->metrics)
			err = p->metrics(p->ctx, scope, m);
	}
	return err;
}

static void html_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '&': buf_puts(out, "&amp;"); break;
		case '"': buf_puts(out, "&#34;"); break;
		case '\'': buf_puts(out, "&#39;"); break;
		default: buf_putc(out, *s);
		}
	}
}

/* Index rows, sorted by name like Go's. */
struct index_row {
	const char *name;
	const char *description;
	char count[24];
};

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct index_row *)a)->name, ((const struct index_row *)b)->name);
}

static void format_when(int64_t ns, char *out, size_t len)
{
	if (ns <= 0)
		snprintf(out, len, "?");
	else
		profd_format_utc(ns, out, len);
}

/* The processes of a set: one row each, live ones first, with a ?pid= link. */
static void index_processes(struct endpoints *ep, struct buf *out)
{
	struct procset *set = procs__set(ep->ps);
	struct procset_stats st;
	struct proc **list = NULL;
	int n = procs__list(ep->ps, &list), live = 0;

	procset__stats(set, &st);
	for (int i = 0; i < n; i++)
		live += !proc__exited(ep->ps, list[i]);
	buf_puts(out, "<p>profd: profiles of ");
	html_escape(out, procset__describe(set));
	if (live)
		buf_printf(out, ": %d process%s now", live, live == 1 ? "" : "es");
	else
		buf_puts(out, ": no process in it now; waiting (its profiles keep what they had)");
	buf_printf(out, "; %llu came and %llu went since profd started", (unsigned long long)st.came,
		   (unsigned long long)st.went);
	if (st.dropped)
		buf_printf(out, "; %llu more not followed (--max-processes)", (unsigned long long)st.dropped);
	buf_puts(out, ".</p>\n<table>\n<thead><td>PID</td><td>Process</td><td>Threads</td><td>RSS</td>"
		      "<td>Running since</td></thead>\n");
	for (int i = 0; i < n; i++) {
		const struct proc *p = list[i];
		int64_t exited = proc__exited(ep->ps, p);
		char since[32], ended[32];
		int threads = -1;
		long rss = -1;

		format_when(target_started_at(&p->target), since, sizeof(since));
		if (!exited)
			target_status(&p->target, &threads, &rss);
		buf_printf(out, "<tr><td><a href='?pid=%d'>%d</a></td><td>", (int)p->target.pid, (int)p->target.pid);
		html_escape(out, p->target.comm);
		if (exited) {
			format_when(exited, ended, sizeof(ended));
			buf_printf(out, "</td><td></td><td></td><td>%s (exited %s)</td></tr>\n", since, ended);
			continue;
		}
		buf_printf(out, "</td><td>%d</td><td>%ld MiB</td><td>%s</td></tr>\n", threads, rss >= 0 ? rss / 1024 : -1,
			   since);
	}
	buf_puts(out, "</table>\n");
	procs__list_free(list, n > 0 ? n : 0);
}

/* The history's charts on the index: of the one process or the whole set, or of ?pid='s. */
static void index_history(struct endpoints *ep, const struct reqctx *rc, struct buf *out)
{
	int series;

	if (!ep->hist) {
		buf_puts(out, "<p>No resource history (--history-length 0).</p>\n");
		return;
	}
	series = history__find(ep->hist, rc->scope.pid);
	if (series < 0) {
		buf_printf(out, "<p>Process %d has no history of its own: over a set, the first %d processes seen get "
				"one; the set's history counts it. <a href='./'>The set's history</a>.</p>\n",
			   rc->scope.pid, HISTORY_MAX_PROCS);
		return;
	}
	history__write_charts(ep->hist, series, out);
}

static void serve_index(struct endpoints *ep, const struct reqctx *rc, struct http_response *resp)
{
	struct index_row rows[MAX_PROFILES + 1];
	struct buf *out = &resp->body;
	char comm[64], exe[4096];
	int n = 0;

	rows[n].name = "cmdline";
	rows[n].description = "The target's command line, NUL-separated, from /proc/PID/cmdline.";
	rows[n++].count[0] = '\0';
	for (int i = 0; i < ep->nprofiles; i++) {
		const struct profd_profile *p = &ep->profiles[i];
		int c = p->count ? p->count(p->ctx) : -1;

		rows[n].name = p->name;
		rows[n].description = p->description;
		if (c >= 0)
			snprintf(rows[n].count, sizeof(rows[n].count), "%d", c);
		else
			rows[n].count[0] = '\0';
		n++;
	}
	qsort(rows, (size_t)n, sizeof(rows[0]), row_cmp);

	resp->content_type = "text/html; charset=utf-8";
	buf_puts(out, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
		      ".profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n"
		      "figure.chart{\n\tdisplay:inline-block;\n\tmargin:0 1rem 0.5rem 0;\n}\n</style>\n</head>\n<body>\n"
		      "/debug/pprof/\n<br>\n");
	if (ep->single) {
		const struct target *t = &ep->single->target;
		int64_t up_s = (profd_mono_ns() - t->attached_at) / 1000000000;
		int threads = target_thread_count(t);

		/* read now: a process that execs changes both */
		if (target_names(t, comm, sizeof(comm), exe, sizeof(exe)) != 0) {
			snprintf(comm, sizeof(comm), "%s", t->comm);
			snprintf(exe, sizeof(exe), "%s", t->exe);
		}
		buf_printf(out, "<p>profd: profiles of process %d (", (int)t->pid);
		html_escape(out, comm);
		buf_puts(out, ")");
		if (threads >= 0)
			buf_printf(out, ", %d threads", threads);
		buf_printf(out, ", attached for %lldh%02lldm%02llds.</p>\n", (long long)(up_s / 3600),
			   (long long)(up_s / 60 % 60), (long long)(up_s % 60));
		if (exe[0]) {
			buf_puts(out, "<p>Executable: ");
			html_escape(out, exe);
			buf_puts(out, "</p>\n");
		}
	} else {
		index_processes(ep, out);
	}
	buf_puts(out, "<p><a href='/metrics'>/metrics</a>: resources of each process and profd's own, in "
		      "Prometheus's text format.</p>\n");
	index_history(ep, rc, out);
	buf_printf(out, "<p>In progress: %d of %d profiles over time (?seconds=N, CPU profiles).</p>\n",
		   __atomic_load_n(&ep->windows, __ATOMIC_ACQUIRE), MAX_WINDOWS);
	for (int i = 0; i < ep->nprofiles; i++) {
		const struct profd_profile *p = &ep->profiles[i];
		struct buf line = { 0 };

		if (!p->status || p->status(p->ctx, &line) != 0 || !line.len) {
			buf_free(&line);
			continue;
		}
		buf_puts(out, "<p>");
		html_escape(out, p->name);
		buf_puts(out, ": ");
		html_escape(out, line.data);
		buf_puts(out, "</p>\n");
		buf_free(&line);
	}
	buf_puts(out, "Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n");
	for (int i = 0; i < n; i++) {
		buf_printf(out, "<tr><td>%s</td><td><a href='", rows[i].count);
		html_escape(out, rows[i].name);
		buf_puts(out, "?debug=1'>");
		html_escape(out, rows[i].name);
		buf_puts(out, "</a></td></tr>\n");
	}
	buf_puts(out, "</table>\n");
	for (int i = 0; i < ep->nprofiles; i++)
		if (strcmp(ep->profiles[i].name, "goroutine") == 0)
			buf_puts(out, "<a href='goroutine?debug=2'>full goroutine stack dump</a> "
				      "(every thread's stack, with its name and state)\n<br>\n");
	buf_puts(out, "<p>\nProfile Descriptions:\n<ul>\n");
	for (int i = 0; i < n; i++) {
		buf_puts(out, "<li><div class=profile-name>");
		html_escape(out, rows[i].name);
		buf_puts(out, ": </div> ");
		html_escape(out, rows[i].description);
		buf_puts(out, "</li>\n");
	}
	buf_puts(out, "</ul>\n</p>\n");
	if (ep->nunavailable) {
		buf_puts(out, "<p>\nNot available for this target:\n<ul>\n");
		for (int i = 0; i < ep->nunavailable; i++) {
			buf_puts(out, "<li><div class=profile-name>");
			html_escape(out, ep->unavailable[i].name);
			buf_puts(out, ": </div> ");
			html_escape(out, ep->unavailable[i].reason);
			buf_puts(out, "</li>\n");
		}
		buf_puts(out, "</ul>\n</p>\n");
	}
	buf_puts(out, "</body>\n</html>\n");
}

/* The one place that words the errors of snapshot/encode failures for the user. p (may be NULL)
 * is the profile that failed: its source may know better what err means. The target's state
 * gets 409 (another tracer holds its threads: retry once it is gone) or 503 (it exited; with a
 * set, a process of it that is gone). */
static void serve_source_error(struct endpoints *ep, const struct profd_profile *p, const struct reqctx *rc,
			       struct http_response *resp, const char *what, int err)
{
	const struct target *t = single_target(ep);
	struct buf why = { 0 };
	int r;

	if (t && (err == -ESRCH || !target_alive(t))) {
		http_response__error(resp, 503, "target process %d (%s) has exited; profd is shutting down",
				     (int)t->pid, t->comm);
		return;
	}
	if (!t && err == -ESRCH) {
		if (rc && rc->scope.pid)
			http_response__error(resp, 503, "process %d has exited: its cumulative profiles keep what "
					     "was collected, but it cannot be profiled now", rc->scope.pid);
		else
			http_response__error(resp, 503, "no process of %s is running now; profd is waiting for one",
					     procset__describe(procs__set(ep->ps)));
		return;
	}
	r = p && p->explain ? p->explain(p->ctx, err, &why) : 0;
	if (r && why.len)
		http_response__error(resp, r == -EBUSY ? 409 : 500, "%s", why.data);
	else if (err == -ENOSPC || err == -E2BIG)
		http_response__error(resp, 500, "%s: profile too large for profd's limits", what);
	else
		http_response__error(resp, 500, "%s: %s", what, strerror(-err));
	buf_free(&why);
}

/* HEAD: the status and headers a GET would get, without taking the profile (no thread stopped,
 * nothing collected), and no Content-Length since there is no body to measure. */
static void serve_head(struct http_response *resp, bool text, const char *filename)
{
	resp->unknown_length = true;
	if (text) {
		resp->content_type = "text/plain; charset=utf-8";
		return;
	}
	resp->content_type = "application/octet-stream";
	http_response__header(resp, "Content-Disposition", "attachment; filename=\"%s\"", filename);
}

/* How the set is turned into bytes: a profile, Go's count text, or the CPU top list. */
enum encoding { ENC_PROTO, ENC_COUNT_TEXT, ENC_TOP };

/* Encodes set (only ?pid='s samples when asked) with each process's symbolizer; p (may be NULL)
 * chooses the text shape. */
static int encode(struct endpoints *ep, const struct reqctx *rc, const struct profd_profile *p,
		  struct profd_sample_set *set, enum encoding enc, const char *name, struct http_response *resp)
{
	struct req_syms rs;
	int err;

	if (rc->scope.pid)
		sample_set__keep_pid(set, rc->scope.pid);
	err = req_syms_init(ep, &rs);
	if (err)
		return err;
	switch (enc) {
	case ENC_PROTO:
		err = pprof_encode_procs(set, &rs.syms, &resp->body);
		if (!err) {
			resp->content_type = "application/octet-stream";
			http_response__header(resp, "Content-Disposition", "attachment; filename=\"%s\"", name);
		}
		break;
	case ENC_COUNT_TEXT:
		resp->content_type = "text/plain; charset=utf-8";
		if (p && p->contention_text)
			err = pprof_write_contention_text_procs(p->contention_text, p->contention_period, set, &rs.syms,
								&resp->body);
		else
			err = pprof_write_count_text_procs(name, set, &rs.syms, &resp->body);
		break;
	case ENC_TOP:
		resp->content_type = "text/plain; charset=utf-8";
		err = pprof_write_top_procs(set, &rs.syms, &resp->body);
		break;
	}
	req_syms_release(&rs);
	return err;
}

static bool request_cancelled(void *arg)
{
	return http_request__cancelled(arg);
}

/* A profile collected over the next `seconds` (the CPU profile; ?seconds=N of a source that
 * collects). cpu_style: Go's /debug/pprof/profile (its error words; debug != 0 is a top list). */
static void serve_collected(struct endpoints *ep, const struct profd_profile *p, const struct reqctx *rc,
			    const struct http_request *req, int64_t seconds, bool cpu_style, struct http_response *resp)
{
	bool text = cpu_style && query_debug(http_request__arg(req, "debug")) != 0;
	struct profd_sample_set *set = NULL;
	char filename[80];
	int err;

	snprintf(filename, sizeof(filename), "%s%s", p->name, cpu_style ? "" : "-delta");
	if (is_head(req)) {
		serve_head(resp, text, filename);
		return;
	}
	if (!pool_enter(&ep->windows, MAX_WINDOWS)) {
		http_response__error(resp, 503,
				     "%s: too many profiles over time in progress (?seconds=N and CPU profiles): at "
				     "most %d at once, all profiles together; retry later",
				     cpu_style ? "Could not enable CPU profiling" : "failed to collect profile",
				     MAX_WINDOWS);
		return;
	}
	err = p->collect(p->ctx, &rc->scope, seconds * 1000000000ll, request_cancelled, (void *)req, &set);
	pool_leave(&ep->windows);
	if (err == -EBUSY) {
		http_response__error(resp, 503, "%s: too many %s profiles are being collected at once; retry later",
				     cpu_style ? "Could not enable CPU profiling" : "failed to collect profile",
				     cpu_style ? "CPU" : p->name);
		return;
	}
	if (err) {
		if (cpu_style && err != -ESRCH)
			http_response__error(resp, 500, "Could not enable CPU profiling: %s", strerror(-err));
		else
			serve_source_error(ep, p, rc, resp, "failed to collect profile", err);
		return;
	}
	/* Encode even when cancelled: "cancelled" also means the server is shutting down because
	 * the target exited, and that client still waits for what was collected. */
	err = encode(ep, rc, p, set, text ? ENC_TOP : ENC_PROTO, filename, resp);
	if (err)
		serve_source_error(ep, p, rc, resp, "failed to write profile", err);
	sample_set__free(set);
}

/* Go's /debug/pprof/profile: seconds absent or not a positive integer means 30 s; a default the
 * user did not ask for is clamped to --max-seconds rather than refused. */
static void serve_cpu(struct endpoints *ep, const struct profd_profile *p, const struct reqctx *rc,
		      const struct http_request *req, struct http_response *resp)
{
	int64_t def = CPU_DEFAULT_SECONDS < ep->max_seconds ? CPU_DEFAULT_SECONDS : ep->max_seconds;
	int64_t seconds = query_cpu_seconds(http_request__arg(req, "seconds"), def);

	if (seconds > ep->max_seconds) {
		http_response__error(resp, 400, "profile duration exceeds server's limit of %d seconds "
				     "(profd --max-seconds)", ep->max_seconds);
		return;
	}
	serve_collected(ep, p, rc, req, seconds, true, resp);
}

static void serve_delta(struct endpoints *ep, const struct profd_profile *p, const struct reqctx *rc,
			const struct http_request *req, const char *sec, struct http_response *resp)
{
	const struct target *t = single_target(ep);
	struct profd_sample_set *p0 = NULL, *p1 = NULL;
	char filename[80];
	int64_t seconds;
	int err;

	if (query_parse_int64(sec, &seconds) != 0 || seconds <= 0) {
		http_response__error(resp, 400, "invalid value for \"seconds\" - must be a positive integer");
		return;
	}
	if (seconds > ep->max_seconds) {
		http_response__error(resp, 400, "profile duration %lld s exceeds profd's --max-seconds (%d s)",
				     (long long)seconds, ep->max_seconds);
		return;
	}
	if (query_debug(http_request__arg(req, "debug")) != 0) {
		http_response__error(resp, 400, "seconds and debug params are incompatible");
		return;
	}
	if (p->collect) {
		serve_collected(ep, p, rc, req, seconds, false, resp);
		return;
	}
	snprintf(filename, sizeof(filename), "%s-delta", p->name);
	if (is_head(req)) {
		serve_head(resp, false, filename);
		return;
	}
	if (!pool_enter(&ep->windows, MAX_WINDOWS)) {
		http_response__error(resp, 503,
				     "failed to collect profile: too many profiles over time in progress (?seconds=N "
				     "and CPU profiles): at most %d at once, all profiles together; retry later",
				     MAX_WINDOWS);
		return;
	}
	err = p->snapshot(p->ctx, &rc->scope, &p0);
	if (err) {
		serve_source_error(ep, p, rc, resp, "failed to collect profile", err);
		goto cleanup;
	}
	/* a set does not end: only the one target of --pid is watched */
	err = target_wait(t, seconds * 1000000000ll, request_cancelled, (void *)req);
	if (err == -ECANCELED && http_request__stopping(req) && (!t || target_alive(t))) {
		http_response__error(resp, 503, "profd is shutting down: the %lld s window was cut short",
				     (long long)seconds);
		goto cleanup;
	}
	if (err == -ECANCELED && (!t || target_alive(t))) {
		http_response__error(resp, 500, "context canceled"); /* Go's words: the client went away */
		goto cleanup;
	}
	if (err) { /* the target exited during the window */
		serve_source_error(ep, p, rc, resp, "", err);
		goto cleanup;
	}
	err = p->snapshot(p->ctx, &rc->scope, &p1);
	if (err) {
		serve_source_error(ep, p, rc, resp, "failed to collect profile", err);
		goto cleanup;
	}
	err = sample_set__subtract(p1, p0);
	if (err) {
		serve_source_error(ep, p, rc, resp, "failed to compute delta", err);
		goto cleanup;
	}
	err = encode(ep, rc, p, p1, ENC_PROTO, filename, resp);
	if (err)
		serve_source_error(ep, p, rc, resp, "failed to encode profile", err);
cleanup:
	pool_leave(&ep->windows);
	sample_set__free(p0);
	sample_set__free(p1);
}

/* A profile now (a thread dump, a heap snapshot): debug=0 a profile, otherwise text. */
static void serve_snapshot(struct endpoints *ep, const struct profd_profile *p, const struct reqctx *rc,
			   const struct http_request *req, struct http_response *resp)
{
	/* gc=1 asks a Go runtime to collect first; a native heap has no collector: accepted, ignored */
	int debug = query_debug(http_request__arg(req, "debug"));
	struct profd_sample_set *set = NULL;
	int err;

	if (debug != 0 && p->write_text) {
		resp->content_type = "text/plain; charset=utf-8";
		err = p->write_text(p->ctx, &rc->scope, debug, &resp->body);
		if (err)
			serve_source_error(ep, p, rc, resp, "failed to write profile", err);
		return;
	}
	err = p->snapshot(p->ctx, &rc->scope, &set);
	if (!err)
		err = encode(ep, rc, p, set, debug != 0 ? ENC_COUNT_TEXT : ENC_PROTO, p->name, resp);
	if (err)
		serve_source_error(ep, p, rc, resp, debug != 0 ? "failed to write profile" : "failed to collect profile",
				   err);
	sample_set__free(set);
}

static void serve_profile(struct endpoints *ep, const struct profd_profile *p, const struct reqctx *rc,
			  const struct http_request *req, struct http_response *resp)
{
	const char *sec = http_request__arg(req, "seconds");
	int *pool = &ep->snapshots[p - ep->profiles];

	if (!p->snapshot) {
		serve_cpu(ep, p, rc, req, resp);
		return;
	}
	if (sec && *sec) {
		serve_delta(ep, p, rc, req, sec, resp);
		return;
	}
	if (is_head(req)) {
		serve_head(resp, query_debug(http_request__arg(req, "debug")) != 0, p->name);
		return;
	}
	if (!pool_enter(pool, MAX_SNAPSHOTS)) {
		http_response__error(resp, 503, "too many %s requests in progress: at most %d at once; retry later",
				     p->name, MAX_SNAPSHOTS);
		return;
	}
	serve_snapshot(ep, p, rc, req, resp);
	pool_leave(pool);
}

/* The command line of ?pid='s process, or of the one (first) process. */
static void serve_cmdline(struct endpoints *ep, const struct reqctx *rc, struct http_response *resp)
{
	int err = rc->proc ? target_cmdline(&rc->proc->target, &resp->body) : -ESRCH;

	if (err) {
		serve_source_error(ep, NULL, rc, resp, "cannot read the command line", err);
		return;
	}
	resp->content_type = "text/plain; charset=utf-8";
}

/* pprof-compat.md 1.9: always 200 with "num_symbols: 1" so that pprof never aborts. Addresses
 * are per process: ?pid='s, else the one (first) process's, which a set's answer says. */
static void serve_symbol(struct endpoints *ep, const struct reqctx *rc, const struct http_request *req,
			 struct http_response *resp)
{
	bool post = strcmp(req->method, "POST") == 0;
	const char *in = post ? req->body : req->raw_query;
	size_t len = post ? req->body_len : strlen(req->raw_query);
	struct symbolizer *sym = rc->proc ? rc->proc->sym : NULL;
	int err;

	if (sym)
		symbolizer__refresh(sym);
	err = symbolz_respond(sym, in, len, &resp->body);
	if (err) {
		http_response__error(resp, 500, "symbol lookup failed: %s", strerror(-err));
		return;
	}
	if (!ep->single && !rc->scope.pid && rc->proc)
		buf_printf(&resp->body, "# profd: addresses were looked up in process %d, the first of the set; "
			   "add pid=N for another\n", (int)rc->proc->target.pid);
	resp->content_type = "text/plain; charset=utf-8";
}

static bool method_ok(const char *m, bool allow_post)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || (allow_post && strcmp(m, "POST") == 0);
}

static void method_not_allowed(struct http_response *resp, bool allow_post)
{
	http_response__error(resp, 405, "Method Not Allowed");
	http_response__header(resp, "Allow", allow_post ? "GET, HEAD, POST" : "GET, HEAD");
}

/* /metrics (Prometheus text 0.0.4): each live process's resources (proc/procstat.h), each
 * source's figures (provider metrics()), requests served, profd's own resources. ?pid=N: one
 * process of the set. Reads files and counters only: no thread is stopped, no probe attached. */
static void serve_metrics(struct endpoints *ep, const struct http_request *req, struct http_response *resp)
{
	struct proc **list = NULL;
	struct metrics *m = NULL;
	struct reqctx rc;
	int n = 0, err = 0;

	if (!reqctx_init(ep, req, resp, &rc))
		return;
	resp->content_type = METRICS_CONTENT_TYPE;
	if (is_head(req)) {
		resp->unknown_length = true;
		goto cleanup;
	}
	m = metrics__new();
	n = procs__list(ep->ps, &list);
	if (!m || n < 0) {
		http_response__error(resp, 500, "cannot gather metrics: %s", strerror(ENOMEM));
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		const struct proc *p = list[i];
		struct proc_figures f;

		if (rc.proc && rc.scope.pid && p != rc.proc)
			continue;
		if (proc__exited(ep->ps, p) || !target_alive(&p->target))
			continue;
		if (procstat_read(p->target.pid, PROCSTAT_ALL, &f) != 0 || !target_alive(&p->target))
			continue; /* it ended while being read: a reused PID's figures are not its */
		resources_add_process(m, p->target.pid, p->target.comm, &f);
	}
	err = endpoints__gather(ep, &rc.scope, m);
	if (!err) {
		if (procs__multi(ep->ps)) {
			int live = 0;

			for (int i = 0; i < n; i++)
				live += !proc__exited(ep->ps, list[i]);
			metrics__add(m, "profd_processes", METRIC_GAUGE,
				     "Processes of the set profd serves that run now.", NULL, 0, live);
		}
		for (int i = 0; i < ep->nprofiles; i++) {
			struct metric_label l = { "profile", ep->profiles[i].name };

			metrics__add(m, "profd_profile_requests_total", METRIC_COUNTER,
				     "Requests for each profile answered since profd started (any status).", &l, 1,
				     (double)__atomic_load_n(&ep->served[i], __ATOMIC_RELAXED));
		}
		metrics__add(m, "profd_metrics_scrapes_total", METRIC_COUNTER, "Requests for /metrics, this one included.",
			     NULL, 0, (double)__atomic_add_fetch(&ep->scrapes, 1, __ATOMIC_RELAXED));
		err = resources_add_self(m);
	}
	if (!err)
		err = metrics__write(m, &resp->body);
	if (err)
		http_response__error(resp, 500, "cannot gather metrics: %s", strerror(-err));
cleanup:
	procs__list_free(list, n > 0 ? n : 0);
	metrics__free(m);
	reqctx_release(&rc);
}

/* /debug/pprof/history?format=csv: the resource history of the one process, or of a set (its
 * total and each process with a series of its own), or of ?pid='s. */
static void serve_history(struct endpoints *ep, const struct http_request *req, struct http_response *resp)
{
	const char *format = http_request__arg(req, "format");
	struct reqctx rc;
	int series = -1, err;

	if (!ep->hist) {
		http_response__error(resp, 404, "no resource history: profd runs with --history-length 0");
		return;
	}
	if (format && *format && strcmp(format, "csv") != 0) {
		http_response__error(resp, 400, "invalid value for \"format\" - must be csv (the charts are on the "
				     "index, /debug/pprof/)");
		return;
	}
	if (!reqctx_init(ep, req, resp, &rc))
		return;
	if (rc.scope.pid) {
		series = history__find(ep->hist, rc.scope.pid);
		if (series < 0) {
			http_response__error(resp, 404, "process %d has no history of its own: over a set, the first %d "
					     "processes seen get one; the set's total counts it", rc.scope.pid,
					     HISTORY_MAX_PROCS);
			goto cleanup;
		}
	}
	resp->content_type = "text/csv; charset=utf-8";
	if (is_head(req)) {
		resp->unknown_length = true;
		goto cleanup;
	}
	err = history__write_csv(ep->hist, series, &resp->body);
	if (err)
		http_response__error(resp, 500, "cannot write the history: %s", strerror(-err));
cleanup:
	reqctx_release(&rc);
}

void endpoints__handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct endpoints *ep = ctx;
	const char *name;
	const struct profd_profile *p = NULL;
	struct reqctx rc;

	if (strcmp(req->path, "/metrics") == 0) {
		if (!method_ok(req->method, false))
			method_not_allowed(resp, false);
		else
			serve_metrics(ep, req, resp);
		return;
	}
	if (strcmp(req->path, "/debug/pprof") == 0) {
		resp->status = 301;
		resp->content_type = "text/html; charset=utf-8";
		http_response__header(resp, "Location", "/debug/pprof/");
		buf_puts(&resp->body, "<a href=\"/debug/pprof/\">Moved Permanently</a>.\n\n");
		return;
	}
	if (strncmp(req->path, PREFIX, strlen(PREFIX)) != 0) {
		resp->status = 404;
		buf_puts(&resp->body, "404 page not found\n");
		return;
	}
	name = req->path + strlen(PREFIX);
	for (int i = 0; i < ep->nprofiles && !p; i++)
		if (strcmp(ep->profiles[i].name, name) == 0)
			p = &ep->profiles[i];
	if (!method_ok(req->method, strcmp(name, "symbol") == 0)) {
		method_not_allowed(resp, strcmp(name, "symbol") == 0);
		return;
	}
	if (*name == '\0') {
		if (!reqctx_init(ep, req, resp, &rc))
			return;
		serve_index(ep, &rc, resp);
		reqctx_release(&rc);
		return;
	}
	if (strcmp(name, "history") == 0) {
		serve_history(ep, req, resp);
		return;
	}
	if (!p && strcmp(name, "cmdline") != 0 && strcmp(name, "symbol") != 0) {
		const struct unavailable *u = find_unavailable(ep, name);

		/* Go's error shape, so that go tool pprof and curl show why */
		if (u)
			http_response__error(resp, 404, "profile %s is not available here: %s", u->name, u->reason);
		else
			http_response__error(resp, 404, "Unknown profile");
		return;
	}
	if (!reqctx_init(ep, req, resp, &rc))
		return;
	if (p)
		__atomic_add_fetch(&ep->served[p - ep->profiles], 1, __ATOMIC_RELAXED);
	if (strcmp(name, "symbol") == 0)
		serve_symbol(ep, &rc, req, resp);
	else if (strcmp(name, "cmdline") == 0)
		serve_cmdline(ep, &rc, resp);
	else if (single_target(ep) && !target_alive(single_target(ep)))
		serve_source_error(ep, p, &rc, resp, "", -ESRCH);
	else
		serve_profile(ep, p, &rc, req, resp);
	reqctx_release(&rc);
}
