// SPDX-License-Identifier: MIT
/* Thread-dump target with known call chains, one kind of thread per role:
 *   cond  : cond_leaf <- cond_worker        (pthread_cond_wait, futex)
 *   sleep : sleep_leaf <- sleep_worker      (nanosleep 10 ms loop; records its longest oversleep)
 *   pipe  : pipe_leaf <- pipe_worker        (read on a pipe that never gets data)
 *   spin  : spin_leaf <- spin_worker        (busy loop; records its longest gap between clock reads)
 *   qsort : qsort_cmp <- qsort <- qsort_worker   (stack through libc)
 *   churn : a thread that keeps creating and joining short-lived threads
 *   epoll : epoll_leaf <- epoll_worker      (epoll_wait on an empty set; a ptrace stop would
 *           make it fail with EINTR)
 *   sigwait: sigwait_leaf <- sigwait_worker (sigtimedwait for SIGUSR2, same EINTR hazard)
 *   vfork : vfork_leaf <- vfork_worker      (vfork parent waiting 2 s in a killable, not
 *           interruptible, sleep: it cannot reach a ptrace stop until the child exits)
 * SIGRTMIN is counted by a handler (real-time signals queue, so none may be lost).
 * Threads are named "<role>-<n>" with pthread_setname_np. Any syscall returning EINTR is counted.
 * Usage: threads_mix [--cond N] [--sleep N] [--pipe N] [--spin N] [--qsort N] [--churn N] [--vfork N] [--epoll N] [--sigwait N]
 * Prints "ready" when all threads run, then serves commands on stdin, one per line:
 *   stats  -> "eintr=N sleepers=N oversleep_med_us=N oversleep_max_us=N spin_gap_max_us=N churned=N sigs=N"
 *   reset  -> clears the oversleep/gap records, prints "ok"
 * and exits at EOF (main itself sits in read(), another blocked syscall). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_THREADS 16384 /* the benchmark dumps 10,000 threads */
#define SLEEP_NS 10000000ll

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int pipefd[2];
static atomic_int started;
static atomic_long eintr_count;
static atomic_long churned;
static atomic_long sigs;
static atomic_llong spin_gap_max;
static atomic_llong oversleep[MAX_THREADS]; /* per sleeper, ns */
static int nsleepers;
static volatile int sink;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void record_max(atomic_llong *slot, long long v)
{
	long long cur = atomic_load(slot);

	while (v > cur && !atomic_compare_exchange_weak(slot, &cur, v))
		;
}

static void name_self(const char *role, long n)
{
	char name[16];

	snprintf(name, sizeof(name), "%s-%ld", role, n);
	pthread_setname_np(pthread_self(), name);
	atomic_fetch_add(&started, 1);
}

__attribute__((noinline)) static void cond_leaf(void)
{
	pthread_mutex_lock(&mu);
	for (;;) {
		int err = pthread_cond_wait(&never, &mu);

		if (err == EINTR)
			atomic_fetch_add(&eintr_count, 1);
	}
}

__attribute__((noinline)) static void *cond_worker(void *arg)
{
	name_self("cond", (long)arg);
	cond_leaf();
	return NULL;
}

__attribute__((noinline)) static void sleep_leaf(long idx)
{
	for (;;) {
		struct timespec ts = { 0, SLEEP_NS };
		int64_t t0 = now_ns(), late;

		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			atomic_fetch_add(&eintr_count, 1);
		late = now_ns() - t0 - SLEEP_NS;
		record_max(&oversleep[idx], late);
	}
}

__attribute__((noinline)) static void *sleep_worker(void *arg)
{
	name_self("sleep", (long)arg);
	sleep_leaf((long)arg);
	return NULL;
}

__attribute__((noinline)) static void pipe_leaf(void)
{
	char c;

	for (;;) {
		ssize_t n = read(pipefd[0], &c, 1);

		if (n < 0 && errno == EINTR)
			atomic_fetch_add(&eintr_count, 1);
		if (n == 0)
			pause();
	}
}

__attribute__((noinline)) static void *pipe_worker(void *arg)
{
	name_self("pipe", (long)arg);
	pipe_leaf();
	return NULL;
}

__attribute__((noinline)) static void spin_leaf(void)
{
	int64_t last = now_ns();

	for (;;) {
		int64_t t = now_ns();

		record_max(&spin_gap_max, t - last);
		last = t;
		for (int i = 0; i < 100; i++)
			sink += i;
	}
}

__attribute__((noinline)) static void *spin_worker(void *arg)
{
	name_self("spin", (long)arg);
	spin_leaf();
	return NULL;
}

__attribute__((noinline)) static int qsort_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	/* slow on purpose: most of the time is spent here */
	for (int i = 0; i < 200; i++)
		sink += i;
	return (x > y) - (x < y);
}

