// SPDX-License-Identifier: MIT
/* Test driver for the heap source (until the CLI wires it): attaches to --pid, optionally sends
 * SIGUSR1 (heap_leak starts allocating on it), samples for --seconds (or until --done-file
 * holds a line "done", with --seconds as the deadline), then writes the heap and
 * allocs profiles, the debug=1 text and a SIGUSR2-style snapshot. Linked with libprofd.a by
 * tests/targets/heap.mk. Exit 0 on success, 3 when heap probes were refused (message on stderr). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pprof/pprof.h"
#include "proc/procset.h"
#include "set/procs.h"
#include "sources/heap.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

static int write_file(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fwrite(b->data, 1, b->len, f) == b->len;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static int write_profile(struct heap_source *h, struct symbolizer *sym, bool allocs, const char *path)
{
	struct profd_sample_set *set = NULL;
	struct buf b = { 0 };
	int r;

	r = heap_source__snapshot(h, allocs, &set);
	if (r == 0)
		r = pprof_encode(set, sym, &b);
	if (r == 0)
		r = write_file(path, &b);
	sample_set__free(set);
	buf_free(&b);
	return r;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *allocs_out = NULL, *text_out = NULL, *snapdir = NULL, *done_file = NULL;
	struct heap_config cfg;
	struct heap_source *h = NULL;
	struct procset_config pc = { .kind = PROCSET_PID };
	struct procs *ps = NULL;
	struct proc *p = NULL;
	struct symbolizer *sym;
	struct heap_stats st;
	char err[1024], path[4300];
	double seconds = 2;
	bool usr1 = false, oneshot = false;
	pid_t pid = 0;
	int r;

	heap_config_default(&cfg);
	/* accuracy is what this driver checks: probes from the start, never paused for their cost
	 * (the budget has its own tests, which pass --heap-budget) */
	cfg.mode = HEAP_MODE_INUSE;
	cfg.budget_pct = 100;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--usr1") == 0) {
			usr1 = true;
			continue;
		}
		if (strcmp(a, "--oneshot") == 0) { /* heap_oneshot(): `profd heap` without the CLI */
			oneshot = true;
			continue;
		}
		if (strcmp(a, "--no-session") == 0 || strcmp(a, "--noop") == 0) {
			if (strcmp(a, "--noop") == 0)
				cfg.noop = true; /* benchmark trap floor */
			else
				cfg.no_session = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "missing value for %s\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--pid") == 0)
			pid = atoi(v);
		else if (strcmp(a, "--seconds") == 0)
			seconds = atof(v);
		else if (strcmp(a, "--out") == 0)
			out = v;
		else if (strcmp(a, "--allocs-out") == 0)
			allocs_out = v;
		else if (strcmp(a, "--text-out") == 0)
			text_out = v;
		else if (strcmp(a, "--done-file") == 0)
			done_file = v;
		else if (strcmp(a, "--snapshot-dir") == 0)
			snapdir = v;
		else if (strcmp(a, "--heap-budget") == 0 && heap_budget_parse(v, &cfg.budget_pct, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 2;
		} else if (strcmp(a, "--heap-budget") == 0)
			;
		else if (strcmp(a, "--ring-mb") == 0) /* heap_source__new refuses what is not a power of two */
			cfg.ring_bytes = strtoul(v, NULL, 10) <= 1024 ? (uint32_t)strtoul(v, NULL, 10) << 20 : 0;
		else if (strcmp(a, "--heap") == 0 ? heap_mode_parse(v, &cfg.mode, err, sizeof(err)) < 0 :
			 strcmp(a, "--heap-rate") == 0 ? heap_rate_parse(v, &cfg.rate, err, sizeof(err)) < 0 : 1) {
			fprintf(stderr, "%s\n", strcmp(a, "--heap") && strcmp(a, "--heap-rate") ? "unknown flag" : err);
			return 2;
		}
	}
	cfg.snapshot_dir = snapdir;
	pc.pid = pid;
	if (procs__new(&pc, &ps, err, sizeof(err)) < 0 || !(p = procs__get(ps, pid))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	sym = p->sym;
	if (oneshot) {
		if (usr1)
			kill(pid, SIGUSR1);
		r = heap_oneshot(ps, (int)seconds, &cfg, out ? out : "heap.pb.gz", NULL, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "heap: %s\n", err);
		proc__put(p);
		procs__free(ps);
		return r == -EPROTONOSUPPORT || r == -ENOENT ? 3 : r < 0 ? 1 : 0;
	}
	r = heap_source__new(ps, &cfg, &h, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "heap: %s\n", err);
		proc__put(p);
		procs__free(ps);
		return r == -EPROTONOSUPPORT || r == -ENOENT ? 3 : 1;
	}
	printf("%s\n", heap_source__describe(h));
	fflush(stdout);
	if (usr1)
		kill(pid, SIGUSR1);
	/* --seconds is a deadline when --done-file is given: stop once the target printed "done" */
	for (int i = 0; i < (int)(seconds * 20); i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		char line[256];
		bool done = false;
		FILE *f;

		if (done_file && (f = fopen(done_file, "r")) != NULL) {
			while (fgets(line, sizeof(line), f))
				done |= strcmp(line, "done\n") == 0;
			fclose(f);
		}
		if (done)
			break;
		nanosleep(&ts, NULL);
	}
	symbolizer__refresh(sym);
	r = 0;
	if (out && (r = write_profile(h, sym, false, out)) < 0)
		fprintf(stderr, "heap profile: %s\n", strerror(-r));
	if (!r && allocs_out && (r = write_profile(h, sym, true, allocs_out)) < 0)
		fprintf(stderr, "allocs profile: %s\n", strerror(-r));
	if (!r && text_out) {
		struct buf b = { 0 };

		r = heap_source__write_text(h, &b);
		if (!r)
			r = write_file(text_out, &b);
		buf_free(&b);
	}
	if (!r && snapdir) {
		int r2;

		r = heap_source__request_snapshot(h, path, sizeof(path));
		r2 = heap_source__request_snapshot(h, path, sizeof(path));
		printf("snapshot %s second=%s\n", path, r2 == -EBUSY ? "busy" : r2 == 0 ? "accepted" : strerror(-r2));
		if (!r)
			r = heap_source__wait_snapshot(h);
		if (r)
			fprintf(stderr, "snapshot: %s\n", strerror(-r));
	}
	heap_source__stats(h, &st);
	printf("calls %llu frees %llu sampled %llu nested %llu events %llu live %llu records %llu "
	       "dropped_ringbuf %llu dropped_live %llu dropped_records %llu unwind_incomplete %llu\n",
	       (unsigned long long)st.calls, (unsigned long long)st.frees, (unsigned long long)st.sampled,
	       (unsigned long long)st.nested, (unsigned long long)st.events, (unsigned long long)st.live,
	       (unsigned long long)st.records, (unsigned long long)st.dropped_ringbuf,
	       (unsigned long long)st.dropped_live_full, (unsigned long long)st.dropped_records,
	       (unsigned long long)st.unwind_failed);
	printf("unwind_stops");
	for (int w = 0; w < UNWIND_STOP__COUNT && w < 8; w++)
		printf(" %s %llu", unwind_stop_name((enum unwind_stop)w), (unsigned long long)st.unwind_stops[w]);
	printf("\n");
	heap_source__free(h);
	proc__put(p);
	procs__free(ps);
	{
		char line[256];
		FILE *f = fopen("/proc/self/status", "r");

		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "VmHWM:", 6) == 0)
				printf("peak_rss %s", line + 6);
		if (f)
			fclose(f);
	}
	return r ? 1 : 0;
}
