// SPDX-License-Identifier: MIT
/* A prefork server, as nginx, php-fpm or postgres are: a master forks workers (without exec) that
 * burn CPU in worker_burn and allocate at worker_alloc (keeping 4 KiB blocks, 1 MiB a second);
 * each worker exits after --lifetime seconds (0: never) and the master forks a new one.
 * Usage: prefork [--workers N] [--lifetime S]   (defaults 2 and 0). Prints "ready MASTER_PID",
 * then "worker PID" as each worker starts; the workers end with the master (SIGTERM: it ends them
 * and reaps them first, so that none is left a zombie for another parent). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static volatile sig_atomic_t stop;
static pid_t kids[256]; /* the live workers */
static int nkids;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void worker_burn(void)
{
	for (int i = 0; i < 2000000; i++)
		sink += (uint64_t)i * 2654435761u;
}

__attribute__((noinline)) static void *worker_alloc(void)
{
	void *p = malloc(4096);

	if (p)
		memset(p, 3, 4096);
	return p;
}

static void worker(int lifetime)
{
	double t0 = now_s(), next_alloc = t0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	printf("worker %d\n", (int)getpid());
	fflush(stdout);
	while (!lifetime || now_s() - t0 < lifetime) {
		worker_burn();
		/* 256 blocks a second: 1 MiB */
		while (now_s() >= next_alloc) {
			sink += (uintptr_t)worker_alloc();
			next_alloc += 1.0 / 256;
		}
	}
	_exit(0);
}

static void on_term(int sig)
{
	stop = 1;
}

static void spawn(int lifetime)
{
	pid_t c = fork();

	if (c == 0)
		worker(lifetime);
	if (c > 0 && nkids < (int)(sizeof(kids) / sizeof(kids[0])))
		kids[nkids++] = c;
}

static void forget(pid_t c)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i] == c) {
			kids[i] = kids[--nkids];
			return;
		}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: waitpid returns on it */
	int workers = 2, lifetime = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--workers") == 0)
			workers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--lifetime") == 0)
			lifetime = atoi(argv[i + 1]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGTERM, &sa, NULL);
	printf("ready %d\n", (int)getpid());
	for (int i = 0; i < workers; i++)
		spawn(lifetime);
	while (!stop) {
		pid_t c = waitpid(-1, NULL, 0);

		/* a worker ended: fork its replacement */
		if (c > 0) {
			forget(c);
			if (!stop)
				spawn(lifetime);
		}
	}
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	return 0; /* killed (SIGKILL), its workers end with it (PR_SET_PDEATHSIG) */
}
