// SPDX-License-Identifier: MIT
/* A heap target driven line by line on stdin, for the on-demand and budget tests: allocations at
 * known sites at known moments. Prints "ready PID", then "ok" after each command:
 *   alloc SITE COUNT SIZE   keep COUNT blocks of SIZE bytes allocated at site_a/b/c (touched)
 *   churn SITE COUNT SIZE   allocate and free COUNT blocks of SIZE bytes at that site
 *   free SITE               free every block kept at that site
 *   spin                    start a thread doing malloc/free pairs at full speed; it prints
 *                           "rate PAIRS_PER_CPU_SECOND" every 250 ms of its CPU time (the
 *                           thread's user + kernel time, probe traps included: a rate that a
 *                           busy machine, which only delays the thread, does not change)
 *   stop                    stop that thread
 *   quit
 * Built -O2 without frame pointers like the other targets; the site functions are not inlined. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEEP (1 << 20)

static void *kept[3][MAX_KEEP];
static long nkept[3];
static atomic_bool spinning;
static pthread_t spinner;

#define SITE(name)                                                                                 \
	__attribute__((noinline)) static void *name(size_t size)                                   \
	{                                                                                          \
		void *p = malloc(size);                                                            \
		if (p)                                                                             \
			memset(p, 1, size);                                                        \
		__asm__ volatile("" ::: "memory");                                                 \
		return p;                                                                          \
	}
SITE(site_a)
SITE(site_b)
SITE(site_c)

static void *(*const sites[3])(size_t) = { site_a, site_b, site_c };

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void spin_pairs(long n)
{
	for (long i = 0; i < n; i++) {
		void *volatile p = malloc(64 + (size_t)(i & 255));

		free(p);
	}
}

static void *spin_main(void *arg)
{
	double t0 = cpu_s();
	long pairs = 0;

	while (atomic_load(&spinning)) {
		double t;

		spin_pairs(1000);
		pairs += 1000;
		t = cpu_s();
		if (t - t0 >= 0.25) {
			printf("rate %.0f\n", (double)pairs / (t - t0));
			fflush(stdout);
			t0 = t;
			pairs = 0;
		}
	}
	return NULL;
}

int main(void)
{
	char line[256], cmd[32], site[8];
	long count, size;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		int n = sscanf(line, "%31s %7s %ld %ld", cmd, site, &count, &size);
		int s = n >= 2 && site[0] >= 'a' && site[0] <= 'c' ? site[0] - 'a' : -1;

		if (n >= 4 && s >= 0 && strcmp(cmd, "alloc") == 0) {
			for (long i = 0; i < count && nkept[s] < MAX_KEEP; i++)
				kept[s][nkept[s]++] = sites[s]((size_t)size);
		} else if (n >= 4 && s >= 0 && strcmp(cmd, "churn") == 0) {
			for (long i = 0; i < count; i++)
				free(sites[s]((size_t)size));
		} else if (n >= 2 && s >= 0 && strcmp(cmd, "free") == 0) {
			while (nkept[s] > 0)
				free(kept[s][--nkept[s]]);
		} else if (n >= 1 && strcmp(cmd, "spin") == 0 && !atomic_load(&spinning)) {
			atomic_store(&spinning, true);
			pthread_create(&spinner, NULL, spin_main, NULL);
		} else if (n >= 1 && strcmp(cmd, "stop") == 0 && atomic_load(&spinning)) {
			atomic_store(&spinning, false);
			pthread_join(spinner, NULL);
		} else if (n >= 1 && strcmp(cmd, "quit") == 0) {
			break;
		} else {
			printf("error: %s", line);
			continue;
		}
		printf("ok %s\n", cmd);
	}
	return 0;
}
