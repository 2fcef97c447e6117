// SPDX-License-Identifier: MIT
/* Process sets for tests/bench/bench_sets.sh: many processes, and many forks.
 *   sets_bench tree N WORK_US PERIOD_MS [PATH...]
 *       forks N children (exec'ing PATH[i % #PATH] as `PATH worker WORK_US PERIOD_MS` when paths
 *       are given), prints "ready N" once they all run, then sleeps; the children die with it.
 *   sets_bench worker WORK_US PERIOD_MS
 *       loops: burns WORK_US of its own CPU time in set_work, then sleeps PERIOD_MS (times 0.5 to
 *       1.5, at random, so that a thousand of them do not wake together); PERIOD_MS 0: spins.
 *   sets_bench fork RATE EXEC_EVERY
 *       reads "run SECONDS" lines on stdin; for each, forks RATE children a second (0: as fast as
 *       it can) for SECONDS, each exiting at once (every EXEC_EVERY-th execs /bin/true; 0: none),
 *       reaps them, and prints one line:
 *       "forks=N seconds=S rate=R fork_us=MEAN cpu_us_per_child=C" (C: its own CPU and its
 *       reaped children's over the run, per child).
 * bench_sets.sh also runs copies of it given other build ids (objcopy --update-section). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void set_work(double us)
{
	double until = clock_s(CLOCK_PROCESS_CPUTIME_ID) + us / 1e6;

	do {
		for (int i = 0; i < 20000; i++)
			sink += (uint64_t)i * 2654435761u;
	} while (clock_s(CLOCK_PROCESS_CPUTIME_ID) < until);
}

static void worker(double work_us, int period_ms)
{
	srand((unsigned)getpid());
	for (;;) {
		set_work(work_us);
		if (period_ms > 0) {
			double s = period_ms * (0.5 + (double)rand() / RAND_MAX) / 1e3;
			struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

			nanosleep(&ts, NULL);
		}
	}
}

static int tree(int n, double work_us, int period_ms, char **paths, int npaths)
{
	pid_t parent = getpid();
	char wus[32], pms[32];

	snprintf(wus, sizeof(wus), "%.0f", work_us);
	snprintf(pms, sizeof(pms), "%d", period_ms);
	for (int i = 0; i < n; i++) {
		pid_t c = fork();

		if (c < 0) {
			perror("fork");
			return 1;
		}
		if (c == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			if (npaths) {
				const char *p = paths[i % npaths];

				execl(p, p, "worker", wus, pms, (char *)NULL);
				_exit(127);
			}
			worker(work_us, period_ms);
		}
	}
	printf("ready %d\n", n);
	fflush(stdout);
	/* reap the workers that end (killed one by one, they leave no zombie), then wait for a signal */
	for (;;)
		if (wait(NULL) < 0 && errno == ECHILD)
			pause();
}

static int forker(int rate, int exec_every)
{
	char line[128];

	signal(SIGPIPE, SIG_IGN);
	while (fgets(line, sizeof(line), stdin)) {
		double secs, t0, t_end, fork_s = 0, cpu0, cpu1;
		long forks = 0;
		struct rusage self, kids;

		if (sscanf(line, "run %lf", &secs) != 1)
			continue;
		getrusage(RUSAGE_SELF, &self);
		getrusage(RUSAGE_CHILDREN, &kids);
		cpu0 = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec +
		       self.ru_stime.tv_usec / 1e6 + kids.ru_utime.tv_sec + kids.ru_utime.tv_usec / 1e6 +
		       kids.ru_stime.tv_sec + kids.ru_stime.tv_usec / 1e6;
		t0 = clock_s(CLOCK_MONOTONIC);
		t_end = t0 + secs;
		for (;;) {
			double now = clock_s(CLOCK_MONOTONIC), a;
			pid_t c;

			if (now >= t_end)
				break;
			if (rate > 0) {
				double due = t0 + (double)forks / rate;

				if (due > now) {
					double s = due - now;
					struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

					nanosleep(&ts, NULL);
					continue;
				}
			}
			a = clock_s(CLOCK_MONOTONIC);
			c = fork();
			if (c == 0) {
				if (exec_every > 0 && (forks + 1) % exec_every == 0)
					execl("/bin/true", "true", (char *)NULL);
				_exit(0);
			}
			fork_s += clock_s(CLOCK_MONOTONIC) - a;
			if (c > 0)
				forks++;
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
		while (waitpid(-1, NULL, 0) > 0)
			;
		secs = clock_s(CLOCK_MONOTONIC) - t0;
		getrusage(RUSAGE_SELF, &self);
		getrusage(RUSAGE_CHILDREN, &kids);
		cpu1 = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec +
		       self.ru_stime.tv_usec / 1e6 + kids.ru_utime.tv_sec + kids.ru_utime.tv_usec / 1e6 +
		       kids.ru_stime.tv_sec + kids.ru_stime.tv_usec / 1e6;
		printf("forks=%ld seconds=%.3f rate=%.1f fork_us=%.1f cpu_us_per_child=%.1f\n", forks, secs,
		       forks / secs, forks ? 1e6 * fork_s / forks : 0, forks ? 1e6 * (cpu1 - cpu0) / forks : 0);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "tree") == 0)
		return tree(atoi(argv[2]), atof(argv[3]), atoi(argv[4]), argv + 5, argc - 5);
	if (argc == 4 && strcmp(argv[1], "worker") == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept from the tree's fork, set again after exec */
		worker(atof(argv[2]), atoi(argv[3]));
	}
	if (argc == 4 && strcmp(argv[1], "fork") == 0)
		return forker(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: %s tree N WORK_US PERIOD_MS [PATH...] | worker WORK_US PERIOD_MS | "
			"fork RATE EXEC_EVERY\n",
		argv[0]);
	return 2;
}
