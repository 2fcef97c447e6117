// SPDX-License-Identifier: MIT
/* CPU profile target: spends 75% of its CPU in hot_a and 25% in hot_b, both called from a qsort
 * comparator (so every stack goes through libc's msort, which has no frame pointers).
 * Chain: hot_a|hot_b <- compare <- msort_with_tmp... <- qsort_r <- sort_round <- main.
 * Usage: cpu_qsort [alloc] [SECONDS [ROUNDS]]  (default 60 s; prints "ready" once running). With
 * ROUNDS, sleeps 1 s, does exactly that many sorts and prints "elapsed <s> cpu <s>" (for overhead
 * benchmarks). With alloc, the comparator also allocates and frees a small block on every call
 * (malloc, and every eighth call posix_memalign(16), which calls malloc: a nested probed call),
 * so that heap probes trap under compare: chain malloc|free|posix_memalign <- compare <- ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 4096
#define SPIN 3000

static unsigned calls;
static int alloc_mode;

/* Both do identical work per call; compare() calls hot_a three times out of four. */
__attribute__((noinline)) int hot_a(int x)
{
	for (int i = 0; i < SPIN; i++)
		__asm__ volatile("" : "+r"(x));
	return x;
}

__attribute__((noinline)) int hot_b(int x)
{
	for (int i = 0; i < SPIN; i++)
		__asm__ volatile("" : "+r"(x));
	return x;
}

__attribute__((noinline)) static int compare(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	int r = (calls & 3) == 3 ? hot_b(x) : hot_a(x);

	if (alloc_mode) {
		void *p;

		if ((calls & 7) == 7) {
			if (posix_memalign(&p, 16, 48))
				p = NULL;
		} else {
			p = malloc(32 + (calls & 15));
		}
		if (p)
			*(volatile char *)p = (char)x;
		free(p);
	}
	calls++;

	/* use r after the call so that the call is not a tail call */
	return (x > y) - (x < y) + (r & 0);
}

__attribute__((noinline)) static void sort_round(int *v, unsigned seed)
{
	for (int i = 0; i < N; i++)
		v[i] = (int)(seed = seed * 1103515245u + 12345u);
	qsort(v, N, sizeof(*v), compare);
	__asm__ volatile("" ::: "memory"); /* keep sort_round on the stack: no tail call to qsort */
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int a = argc > 1 && !strcmp(argv[1], "alloc") ? 2 : 1;
	double seconds = argc > a ? atof(argv[a]) : 60, start = now(), end = start + seconds;
	long rounds = argc > a + 1 ? atol(argv[a + 1]) : 0;
	static int v[N];
	unsigned seed = 1;
	struct timespec cpu;

	alloc_mode = a == 2;
	printf("ready\n");
	fflush(stdout);
	if (rounds > 0) {
		struct timespec pause = { 1, 0 };

		nanosleep(&pause, NULL); /* time for a profiler to attach before the measured work */
		start = now();
		for (long i = 0; i < rounds; i++)
			sort_round(v, seed++);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		printf("elapsed %.4f cpu %.4f\n", now() - start, cpu.tv_sec + cpu.tv_nsec / 1e9);
		return v[0] == 42;
	}
	while (now() < end)
		sort_round(v, seed++);
	return v[0] == 42;
}
