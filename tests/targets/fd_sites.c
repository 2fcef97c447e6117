// SPDX-License-Identifier: MIT
/* Fd profile target. `fd_sites GO`: opens a file, a socket, a pipe and an eventfd, prints
 * "ready N" (N: the descriptors it has open), waits until the file GO exists (a profiler has
 * attached), then leaks 100 descriptors from leak_site (40 files, 30 sockets, 15 pipes), opens
 * and closes many more from churn_site (open, socket, pipe2, eventfd, dup, fcntl F_DUPFD_CLOEXEC,
 * close_range), prints "done CHURN", waits until GO.exec exists, then execs itself as
 * `fd_sites --after-exec`, which prints "exec N" (the descriptors that survived: the leaked ones
 * are close-on-exec) and waits.
 * `fd_sites --bench SECONDS GO`: prints "ready", waits until GO exists, opens and closes
 * /dev/null in a loop for SECONDS and prints "opens N per_s R cpu_ns_per_open C" (its CPU time,
 * user and system, per open and close: what a competing load does not change). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int leaked[100];
static int nleaked;

static void must(int ok)
{
	if (!ok) {
		perror("fd_sites");
		exit(1);
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	must(d != NULL);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

__attribute__((noinline)) void leak_files(int n)
{
	for (int i = 0; i < n; i++) {
		int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

		must(fd >= 0);
		leaked[nleaked++] = fd;
	}
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void leak_sockets(int n)
{
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		must(fd >= 0);
		leaked[nleaked++] = fd;
	}
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void leak_pipes(int n)
{
	for (int i = 0; i < n; i++) {
		int p[2];

		must(pipe2(p, O_CLOEXEC) == 0);
		leaked[nleaked++] = p[0];
		leaked[nleaked++] = p[1];
	}
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void leak_site(void)
{
	leak_files(40);
	leak_sockets(30);
	leak_pipes(15);
	__asm__ volatile("" ::: "memory");
}

/* Returns the descriptors it created (all closed again). */
__attribute__((noinline)) long churn_site(int rounds)
{
	long made = 0;

	for (int i = 0; i < rounds; i++) {
		int p[2], fd;

		fd = open("/dev/null", O_RDONLY);
		must(fd >= 0);
		close(fd);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		must(fd >= 0);
		close(fd);
		must(pipe2(p, 0) == 0);
		close(p[1]);
		close(p[0]);
		fd = eventfd(0, 0);
		must(fd >= 0);
		close(fd);
		fd = dup(1);
		must(fd >= 0);
		close(fd);
		fd = fcntl(1, F_DUPFD_CLOEXEC, 100);
		must(fd >= 0);
		close(fd);
		made += 7;
		if (i % 50 == 0) {
			int lo = -1, hi = -1;

			for (int k = 0; k < 5; k++) {
				fd = open("/dev/null", O_RDONLY);
				must(fd >= 0);
				lo = lo < 0 || fd < lo ? fd : lo;
				hi = fd > hi ? fd : hi;
			}
			/* the five are the lowest free numbers: nothing else lies between them */
			must(syscall(SYS_close_range, lo, hi, 0) == 0);
			made += 5;
		}
	}
	__asm__ volatile("" ::: "memory");
	return made;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(double secs)
{
	double t0 = now(), c0 = cpu_now(), t;
	long n = 0;

	do {
		for (int i = 0; i < 1000; i++) {
			int fd = open("/dev/null", O_RDONLY);

			must(fd >= 0);
			close(fd);
		}
		n += 1000;
		t = now();
	} while (t - t0 < secs);
	printf("opens %ld per_s %.0f cpu_ns_per_open %.0f\n", n, n / (t - t0), (cpu_now() - c0) * 1e9 / n);
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 10000000 };
	int p[2];
	long churn;

	if (argc == 4 && strcmp(argv[1], "--bench") == 0) {
		printf("ready\n");
		fflush(stdout);
		while (access(argv[3], F_OK) != 0)
			nanosleep(&ts, NULL);
		bench(atof(argv[2]));
		fflush(stdout);
		for (;;) /* a profiler attached to it can still be read */
			pause();
	}
	if (argc == 2 && strcmp(argv[1], "--after-exec") == 0) {
		printf("exec %d\n", count_fds());
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc < 2)
		return 2;
	/* open before any profiler attaches */
	must(open("/proc/self/exe", O_RDONLY) >= 0);
	must(socket(AF_UNIX, SOCK_STREAM, 0) >= 0);
	must(pipe(p) == 0);
	must(eventfd(0, 0) >= 0);
	printf("ready %d\n", count_fds());
	fflush(stdout);
	while (access(argv[1], F_OK) != 0)
		nanosleep(&ts, NULL);
	leak_site();
	churn = churn_site(500);
	printf("done %ld\n", churn);
	fflush(stdout);
	{
		char path[4096];
		char *args[] = { argv[0], "--after-exec", NULL };

		snprintf(path, sizeof(path), "%s.exec", argv[1]);
		while (access(path, F_OK) != 0)
			nanosleep(&ts, NULL);
		execv("/proc/self/exe", args);
		perror("execv");
	}
	for (;;)
		pause();
	return 0;
}
