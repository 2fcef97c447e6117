// SPDX-License-Identifier: MIT
/* Driver for bench_threads.sh: full symbolized thread dumps of a running process, cold (a fresh
 * unwinder, symbolizer and thread source, as `profd stacks` starts) and warm (the daemon's
 * repeated dumps), with the pause profd measured per stopped thread. Writes the last debug=2
 * dump to a file for comparison.
 *   bench_threads PID REPEATS DUMP_FILE [auto|ptrace]
 * auto (the default) reads threads off CPU with the BPF task iterator; ptrace stops them all.
 * Prints one line: threads=N cold_ms=.. warm_ms=.. unstopped=N stopped=N pause_med_us=..
 * pause_max_us=..: cold is the first dump of this process (nothing indexed yet), the rest are
 * medians over REPEATS; the pause is "-" when no thread was stopped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "proc/target.h"
#include "sources/threads.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Pulls the pause of the stopped threads ("median X us, max Y us", -1 when none was stopped), the
 * thread counts and how many were stopped out of the summary line. */
static void parse_summary(const char *s, double *med, double *max, int *threads, int *unstopped, int *stopped)
{
	const char *p = strstr(s, "median ");

	*med = p ? strtod(p + 7, NULL) : -1;
	p = p ? strstr(p, "max ") : NULL;
	*max = p ? strtod(p + 4, NULL) : -1;
	p = strstr(s, ": ");
	*threads = p ? atoi(p + 2) : -1;
	p = strstr(s, "captured (");
	*unstopped = p ? atoi(p + strlen("captured (")) : -1;
	p = p ? strstr(p, " without stopping, ") : NULL;
	*stopped = p ? atoi(p + strlen(" without stopping, ")) : -1;
}

int main(int argc, char **argv)
{
	double cold_first = 0, cold[64], warm[64], med[64], max[64];
	enum threads_method method = THREADS_METHOD_AUTO;
	struct target t;
	struct buf out = { 0 };
	int pid, repeats, threads = 0, unstopped = 0, stopped = 0, err;
	FILE *f;

	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "auto") && strcmp(argv[4], "ptrace"))) {
		fprintf(stderr, "usage: %s PID REPEATS DUMP_FILE [auto|ptrace]\n", argv[0]);
		return 2;
	}
	if (argc == 5 && !strcmp(argv[4], "ptrace"))
		method = THREADS_METHOD_PTRACE;
	pid = atoi(argv[1]);
	repeats = atoi(argv[2]);
	if (repeats < 1 || repeats > 64)
		repeats = 3;
	err = target_open(pid, &t);
	if (err) {
		fprintf(stderr, "cannot open process %d: %s\n", pid, strerror(-err));
		return 1;
	}
	for (int i = 0; i < repeats; i++) {
		double t0 = now_ms();
		struct unwinder *uw = unwinder__new(pid);
		struct symbolizer *sym = symbolizer__new(pid);
		struct threads_source *src = threads_source__new_method(&t, uw, sym, 0, method);
		struct buf s = { 0 };

		if (!uw || !sym || !src) {
			fprintf(stderr, "cannot set up process %d\n", pid);
			return 1;
		}
		buf_reset(&out);
		err = threads_source__dump_text(src, 2, &out);
		cold[i] = now_ms() - t0;
		if (i == 0)
			cold_first = cold[0];
		if (err) {
			fprintf(stderr, "dump failed: %s %s\n", strerror(-err), threads_source__error(src));
			return 1;
		}
		/* warm: the daemon's case, modules and symbols already indexed */
		t0 = now_ms();
		buf_reset(&out);
		err = threads_source__dump_text(src, 2, &out);
		warm[i] = now_ms() - t0;
		if (err || threads_source__summary(src, &s)) {
			fprintf(stderr, "dump failed: %s\n", strerror(-err));
			return 1;
		}
		parse_summary(s.data, &med[i], &max[i], &threads, &unstopped, &stopped);
		buf_free(&s);
		threads_source__free(src);
		symbolizer__free(sym);
		unwinder__free(uw);
	}
	f = fopen(argv[3], "w");
	if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f)) {
		fprintf(stderr, "cannot write %s\n", argv[3]);
		return 1;
	}
	qsort(warm, (size_t)repeats, sizeof(double), cmp_double);
	qsort(med, (size_t)repeats, sizeof(double), cmp_double);
	qsort(max, (size_t)repeats, sizeof(double), cmp_double);
	printf("threads=%d cold_ms=%.1f warm_ms=%.1f unstopped=%d stopped=%d", threads, cold_first,
	       warm[repeats / 2], unstopped, stopped);
	if (med[repeats / 2] >= 0)
		printf(" pause_med_us=%.1f pause_max_us=%.1f\n", med[repeats / 2], max[repeats / 2]);
	else
		printf(" pause_med_us=- pause_max_us=-\n");
	buf_free(&out);
	return 0;
}
