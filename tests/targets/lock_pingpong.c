// SPDX-License-Identifier: MIT
/* Lock contention benchmark target (tests/bench/bench_mutex.sh): two threads hand a baton back
 * and forth through a pair of pthread mutexes, each held by the other side: "ping" waits to lock
 * A, which "pong" unlocks after it locked B, which ping unlocks, and so on (glibc's default
 * mutex may be unlocked by another thread). Nearly every lock is a contended futex wait on a held
 * word and every unlock a wake: the mutex profile's path, two waits per round trip. Waits until
 * the file GO exists (a profiler has attached), does ROUNDS round trips, prints "elapsed SECONDS
 * ROUNDS cpu SECONDS" (wall time, and the process's CPU time, user + system, which holds what BPF
 * programs cost it) and exits, or with a third argument "linger" waits to be killed.
 * Usage: lock_pingpong GO ROUNDS [linger] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static long rounds;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void *pong(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		pthread_mutex_lock(&a);  /* ping unlocks it */
		pthread_mutex_unlock(&b); /* ping waits for it */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 10000000 };
	pthread_t th;
	double t0;

	rounds = argc > 2 ? atol(argv[2]) : 100000;
	pthread_mutex_lock(&a);
	pthread_mutex_lock(&b);
	if (rounds < 1 || pthread_create(&th, NULL, pong, NULL))
		return 2;
	while (argc > 1 && access(argv[1], F_OK) != 0)
		nanosleep(&ts, NULL);
	t0 = now();
	for (long i = 0; i < rounds; i++) {
		pthread_mutex_unlock(&a);
		pthread_mutex_lock(&b);
	}
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
