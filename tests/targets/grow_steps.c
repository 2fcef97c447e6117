// SPDX-License-Identifier: MIT
/* A process whose resources grow in steps the test controls: each step (SIGUSR1, or every
 * PERIOD_MS with -p) allocates and touches MIB MiB with malloc, opens FDS descriptors on
 * /dev/null and starts THREADS sleeping threads, then prints "step N" on stdout. At most MAX
 * steps (-n); then it only waits.
 * Usage: grow_steps [-m MIB] [-f FDS] [-t THREADS] [-p PERIOD_MS] [-n MAX] */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* The leak: a site the heap profile can name. */
__attribute__((noinline)) static void *grow_leak(size_t bytes)
{
	char *p = malloc(bytes);

	if (p)
		memset(p, 0x5a, bytes);
	return p;
}

int main(int argc, char **argv)
{
	int mib = 8, fds = 10, threads = 1, period_ms = 0, max = 1000, opt, step = 0;
	sigset_t set;

	while ((opt = getopt(argc, argv, "m:f:t:p:n:")) != -1) {
		switch (opt) {
		case 'm': mib = atoi(optarg); break;
		case 'f': fds = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'p': period_ms = atoi(optarg); break;
		case 'n': max = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: grow_steps [-m MIB] [-f FDS] [-t THREADS] [-p PERIOD_MS] [-n MAX]\n");
			return 2;
		}
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit it: only sigwait takes SIGUSR1 */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	for (;;) {
		if (period_ms > 0) {
			struct timespec ts = { period_ms / 1000, (long)(period_ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		} else {
			int sig;

			sigwait(&set, &sig);
		}
		if (step >= max)
			continue;
		/* 1 MiB blocks: above the mmap threshold, each its own mapping, all touched */
		for (int i = 0; i < mib; i++)
			if (!grow_leak(1 << 20))
				return 1;
		for (int i = 0; i < fds; i++)
			if (open("/dev/null", O_RDONLY) < 0)
				return 1;
		for (int i = 0; i < threads; i++) {
			pthread_t t;
			pthread_attr_t a;

			pthread_attr_init(&a);
			pthread_attr_setstacksize(&a, 64 << 10);
			if (pthread_create(&t, &a, sleeper, NULL) != 0)
				return 1;
			pthread_attr_destroy(&a);
		}
		printf("step %d\n", ++step);
	}
}
