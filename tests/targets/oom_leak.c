// SPDX-License-Identifier: MIT
/* A process that runs out of memory at a known site, for --snapshot-on oom and pressure. Prints
 * "ready <pid>" and waits for SIGUSR1 (so that a profiler attaches and the test moves it into a
 * memory cgroup first); then keep_site keeps 2 MiB, and:
 *   oom_leak leak           leak_site leaks 256 KiB blocks, touched, every 2 ms, until killed
 *   oom_leak fork           the same in a child (which prints "ready"), whose parent reaps it
 *                           only on SIGTERM, then exits: the child, once killed, stays a zombie
 *   oom_leak pressure MIB FILE   leak_site leaks MIB MiB, prints "leaked", then reads FILE over
 *                           and over (its page cache fills the cgroup to its limit, which the
 *                           kernel then reclaims), until killed; the file's pages cached
 *                           before are dropped first, so that its own reads are charged to its
 *                           cgroup */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (256u << 10)

static volatile sig_atomic_t go;
static void *volatile sink;

static volatile sig_atomic_t term;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

__attribute__((noinline)) static void *leak_site(void)
{
	char *p = malloc(BLOCK);

	if (p)
		memset(p, 0x5a, BLOCK);
	return p;
}

__attribute__((noinline)) static void keep_site(void)
{
	for (int i = 0; i < 8; i++) {
		char *p = malloc(BLOCK);

		if (p)
			memset(p, 0x33, BLOCK);
		sink = p;
	}
}

static void nap_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "leak";
	long mib = argc > 2 ? atol(argv[2]) : 0;
	static char buf[1 << 16];

	if (strcmp(mode, "fork") == 0) {
		sigset_t none;
		pid_t child;

		signal(SIGTERM, on_term);
		fflush(stdout);
		child = fork();
		if (child < 0)
			return 1;
		if (child > 0) {
			sigemptyset(&none);
			while (!term)
				sigsuspend(&none);
			waitpid(child, NULL, 0);
			return 0;
		}
		signal(SIGTERM, SIG_DFL);
	}
	signal(SIGUSR1, on_usr1);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!go)
		nap_ms(10);
	keep_site();
	if (strcmp(mode, "pressure") == 0 && argc > 3) {
		for (long i = 0; i < mib * 4; i++)
			sink = leak_site();
		printf("leaked\n");
		fflush(stdout);
		{
			int fd = open(argv[3], O_RDONLY);

			if (fd < 0)
				return 1;
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
		for (;;) {
			int fd = open(argv[3], O_RDONLY);

			if (fd < 0)
				return 1;
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
			nap_ms(1);
		}
	}
	for (;;) {
		sink = leak_site();
		nap_ms(2);
	}
}
