// SPDX-License-Identifier: MIT
/* Block profile target with known waits, each in its own function:
 *   "piper"   blocks in read() on a pipe in pipe_wait <- piper_main: the main thread writes a byte
 *             every 50 ms, so it waits nearly all of its time (about 1 s per second);
 *   "sleeper" sleeps 20 ms in nanosleep() in sleep_wait <- sleeper_main, then spins 20 ms in
 *             spin_for: it waits half of its time (about 0.5 s per second);
 *   "condy"   waits on a condition variable (futex) in cond_wait_here <- condy_main, signalled
 *             every 100 ms by the main thread (about 1 s per second);
 *   "shorty"  sleeps 200 us at a time in short_wait <- shorty_main (about 3000 waits per second,
 *             each far below a 10 ms rate: counted only through Go's scaling).
 * The main thread paces them with clock_nanosleep. Prints "ready" once every thread runs, and
 * each second "shorty N" with the short waits done so far. Runs until killed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ticket;
static atomic_int running;
static atomic_long short_waits;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void pipe_wait(void)
{
	char c;

	if (read(pipefd[0], &c, 1) < 0)
		abort();
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void *piper_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "piper");
	atomic_fetch_add(&running, 1);
	for (;;)
		pipe_wait();
	return NULL;
}

__attribute__((noinline)) void sleep_wait(void)
{
	struct timespec ts = { 0, 20000000 };

	nanosleep(&ts, NULL);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void spin_for(double s)
{
	double end = now() + s;

	while (now() < end)
		__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void *sleeper_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sleeper");
	atomic_fetch_add(&running, 1);
	for (;;) {
		sleep_wait();
		spin_for(0.02);
	}
	return NULL;
}

__attribute__((noinline)) void cond_wait_here(int *seen)
{
	pthread_mutex_lock(&mu);
	while (ticket == *seen)
		pthread_cond_wait(&cv, &mu);
	*seen = ticket;
	pthread_mutex_unlock(&mu);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void *condy_main(void *arg)
{
	int seen = 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "condy");
	atomic_fetch_add(&running, 1);
	for (;;)
		cond_wait_here(&seen);
	return NULL;
}

__attribute__((noinline)) void short_wait(void)
{
	struct timespec ts = { 0, 200000 };

	nanosleep(&ts, NULL);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void *shorty_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "shorty");
	atomic_fetch_add(&running, 1);
	for (;;) {
		short_wait();
		atomic_fetch_add(&short_waits, 1);
	}
	return NULL;
}

int main(void)
{
	void *(*mains[])(void *) = { piper_main, sleeper_main, condy_main, shorty_main };
	struct timespec next;
	double last_print;
	pthread_t th;
	int tick = 0;

	if (pipe(pipefd))
		return 1;
	for (size_t i = 0; i < sizeof(mains) / sizeof(mains[0]); i++)
		if (pthread_create(&th, NULL, mains[i], NULL))
			return 1;
	while (atomic_load(&running) < 4)
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	last_print = now();
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		next.tv_nsec += 50000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		if (write(pipefd[1], "x", 1) != 1)
			return 1;
		if (++tick % 2 == 0) {
			pthread_mutex_lock(&mu);
			ticket++;
			pthread_cond_signal(&cv);
			pthread_mutex_unlock(&mu);
		}
		if (now() - last_print >= 1) {
			last_print = now();
			printf("shorty %ld\n", atomic_load(&short_waits));
			fflush(stdout);
		}
	}
}
