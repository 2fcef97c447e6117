// SPDX-License-Identifier: MIT
/* malloc/free benchmark for tests/bench/bench_heap.sh. Usage: heap_bench PAIRS THREADS [live N].
 * Prints "ready <pid>", waits for SIGUSR1 (so a profiler can attach first), then each thread
 * keeps 1024 slots and PAIRS times frees a random slot and mallocs 16..527 bytes into it
 * (xorshift). Prints "ns_per_pair <wall ns per pair per thread>", "cpu_ns_per_pair <thread CPU
 * time (user + kernel, which includes uprobe traps and BPF) per pair>" and "done". CPU time is
 * the figure to compare on a loaded machine: it does not count time spent waiting for a CPU.
 * With "live N": instead allocates N 64-byte blocks and keeps them (N live allocations),
 * pausing 1 ms every 1000 so a sampling reader keeps up, then prints "done". */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static long pairs;
static uint64_t cpu_ns[64];

static void on_usr1(int sig)
{
	go = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static void *churn(void *arg)
{
	void *slots[1024] = { 0 };
	uint64_t x = 88172645463325252ull ^ (uintptr_t)arg, c0 = thread_cpu_ns();

	for (long i = 0; i < pairs; i++) {
		unsigned s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s = (unsigned)(x & 1023);
		free(slots[s]);
		slots[s] = malloc(16 + (size_t)((x >> 10) % 512));
	}
	cpu_ns[(uintptr_t)arg - 1] = thread_cpu_ns() - c0;
	for (int s = 0; s < 1024; s++)
		free(slots[s]);
	return NULL;
}

__attribute__((noinline)) static void keep_live(long n)
{
	void **keep = calloc((size_t)n, sizeof(*keep));

	for (long i = 0; i < n; i++) {
		keep[i] = malloc(64);
		if (i % 1000 == 999)
			usleep(1000);
	}
	printf("kept %ld\n", n);
}

int main(int argc, char **argv)
{
	int nthreads = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t th[64];
	uint64_t t0, t1;

	pairs = argc > 1 ? atol(argv[1]) : 1000000;
	if (nthreads < 1 || nthreads > 64)
		return 2;
	signal(SIGUSR1, on_usr1);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!go)
		pause();
	if (argc > 4 && strcmp(argv[3], "live") == 0) {
		keep_live(atol(argv[4]));
	} else {
		t0 = now_ns();
		for (int i = 0; i < nthreads; i++)
			pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1));
		for (int i = 0; i < nthreads; i++)
			pthread_join(th[i], NULL);
		t1 = now_ns();
		{
			uint64_t cpu = 0;

			for (int i = 0; i < nthreads; i++)
				cpu += cpu_ns[i];
			printf("ns_per_pair %.1f\ncpu_ns_per_pair %.1f\n", (double)(t1 - t0) / (double)pairs,
			       (double)cpu / (double)nthreads / (double)pairs);
		}
	}
	printf("done\n");
	fflush(stdout);
	for (;;)
		pause();
}
