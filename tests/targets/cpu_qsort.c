// SPDX-License-Identifier: MIT
/* CPU profile target: spends 75% of its CPU in hot_a and 25% in hot_b, both called from a qsort
 * comparator (so every stack goes through libc's msort, which has no frame pointers).
 * Chain: hot_a|hot_b <- compare <- msort_with_tmp... <- qsort_r <- sort_round <- main.
 * Usage: cpu_qsort [SECONDS]  (default 60; prints "ready" once running). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 4096
#define SPIN 3000

static unsigned calls;

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
	int r = (calls++ & 3) == 3 ? hot_b(x) : hot_a(x);

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
	double seconds = argc > 1 ? atof(argv[1]) : 60, end = now() + seconds;
	static int v[N];
	unsigned seed = 1;

	printf("ready\n");
	fflush(stdout);
	while (now() < end)
		sort_round(v, seed++);
	return v[0] == 42;
}
