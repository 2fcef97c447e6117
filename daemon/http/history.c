// SPDX-License-Identifier: MIT
/* The resource history (history.h): a ring of rows, each a time and one point per series,
 * allocated once; a sampler thread adds a row every interval; CSV and SVG are rendered from it
 * under its lock. `lock` guards the ring and the series; `stop_lock` the sampler's stop. */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "http/history.h"
#include "proc/procstat.h"
#include "proc/target.h"
#include "set/procs.h"

struct series_id {
	bool used;
	pid_t pid;
	uint64_t start_time;
	char comm[64];
};

struct history {
	struct history_config cfg;
	int nseries;                   /* 1 + nprocs */
	pthread_mutex_t lock;
	int64_t *times;                /* [length], CLOCK_REALTIME seconds */
	struct history_point *points;  /* [length][nseries] */
	uint32_t head, count;          /* next row written; rows held */
	struct series_id ids[1 + HISTORY_MAX_PROCS];

	/* the sampler */
	struct procs *ps;
	history_gather_fn gather;
	void *gctx;
	pthread_t thread;
	bool started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stop;
};

int history_interval_parse(const char *s, int64_t *ret_ns, char *err, size_t errlen)
{
	char *end = NULL;
	long long n;
	int64_t unit = 0;

	if (s && *s >= '0' && *s <= '9') {
		errno = 0;
		n = strtoll(s, &end, 10);
		if (!errno && end && end[0] && !end[1]) {
			unit = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : 0;
			if (unit && n > 0 && n <= HISTORY_MAX_INTERVAL_NS / 1000000000 / unit &&
			    n * unit * 1000000000 >= HISTORY_MIN_INTERVAL_NS) {
				*ret_ns = n * unit * 1000000000;
				return 0;
			}
		}
	}
	snprintf(err, errlen, "--history-interval: expected a whole number of seconds, minutes or hours "
		 "from 1s to 1h, e.g. 10s or 1m, got '%s'", s ? s : "");
	return -EINVAL;
}

int history__new(const struct history_config *cfg, struct history **ret)
{
	struct history *h;

	*ret = NULL;
	if (cfg->length > HISTORY_MAX_LENGTH || cfg->nprocs < 0 || cfg->nprocs > HISTORY_MAX_PROCS ||
	    cfg->interval_ns < HISTORY_MIN_INTERVAL_NS || cfg->interval_ns > HISTORY_MAX_INTERVAL_NS)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->nseries = 1 + cfg->nprocs;
	if (cfg->length) {
		h->times = calloc(cfg->length, sizeof(*h->times));
		h->points = calloc((size_t)cfg->length * (size_t)h->nseries, sizeof(*h->points));
		if (!h->times || !h->points) {
			free(h->times);
			free(h->points);
			free(h);
			return -ENOMEM;
		}
	}
	h->ids[0].used = true;
	snprintf(h->ids[0].comm, sizeof(h->ids[0].comm), "(all)");
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->stop_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->stop_cond, &ca);
	pthread_condattr_destroy(&ca);
	*ret = h;
	return 0;
}

void history__free(struct history *h)
{
	if (!h)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->stop_lock);
		h->stop = true;
		pthread_cond_broadcast(&h->stop_cond);
		pthread_mutex_unlock(&h->stop_lock);
		pthread_join(h->thread, NULL);
	}
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->stop_lock);
	pthread_cond_destroy(&h->stop_cond);
	free(h->times);
	free(h->points);
	free(h);
}

