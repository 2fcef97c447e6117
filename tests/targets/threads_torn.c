// SPDX-License-Identifier: MIT
/* Stress target for thread dumps taken while threads wake up: N threads named "torn-<n>" that
 * each loop forever over
 *     torn_descend(d) -> torn_descend(d - 1) -> ... -> torn_rest -> nanosleep(a few us)
 * with a random depth d (1..TORN_MAX_DEPTH) and a random sleep (0..MAX_SLEEP_US) every time, so
 * their stacks change between two sleeps. Every stack such a thread really has is, from the
 * leaf: libc's nanosleep frames and/or torn_rest (or neither, while awake), up to
 * TORN_MAX_DEPTH torn_descend frames, torn_worker, start_thread, clone3. Each torn_descend
 * frame holds a pad of a pattern that is no code address: a copy torn between two depths
 * unwinds into garbage, not into another valid stack.
 * Usage: threads_torn N MAX_SLEEP_US; prints "ready" once every thread runs, then
 * "loops=<sum of iterations>" for each line read on stdin; exits at EOF. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TORN_MAX_DEPTH 12
#define PAD_WORDS 64 /* 512 bytes per level: a deep stack spans pages, so its copy takes long */

static unsigned max_sleep_us;
static atomic_int started;
static atomic_long loops;

__attribute__((noinline)) static void torn_rest(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

__attribute__((noinline)) static void torn_descend(int depth, unsigned us)
{
	volatile uint64_t pad[PAD_WORDS];

	for (int i = 0; i < PAD_WORDS; i++)
		pad[i] = 0x5a5a5a5a00000000ull | (uint64_t)(depth << 8 | i);
	if (depth > 1)
		torn_descend(depth - 1, us);
	else
		torn_rest(us);
	pad[0]++; /* no tail call: this frame stays on the stack during the call */
}

__attribute__((noinline)) static void *torn_worker(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	char name[16];

	snprintf(name, sizeof(name), "torn-%ld", (long)(uintptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	atomic_fetch_add(&started, 1);
	for (;;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		torn_descend(1 + (int)(x % TORN_MAX_DEPTH), max_sleep_us ? (unsigned)(x >> 32) % max_sleep_us : 0);
		atomic_fetch_add_explicit(&loops, 1, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char line[64];
	int n;

	if (argc != 3 || (n = atoi(argv[1])) <= 0 || n > 4096) {
		fprintf(stderr, "usage: threads_torn N MAX_SLEEP_US\n");
		return 2;
	}
	max_sleep_us = (unsigned)atoi(argv[2]);
	for (long i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, torn_worker, (void *)(uintptr_t)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	while (atomic_load(&started) < n) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		printf("loops=%ld\n", atomic_load(&loops));
		fflush(stdout);
	}
	return 0;
}
