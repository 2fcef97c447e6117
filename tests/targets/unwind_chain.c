// SPDX-License-Identifier: MIT
/* Target for the unwinder tests: parks one thread in a known call chain, then prints
 * "ready <tid>" on stdout and blocks in read(0) until stdin closes or it is killed.
 *   qsort   main -> run_sort -> qsort -> msort_with_tmp -> compare_blocking -> read
 *   thread  start_thread -> thread_main -> run_sort -> qsort ... -> read (main joins)
 *   signal  main -> spin (busy) -> SIGALRM -> on_alarm -> read; prints the interrupted pc too
 *   deep N  main -> recurse x N -> run_sort -> qsort ... -> read (for the benchmark)
 *   dlopen  waits for a line on stdin, dlopens libz, prints "zlib <address of zlibVersion>",
 *           then does what qsort does
 * Built -O2 -g without frame pointers, like distribution code. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t alarmed;
static volatile unsigned long spins;

static volatile int two = 2;

/* Both functions below keep a frame pointer (a variable-length array makes gcc do that even
 * with -fomit-frame-pointer): their CFA is rbp-based, so unwinding them needs rbp carried
 * correctly from the frames below (read() leaves it as it was, qsort saves it). */
__attribute__((noinline)) static void announce_and_block(unsigned long extra)
{
	char buf[32 * two];
	int n = snprintf(buf, 32 * (size_t)two, "ready %ld %#lx\n", (long)syscall(SYS_gettid), extra);

	if (write(1, buf, (size_t)n) != n)
		_exit(3);
	/* blocks until the test closes our stdin */
	while (read(0, buf, 32 * (size_t)two) > 0)
		;
	_exit(0);
}

__attribute__((noinline)) static int compare_blocking(const void *a, const void *b)
{
	announce_and_block(0);
	return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void run_sort(void)
{
	int v[two];

	v[0] = 2;
	v[1] = 1;
	qsort(v, (size_t)two, sizeof(v[0]), compare_blocking);
	__asm__ volatile("" ::: "memory"); /* keep the call a call, not a tail jump */
}

__attribute__((noinline)) static int recurse(int n)
{
	int r = 0;

	if (n > 0) {
		r = recurse(n - 1);
		__asm__ volatile("" : "+r"(r)); /* no accumulator-recursion-to-loop */
		return r + 1;
	}
	run_sort();
	return r;
}

static void *thread_main(void *arg)
{
	run_sort();
	return arg;
}

static void on_alarm(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;

	alarmed = 1;
	announce_and_block((unsigned long)uc->uc_mcontext.gregs[REG_RIP]);
}

__attribute__((noinline)) static void spin(void)
{
	while (!alarmed)
		spins++;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "qsort";

	if (!strcmp(mode, "qsort")) {
		run_sort();
	} else if (!strcmp(mode, "deep")) {
		recurse(argc > 2 ? atoi(argv[2]) : 0);
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_main, NULL))
			return 2;
		pthread_join(t, NULL);
	} else if (!strcmp(mode, "signal")) {
		struct sigaction sa = { .sa_sigaction = on_alarm, .sa_flags = SA_SIGINFO };
		struct itimerval it = { .it_value = { .tv_usec = 20000 } };

		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		spin();
	} else if (!strcmp(mode, "dlopen")) {
		char c = 0;
		void *h;

		while (c != '\n')
			if (read(0, &c, 1) != 1)
				return 3;
		h = dlopen("libz.so.1", RTLD_NOW);
		if (!h)
			return 4;
		printf("zlib %p\n", dlsym(h, "zlibVersion"));
		fflush(stdout);
		run_sort();
	} else {
		fprintf(stderr, "usage: %s qsort|thread|signal|deep N|dlopen\n", argv[0]);
		return 2;
	}
	return 0;
}
