// SPDX-License-Identifier: MIT
/* Context-switch benchmark target (tests/bench/bench_block.sh): two threads hand a token back
 * and forth through a pair of pipes, each blocking in read() until the other writes, so every
 * hand-over is a wait and two context switches. Waits until the file GO exists (a profiler has
 * attached), does ROUNDS round trips, prints "elapsed SECONDS ROUNDS cpu SECONDS" (wall time, and
 * the process's CPU time, user + system, which holds what BPF programs cost it) and exits, or
 * with a third argument "linger" waits to be killed (so that a profiler can still be asked).
 * Usage: pingpong GO ROUNDS [linger] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int ab[2], ba[2];
static long rounds;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void *pong(void *arg)
{
	char c;

	(void)arg;
	for (long i = 0; i < rounds; i++)
		if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
			abort();
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 10000000 };
	pthread_t th;
	double t0;
	char c = 'x';

	rounds = argc > 2 ? atol(argv[2]) : 100000;
	if (rounds < 1 || pipe(ab) || pipe(ba) || pthread_create(&th, NULL, pong, NULL))
		return 2;
	while (argc > 1 && access(argv[1], F_OK) != 0)
		nanosleep(&ts, NULL);
	t0 = now();
	for (long i = 0; i < rounds; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			abort();
	pthread_join(th, NULL);
	{
		double wall = now() - t0;
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("elapsed %.6f %ld cpu %.6f\n", wall, rounds,
		       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
		fflush(stdout);
	}
	while (argc > 3 && strcmp(argv[3], "linger") == 0)
		pause();
	return 0;
}