int history__series(struct history *h, pid_t pid, uint64_t start_time, const char *comm)
{
	int r = -ENOSPC;

	pthread_mutex_lock(&h->lock);
	for (int i = 1; i < h->nseries; i++) {
		struct series_id *s = &h->ids[i];

		if (s->used && s->pid == pid && s->start_time == start_time) {
			r = i;
			break;
		}
		if (!s->used) {
			s->used = true;
			s->pid = pid;
			s->start_time = start_time;
			snprintf(s->comm, sizeof(s->comm), "%s", comm);
			r = i;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

void history__add_row(struct history *h, int64_t when_s, const struct history_point *points)
{
	if (!h->cfg.length)
		return;
	pthread_mutex_lock(&h->lock);
	h->times[h->head] = when_s;
	memcpy(&h->points[(size_t)h->head * (size_t)h->nseries], points, (size_t)h->nseries * sizeof(*points));
	h->head = (h->head + 1) % h->cfg.length;
	if (h->count < h->cfg.length)
		h->count++;
	pthread_mutex_unlock(&h->lock);
}

uint32_t history__rows(struct history *h)
{
	uint32_t n;

	pthread_mutex_lock(&h->lock);
	n = h->count;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int history__find(struct history *h, pid_t pid)
{
	int r = -ENOENT;

	if (pid == 0)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (h->nseries == 1 && h->ids[0].pid == pid)
		r = 0;
	for (int i = h->nseries - 1; i >= 1 && r < 0; i--)
		if (h->ids[i].used && h->ids[i].pid == pid)
			r = i;
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* ---- the sampler ---- */

static uint32_t add_sat(uint32_t a, uint32_t b)
{
	if (a == HISTORY_UNKNOWN)
		return b;
	if (b == HISTORY_UNKNOWN)
		return a;
	return a > HISTORY_UNKNOWN - 1 - b ? HISTORY_UNKNOWN - 1 : a + b;
}

static uint32_t clamp_u32(int64_t v)
{
	if (v < 0)
		return HISTORY_UNKNOWN;
	return v >= HISTORY_UNKNOWN ? HISTORY_UNKNOWN - 1 : (uint32_t)v;
}

/* One row: every live process's figures, its heap in use from the sources. */
static void sample(struct history *h)
{
	struct history_point pts[1 + HISTORY_MAX_PROCS], total = { 0, 0, 0, HISTORY_UNKNOWN };
	struct profd_scope all = { 0 };
	struct metrics *m = h->gather ? metrics__new() : NULL;
	struct proc **list = NULL;
	bool multi = procs__multi(h->ps);
	int n = procs__list(h->ps, &list);

	for (int i = 0; i < h->nseries; i++)
		pts[i] = (struct history_point){ HISTORY_UNKNOWN, HISTORY_UNKNOWN, HISTORY_UNKNOWN, HISTORY_UNKNOWN };
	if (m && h->gather(h->gctx, &all, m) != 0) {
		metrics__free(m);
		m = NULL;
	}
	for (int i = 0; i < n; i++) {
		const struct proc *p = list[i];
		struct history_point pt;
		struct proc_figures f;
		char pid[16];
		double heap;
		int k = 0;

		if (proc__exited(h->ps, p) || procstat_read(p->target.pid, PROCSTAT_FDS, &f) != 0 ||
		    !target_alive(&p->target))
			continue;
		snprintf(pid, sizeof(pid), "%d", (int)p->target.pid);
		pt.rss_kb = clamp_u32(f.rss_bytes < 0 ? -1 : f.rss_bytes / 1024);
		pt.threads = clamp_u32(f.threads);
		pt.fds = clamp_u32(f.fds);
		pt.heap_kb = m && metrics__find(m, "profd_heap_inuse_bytes", "pid", pid, &heap) && heap >= 0
				     ? clamp_u32((int64_t)(heap / 1024))
				     : HISTORY_UNKNOWN;
		if (multi) {
			total.rss_kb = add_sat(total.rss_kb, pt.rss_kb);
			total.threads = add_sat(total.threads, pt.threads);
			total.fds = add_sat(total.fds, pt.fds);
			total.heap_kb = add_sat(total.heap_kb, pt.heap_kb);
			k = history__series(h, p->target.pid, p->target.start_time, p->target.comm);
		} else {
			pthread_mutex_lock(&h->lock);
			h->ids[0].pid = p->target.pid;
			snprintf(h->ids[0].comm, sizeof(h->ids[0].comm), "%s", p->target.comm);
			pthread_mutex_unlock(&h->lock);
		}
		if (k >= 0 && k < h->nseries)
			pts[k] = pt;
	}
	if (multi)
		pts[0] = total;
	history__add_row(h, profd_now_nanos() / 1000000000, pts);
	procs__list_free(list, n > 0 ? n : 0);
	metrics__free(m);
}

static void *sampler_main(void *arg)
{
	struct history *h = arg;
	int64_t next = profd_mono_ns();

	pthread_mutex_lock(&h->stop_lock);
	while (!h->stop) {
		struct timespec ts;

		if (profd_mono_ns() >= next) {
			pthread_mutex_unlock(&h->stop_lock);
			sample(h);
			pthread_mutex_lock(&h->stop_lock);
			next += h->cfg.interval_ns;
			if (next < profd_mono_ns()) /* fell behind (a stopped machine): skip, do not burst */
				next = profd_mono_ns() + h->cfg.interval_ns;
			continue;
		}
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		pthread_cond_timedwait(&h->stop_cond, &h->stop_lock, &ts);
	}
	pthread_mutex_unlock(&h->stop_lock);
	return NULL;
}

int history__start(struct history *h, struct procs *ps, history_gather_fn gather, void *ctx)
{
	int err;

	if (!h->cfg.length)
		return 0;
	h->ps = ps;
	h->gather = gather;
	h->gctx = ctx;
	err = pthread_create(&h->thread, NULL, sampler_main, h);
	if (err)
		return -err;
	h->started = true;
	return 0;
}

/* ---- rendering ---- */

static void put_time(struct buf *out, int64_t s, const char *fmt)
{
	time_t t = (time_t)s;
	struct tm tm;
	char text[40];

	gmtime_r(&t, &tm);
	strftime(text, sizeof(text), fmt, &tm);
	buf_puts(out, text);
}

static void csv_field(struct buf *out, uint32_t v, uint64_t mul)
{
	buf_putc(out, ',');
	if (v != HISTORY_UNKNOWN)
		buf_printf(out, "%llu", (unsigned long long)v * (unsigned long long)mul);
}

static bool point_known(const struct history_point *p)
{
	return p->rss_kb != HISTORY_UNKNOWN || p->threads != HISTORY_UNKNOWN || p->fds != HISTORY_UNKNOWN ||
	       p->heap_kb != HISTORY_UNKNOWN;
}

/* a process name in CSV: quoted when it holds a comma, quote or line break (RFC 4180) */
static void csv_name(struct buf *out, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		buf_puts(out, s);
		return;
	}
	buf_putc(out, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_putc(out, '"');
		buf_putc(out, *s);
	}
	buf_putc(out, '"');
}

int history__write_csv(struct history *h, int series, struct buf *out)
{
	int r;

	buf_puts(out, "time,pid,process,rss_bytes,threads,open_fds,heap_inuse_bytes\n");
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < h->count; i++) {
		uint32_t row = (h->head + h->cfg.length - h->count + i) % h->cfg.length;

		for (int s = 0; s < h->nseries; s++) {
			const struct history_point *p = &h->points[(size_t)row * (size_t)h->nseries + (size_t)s];
			bool total = s == 0 && h->nseries > 1;

			if ((series >= 0 && s != series) || !h->ids[s].used || (!total && !point_known(p)))
				continue;
			put_time(out, h->times[row], "%Y-%m-%dT%H:%M:%SZ");
			buf_putc(out, ',');
			if (!total)
				buf_printf(out, "%d", (int)h->ids[s].pid);
			buf_putc(out, ',');
			csv_name(out, h->ids[s].comm);
			csv_field(out, p->rss_kb, 1024);
			csv_field(out, p->threads, 1);
			csv_field(out, p->fds, 1);
			csv_field(out, p->heap_kb, 1024);
			buf_putc(out, '\n');
		}
	}
	r = out->len && out->data[out->len - 1] == '\n' ? 0 : -ENOMEM;
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* A value for a label: bytes as KiB/MiB/GiB, counts as they are. */
static void put_value(struct buf *out, double v, bool bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	if (!bytes) {
		buf_printf(out, "%.0f", v);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	buf_printf(out, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

#define CHART_W 440
#define CHART_H 120
#define PAD_L 70
#define PAD_B 18
#define PAD_T 6

struct chart_def {
	const char *key;   /* data-metric, the CSV column */
	const char *title;
	size_t field;      /* offset in history_point */
	bool bytes;        /* in KiB in the ring, shown in bytes */
};

/* One chart of one series: the points bucketed to at most HISTORY_CHART_POINTS (each bucket's
 * maximum, so that a peak is never smoothed away), a zero-based y axis. Caller holds lock. */
static void chart(struct history *h, int series, const struct chart_def *d, struct buf *out)
{
	uint32_t n = h->count, buckets = n < HISTORY_CHART_POINTS ? n : HISTORY_CHART_POINTS;
	double maxv = 0, last = -1;
	int64_t t0 = 0, t1 = 0;
	uint32_t known = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t row = (h->head + h->cfg.length - n + i) % h->cfg.length;
		const struct history_point *p = &h->points[(size_t)row * (size_t)h->nseries + (size_t)series];
		uint32_t v = *(const uint32_t *)((const char *)p + d->field);

		if (v == HISTORY_UNKNOWN)
			continue;
		if (!known++)
			t0 = h->times[row];
		t1 = h->times[row];
		last = (double)v * (d->bytes ? 1024 : 1);
		if (last > maxv)
			maxv = last;
	}
	buf_printf(out, "<figure class='chart' id='chart-%s'>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' "
			"height='%d' viewBox='0 0 %d %d' role='img' data-metric='%s' data-points='%u'",
		   d->key, CHART_W, CHART_H, CHART_W, CHART_H, d->key, known);
	if (known)
		buf_printf(out, " data-last='%.0f' data-max='%.0f'", last, maxv);
	buf_printf(out, ">\n<title>%s</title>\n<rect x='%d' y='%d' width='%d' height='%d' fill='#f8f8f8' "
			"stroke='#ccc'/>\n",
		   d->title, PAD_L, PAD_T, CHART_W - PAD_L - 1, CHART_H - PAD_T - PAD_B);
	if (known) {
		double ymax = maxv > 0 ? maxv : 1, span = t1 > t0 ? (double)(t1 - t0) : 1;
		double pw = CHART_W - PAD_L - 1, ph = CHART_H - PAD_T - PAD_B;
		uint32_t per = (n + buckets - 1) / buckets;

		buf_puts(out, "<polyline fill='none' stroke='#2a6db5' stroke-width='1.5' points='");
		for (uint32_t b = 0; b * per < n; b++) {
			double bv = -1;
			int64_t bt = 0;

			for (uint32_t i = b * per; i < n && i < (b + 1) * per; i++) {
				uint32_t row = (h->head + h->cfg.length - n + i) % h->cfg.length;
				const struct history_point *p =
					&h->points[(size_t)row * (size_t)h->nseries + (size_t)series];
				uint32_t v = *(const uint32_t *)((const char *)p + d->field);

				if (v == HISTORY_UNKNOWN)
					continue;
				if ((double)v > bv)
					bv = (double)v;
				bt = h->times[row];
			}
			if (bv < 0)
				continue;
			bv *= d->bytes ? 1024 : 1;
			buf_printf(out, "%.1f,%.1f ", PAD_L + pw * (double)(bt - t0) / span,
				   PAD_T + ph - ph * bv / ymax);
		}
		buf_puts(out, "'/>\n");
		buf_printf(out, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='#2a6db5'/>\n",
			   PAD_L + pw * (double)(t1 - t0) / span, PAD_T + ph - ph * last / ymax);
		buf_printf(out, "<text x='%d' y='%d' font-size='11' text-anchor='end'>", PAD_L - 4, PAD_T + 10);
		put_value(out, maxv, d->bytes);
		buf_printf(out, "</text>\n<text x='%d' y='%d' font-size='11' text-anchor='end'>0</text>\n", PAD_L - 4,
			   CHART_H - PAD_B);
		buf_printf(out, "<text x='%d' y='%d' font-size='11'>", PAD_L, CHART_H - 4);
		put_time(out, t0, "%H:%M:%S");
		buf_printf(out, "</text>\n<text x='%d' y='%d' font-size='11' text-anchor='end'>", CHART_W - 1, CHART_H - 4);
		put_time(out, t1, "%H:%M:%SZ");
		buf_puts(out, "</text>\n");
	}
	buf_printf(out, "</svg>\n<figcaption>%s: ", d->title);
	if (known) {
		put_value(out, last, d->bytes);
		buf_puts(out, " at the last sample, highest ");
		put_value(out, maxv, d->bytes);
	} else {
		buf_puts(out, "not known");
	}
	buf_puts(out, "</figcaption>\n</figure>\n");
}

int history__write_charts(struct history *h, int series, struct buf *out)
{
	static const struct chart_def defs[] = {
		{ "rss_bytes", "Resident memory (RSS)", offsetof(struct history_point, rss_kb), true },
		{ "threads", "Threads", offsetof(struct history_point, threads), false },
		{ "open_fds", "Open file descriptors", offsetof(struct history_point, fds), false },
		{ "heap_inuse_bytes", "Sampled heap in use (while the heap probes are attached)",
		  offsetof(struct history_point, heap_kb), true },
	};
	int64_t every = h->cfg.interval_ns / 1000000000;

	pthread_mutex_lock(&h->lock);
	buf_printf(out, "<div class='history' data-series='%d'>\n<p>History", series);
	if (h->nseries > 1 && series == 0)
		buf_puts(out, " of the whole set (the sum of its running processes)");
	else if (h->ids[series].pid)
		buf_printf(out, " of process %d (", (int)h->ids[series].pid);
	if (h->ids[series].pid && !(h->nseries > 1 && series == 0)) {
		for (const char *c = h->ids[series].comm; *c; c++)
			if (*c == '<' || *c == '>' || *c == '&' || *c == '\'' || *c == '"')
				buf_printf(out, "&#%d;", *c);
			else
				buf_putc(out, *c);
		buf_putc(out, ')');
	}
	buf_printf(out, ": %u sample%s, one every %llds, the last %u kept (<a href='history?format=csv",
		   h->count, h->count == 1 ? "" : "s", (long long)every, h->cfg.length);
	if (series > 0)
		buf_printf(out, "&amp;pid=%d", (int)h->ids[series].pid);
	buf_puts(out, "'>CSV</a>).</p>\n");
	if (h->count)
		for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
			chart(h, series, &defs[i], out);
	buf_puts(out, "</div>\n");
	pthread_mutex_unlock(&h->lock);
	return out->len ? 0 : -ENOMEM;
}