__attribute__((noinline)) static void *qsort_worker(void *arg)
{
	enum { N = 4096 };
	static __thread int v[N];

	name_self("qsort", (long)arg);
	for (unsigned seed = 1;; seed++) {
		for (int i = 0; i < N; i++)
			v[i] = (int)rand_r(&seed);
		qsort(v, N, sizeof(v[0]), qsort_cmp);
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	sink += (int)(long)arg;
	return NULL;
}

__attribute__((noinline)) static void *churn_worker(void *arg)
{
	name_self("churn", (long)arg);
	for (;;) {
		pthread_t t[8];
		int n = 0;

		for (int i = 0; i < 8; i++)
			if (pthread_create(&t[n], NULL, short_lived, (void *)(long)i) == 0)
				n++;
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		atomic_fetch_add(&churned, n);
		usleep(100);
	}
	return NULL;
}

__attribute__((noinline)) static void vfork_leaf(void)
{
	for (;;) {
		pid_t child = vfork();

		if (child == 0) {
			struct timespec ts = { 2, 0 };

			/* a bare syscall, as vfork allows: the child does not outlive a killed parent */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			nanosleep(&ts, NULL);
			_exit(0);
		}
		if (child > 0) {
			int status;

			while (waitpid(child, &status, 0) < 0 && errno == EINTR)
				atomic_fetch_add(&eintr_count, 1);
		}
	}
}

__attribute__((noinline)) static void *vfork_worker(void *arg)
{
	name_self("vfork", (long)arg);
	vfork_leaf();
	return NULL;
}

__attribute__((noinline)) static void epoll_leaf(void)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (;;)
		if (epoll_wait(ep, &ev, 1, -1) < 0 && errno == EINTR)
			atomic_fetch_add(&eintr_count, 1);
}

__attribute__((noinline)) static void *epoll_worker(void *arg)
{
	name_self("epoll", (long)arg);
	epoll_leaf();
	return NULL;
}

__attribute__((noinline)) static void sigwait_leaf(void)
{
	sigset_t set;
	siginfo_t si;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;)
		if (sigtimedwait(&set, &si, NULL) < 0 && errno == EINTR)
			atomic_fetch_add(&eintr_count, 1);
}

__attribute__((noinline)) static void *sigwait_worker(void *arg)
{
	name_self("sigwait", (long)arg);
	sigwait_leaf();
	return NULL;
}

static void on_rtmin(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigs, 1);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static void print_stats(void)
{
	static long long v[MAX_THREADS];
	long long med = 0, max = 0;

	for (int i = 0; i < nsleepers; i++)
		v[i] = atomic_load(&oversleep[i]);
	if (nsleepers) {
		qsort(v, (size_t)nsleepers, sizeof(v[0]), cmp_ll);
		med = v[nsleepers / 2];
		max = v[nsleepers - 1];
	}
	printf("eintr=%ld sleepers=%d oversleep_med_us=%lld oversleep_max_us=%lld spin_gap_max_us=%lld churned=%ld sigs=%ld\n",
	       atomic_load(&eintr_count), nsleepers, med / 1000, max / 1000,
	       atomic_load(&spin_gap_max) / 1000, atomic_load(&churned),
	       atomic_load(&sigs));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const char *const roles[] = { "cond", "sleep", "pipe", "spin", "qsort", "churn", "vfork", "epoll",
						 "sigwait" };
	static void *(*const fns[])(void *) = { cond_worker, sleep_worker, pipe_worker, spin_worker,
						 qsort_worker, churn_worker, vfork_worker, epoll_worker,
						 sigwait_worker };
	enum { NROLES = 9 };
	int count[NROLES] = { 0 }, total = 0;
	struct sigaction sa = { .sa_handler = on_rtmin, .sa_flags = SA_RESTART };
	char line[64];
	pthread_attr_t attr;

	for (int i = 1; i + 1 < argc; i += 2) {
		int r;

		for (r = 0; r < NROLES; r++)
			if (argv[i][0] == '-' && argv[i][1] == '-' && !strcmp(argv[i] + 2, roles[r]))
				break;
		if (r == NROLES) {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
		count[r] = atoi(argv[i + 1]);
	}
	for (int r = 0; r < NROLES; r++)
		total += count[r];
	if (total >= MAX_THREADS || count[1] > MAX_THREADS) {
		fprintf(stderr, "too many threads\n");
		return 2;
	}
	nsleepers = count[1];
	sigaction(SIGRTMIN, &sa, NULL);
	if (pipe(pipefd) < 0)
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (int r = 0; r < NROLES; r++) {
		for (long n = 0; n < count[r]; n++) {
			pthread_t t;

			if (pthread_create(&t, &attr, fns[r], (void *)n) != 0) {
				perror("pthread_create");
				return 1;
			}
		}
	}
	while (atomic_load(&started) < total)
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "stats", 5)) {
			print_stats();
		} else if (!strncmp(line, "reset", 5)) {
			for (int i = 0; i < nsleepers; i++)
				atomic_store(&oversleep[i], 0);
			atomic_store(&spin_gap_max, 0);
			printf("ok\n");
			fflush(stdout);
		}
	}
	if (ferror(stdin) && errno == EINTR)
		atomic_fetch_add(&eintr_count, 1);
	return 0;
}
