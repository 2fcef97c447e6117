// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
/* The built-in demo target: a small "service" with worker threads that allocate (one site
 * leaks slowly, one churns), compute (through a qsort comparator in libc) and block (condition
 * variable, pipe read, sleep), and a main thread that maps memory of its own (an arena the
 * allocator never sees), so every profile profd serves has something real to show.
 * Runs until killed; `--seconds N` makes it exit by itself after N seconds. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile uint64_t sink;
static int pipefd[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

struct session {
	char name[48];
	struct session *next;
	char payload[976];
};

static struct session *sessions;

static int nsessions;

/* Leaks about 1 KiB per call: the "session cache" that is never pruned (it stops growing at
 * 64 MiB so that a forgotten demo cannot eat the machine). */
__attribute__((noinline)) static void cache_session(int id)
{
	struct session *s;

	if (__atomic_add_fetch(&nsessions, 1, __ATOMIC_RELAXED) > 65536)
		return;
	s = malloc(sizeof(*s));

	snprintf(s->name, sizeof(s->name), "session-%d", id);
	memset(s->payload, id, sizeof(s->payload));
	pthread_mutex_lock(&lock);
	s->next = sessions;
	sessions = s;
	pthread_mutex_unlock(&lock);
}

/* Allocates and frees request buffers: heavy churn, nothing retained. */
__attribute__((noinline)) static void handle_request(int n)
{
	char *buf = malloc(4096 + (size_t)(n % 8) * 512);

	memset(buf, n, 4096);
	sink += (uint64_t)buf[n % 4096];
	free(buf);
}

static int compare_scores(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	for (int i = 0; i < 100; i++) /* a deliberately expensive comparator */
		x = x * 1.0000001 + 0.0000001;
	return (x > y) - (x < y);
}

__attribute__((noinline)) static void rank_scores(void)
{
	double v[512];

	for (int i = 0; i < 512; i++)
		v[i] = (double)((i * 7919) % 512);
	qsort(v, 512, sizeof(double), compare_scores);
	sink += (uint64_t)v[0];
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;

	pthread_setname_np(pthread_self(), id ? "worker-b" : "worker-a");
	for (int n = 0;; n++) {
		handle_request(n);
		if (n % 10 == 0)
			cache_session(n);
		/* a service does work between its allocations: this keeps profd's heap probes under
		 * 1% of the demo's CPU, inside their default budget (--heap-budget 2) */
		if (n % 2 == 0)
			rank_scores();
		if (n % 100 == 0)
			usleep(5000);
	}
	return NULL;
}

static void *waiter(void *arg)
{
	pthread_setname_np(pthread_self(), "idle-waiter");
	pthread_mutex_lock(&lock);
	for (;;)
		pthread_cond_wait(&never, &lock);
	return NULL;
}

static void *reader(void *arg)
{
	char c;

	pthread_setname_np(pthread_self(), "pipe-reader");
	while (read(pipefd[0], &c, 1) != 0)
		;
	return NULL;
}

/* Maps and fills 2 MiB of arena a call, as a pool allocator would, outside malloc: only the
 * growth profile sees it. It stops at 64 MiB. */
__attribute__((noinline)) static void grow_arena(void)
{
	static int chunks;
	char *p;

	if (chunks >= 32)
		return;
	p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	chunks++;
	for (size_t i = 0; i < (2 << 20); i += 4096)
		p[i] = (char)i;
}

int main(int argc, char **argv)
{
	pthread_t t;
	int seconds = 0;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = atoi(argv[i + 1]);
	if (pipe(pipefd) != 0)
		return 1;
	for (int i = 0; i < 2; i++)
		pthread_create(&t, NULL, worker, (void *)(intptr_t)i);
	pthread_create(&t, NULL, waiter, NULL);
	pthread_create(&t, NULL, reader, NULL);
	printf("demo_target running, pid %d\n", (int)getpid());
	fflush(stdout);
	for (int s = 0; !seconds || s < seconds; s++) {
		grow_arena();
		sleep(1);
	}
	return 0;
}
