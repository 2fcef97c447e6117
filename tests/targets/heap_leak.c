// SPDX-License-Identifier: MIT
/* Heap profile target with known allocation behaviour. Prints "ready <pid>", waits for SIGUSR1
 * (so that a profiler can attach first), then per round (argv[1] rounds, default 1):
 *   leak_outer -> leak_inner:    leaks LEAK_BYTES in 4096-byte blocks
 *   churn_outer -> churn_inner:  allocates and frees 10 * LEAK_BYTES in 4096-byte blocks
 *   grow_buffer:                 realloc growth 1 KiB -> 4 MiB, kept
 *   calloc_site:                 calloc(256, 16) x 1024, kept (4 MiB)
 *   memalign_site:               posix_memalign(64, 8192) x 256 + aligned_alloc(4096, 8192) x 256, kept
 *   small_align_site:            posix_memalign(16, 4096) x 1024, kept (4 MiB; glibc calls malloc
 *                                inside: counted once)
 *   thread_leaker (4 threads):   each leaks 2 MiB in 2048-byte blocks
 * then prints "done" and sleeps until killed. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAK_BYTES (32u << 20)
#define BLOCK 4096

static volatile sig_atomic_t go;
static void *volatile sink;

static void on_usr1(int sig)
{
	go = 1;
}

__attribute__((noinline)) static void leak_inner(void)
{
	for (unsigned i = 0; i < LEAK_BYTES / BLOCK; i++) {
		char *p = malloc(BLOCK);

		p[0] = 1;
		sink = p; /* never freed */
	}
}

__attribute__((noinline)) static void leak_outer(void)
{
	leak_inner();
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void churn_inner(void)
{
	for (unsigned i = 0; i < 10 * (LEAK_BYTES / BLOCK); i++) {
		char *p = malloc(BLOCK);

		p[0] = 1;
		sink = p;
		free(p);
	}
}

__attribute__((noinline)) static void churn_outer(void)
{
	churn_inner();
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void grow_buffer(void)
{
	char *p = NULL;

	for (size_t n = 1024; n <= (4u << 20); n *= 2) {
		p = realloc(p, n);
		p[n - 1] = 1;
	}
	sink = p;
}

__attribute__((noinline)) static void calloc_site(void)
{
	for (int i = 0; i < 1024; i++)
		sink = calloc(256, 16);
}

__attribute__((noinline)) static void memalign_site(void)
{
	for (int i = 0; i < 256; i++) {
		void *p = NULL;

		if (posix_memalign(&p, 64, 8192) == 0)
			sink = p;
		sink = aligned_alloc(4096, 8192);
	}
}

__attribute__((noinline)) static void small_align_site(void)
{
	for (int i = 0; i < 1024; i++) {
		void *p = NULL;

		if (posix_memalign(&p, 16, 4096) == 0)
			sink = p;
	}
}

__attribute__((noinline)) static void *thread_leaker(void *arg)
{
	for (int i = 0; i < (2 << 20) / 2048; i++)
		sink = malloc(2048);
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t th[4];

	signal(SIGUSR1, on_usr1);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!go)
		pause();
	for (int r = 0; r < rounds; r++) {
		leak_outer();
		churn_outer();
		grow_buffer();
		calloc_site();
		memalign_site();
		small_align_site();
		for (int i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, thread_leaker, NULL);
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
	}
	printf("done\n");
	fflush(stdout);
	for (;;)
		pause();
}
