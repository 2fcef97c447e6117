// SPDX-License-Identifier: MIT
/* CPU profile target whose busy threads start late: the main thread sleeps DELAY seconds, then
 * starts NTHREADS threads named "spinner-N" that spin in spin_leaf <- spin_loop <- thread_main
 * until SECONDS have passed since start. The main thread only waits.
 * Usage: cpu_threads DELAY NTHREADS SECONDS  (prints "ready", then "started" after the threads). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double end_time;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) int spin_leaf(int x)
{
	for (int i = 0; i < 100000; i++)
		__asm__ volatile("" : "+r"(x));
	return x;
}

__attribute__((noinline)) static int spin_loop(int x)
{
	while (now() < end_time)
		x = spin_leaf(x) + 1;
	return x;
}

static void *thread_main(void *arg)
{
	char name[16];
	int r;

	snprintf(name, sizeof(name), "spinner-%d", (int)(long)arg);
	pthread_setname_np(pthread_self(), name);
	r = spin_loop((int)(long)arg);
	return (void *)(long)(r & 0);
}

int main(int argc, char **argv)
{
	double delay = argc > 1 ? atof(argv[1]) : 1, start = now();
	int n = argc > 2 ? atoi(argv[2]) : 4;
	pthread_t th[64];
	struct timespec ts = { (time_t)delay, (long)((delay - (time_t)delay) * 1e9) };

	if (n < 1 || n > 64)
		return 2;
	end_time = start + (argc > 3 ? atof(argv[3]) : 10);
	printf("ready\n");
	fflush(stdout);
	nanosleep(&ts, NULL);
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, thread_main, (void *)(long)i))
			return 1;
	printf("started\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
