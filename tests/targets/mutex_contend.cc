// SPDX-License-Identifier: MIT
/* Mutex profile target: locks held in known functions for known durations, and waiters that
 * measure how long they wait. Each kind of lock has a holder thread and waiter threads:
 *   pthread mutex  "holder"  locks in hold_mutex, sleeps HOLD_MS holding it, unlocks in
 *                            release_mutex, then rests REST_MS; two "waiter"s lock it in
 *                            wait_for_mutex, measure the wait, unlock at once, rest 1 ms;
 *   std::mutex     "stdholder" (hold_std_mutex / release_std_mutex), one "stdwaiter" in
 *                            wait_std_mutex;
 *   pthread_rwlock "writer"  write-locks in hold_rwlock, releases in release_rwlock; two
 *                            "reader"s read-lock it in wait_rwlock_read;
 *   condition var  "condy"   waits in wait_for_signal (pthread_cond_wait, about 50 ms each time);
 *                            "signaller" signals from send_signal, outside the mutex: not lock
 *                            contention, and no one waits for the mutex.
 * Usage: mutex_contend [ROUNDS]. Prints "ready", waits for SIGUSR1, runs ROUNDS rounds of each
 * holder (default 60; 0: run until killed), then prints each kind's total measured wait:
 * "mutex_wait_ns N", "std_wait_ns N", "rw_wait_ns N", "cond_wait_ns N", then "done", and idles
 * until killed. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#define HOLD_MS 20
#define REST_MS 5

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static std::mutex smu;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static int rounds = 60;
static std::atomic<int> holders_left;
static std::atomic<bool> stop;
static std::atomic<long> mutex_wait_ns, std_wait_ns, rw_wait_ns, cond_wait_ns;

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000l + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000l };

	nanosleep(&ts, NULL);
}

#define NOINLINE __attribute__((noinline))
#define BARRIER() __asm__ volatile("" ::: "memory")

extern "C" {
NOINLINE void hold_mutex(void) { pthread_mutex_lock(&mu); sleep_ms(HOLD_MS); BARRIER(); }
NOINLINE void release_mutex(void) { pthread_mutex_unlock(&mu); BARRIER(); }
NOINLINE void hold_std_mutex(void) { smu.lock(); sleep_ms(HOLD_MS); BARRIER(); }
NOINLINE void release_std_mutex(void) { smu.unlock(); BARRIER(); }
NOINLINE void hold_rwlock(void) { pthread_rwlock_wrlock(&rw); sleep_ms(HOLD_MS); BARRIER(); }
NOINLINE void release_rwlock(void) { pthread_rwlock_unlock(&rw); BARRIER(); }

NOINLINE void wait_for_mutex(void)
{
	long t0 = now_ns();

	pthread_mutex_lock(&mu);
	mutex_wait_ns += now_ns() - t0;
	pthread_mutex_unlock(&mu);
	BARRIER();
}

NOINLINE void wait_std_mutex(void)
{
	long t0 = now_ns();

	smu.lock();
	std_wait_ns += now_ns() - t0;
	smu.unlock();
	BARRIER();
}

NOINLINE void wait_rwlock_read(void)
{
	long t0 = now_ns();

	pthread_rwlock_rdlock(&rw);
	rw_wait_ns += now_ns() - t0;
	pthread_rwlock_unlock(&rw);
	BARRIER();
}

NOINLINE void wait_for_signal(void)
{
	long t0 = now_ns();

	pthread_mutex_lock(&cmu);
	while (!cond_flag)
		pthread_cond_wait(&cv, &cmu);
	cond_flag = 0;
	pthread_mutex_unlock(&cmu);
	cond_wait_ns += now_ns() - t0;
	BARRIER();
}

NOINLINE void send_signal(void)
{
	pthread_mutex_lock(&cmu);
	cond_flag = 1;
	pthread_mutex_unlock(&cmu);
	pthread_cond_signal(&cv);
	BARRIER();
}
}

static void *holder_main(void *arg)
{
	void (*hold)(void) = ((void (**)(void))arg)[0], (*release)(void) = ((void (**)(void))arg)[1];

	for (int i = 0; rounds == 0 || i < rounds; i++) {
		hold();
		release();
		sleep_ms(REST_MS);
	}
	holders_left--;
	return NULL;
}

static void *waiter_main(void *arg)
{
	void (*wait)(void) = (void (*)(void))arg;

	while (!stop) {
		wait();
		sleep_ms(1);
	}
	return NULL;
}

static void *signaller_main(void *arg)
{
	(void)arg;
	while (!stop) {
		sleep_ms(50);
		send_signal();
	}
	return NULL;
}

static void *condy_main(void *arg)
{
	(void)arg;
	while (!stop)
		wait_for_signal();
	return NULL;
}

static pthread_t start(const char *name, void *(*fn)(void *), void *arg)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, arg))
		abort();
	pthread_setname_np(t, name);
	return t;
}

int main(int argc, char **argv)
{
	static void (*mutex_fns[2])(void) = { hold_mutex, release_mutex };
	static void (*std_fns[2])(void) = { hold_std_mutex, release_std_mutex };
	static void (*rw_fns[2])(void) = { hold_rwlock, release_rwlock };
	pthread_t t[16];
	int n = 0, sig;
	sigset_t set;

	if (argc > 1)
		rounds = atoi(argv[1]);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	sigwait(&set, &sig);
	if (sig == SIGTERM)
		return 0;
	holders_left = 3;
	t[n++] = start("holder", holder_main, mutex_fns);
	t[n++] = start("stdholder", holder_main, std_fns);
	t[n++] = start("writer", holder_main, rw_fns);
	sleep_ms(2); /* the holders hold first */
	t[n++] = start("waiter", waiter_main, (void *)wait_for_mutex);
	t[n++] = start("waiter", waiter_main, (void *)wait_for_mutex);
	t[n++] = start("stdwaiter", waiter_main, (void *)wait_std_mutex);
	t[n++] = start("reader", waiter_main, (void *)wait_rwlock_read);
	t[n++] = start("reader", waiter_main, (void *)wait_rwlock_read);
	t[n++] = start("condy", condy_main, NULL);
	t[n++] = start("signaller", signaller_main, NULL);
	while (holders_left > 0)
		sleep_ms(10);
	stop = true;
	for (int i = 3; i < n; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("mutex_wait_ns %ld\nstd_wait_ns %ld\nrw_wait_ns %ld\ncond_wait_ns %ld\ndone\n", mutex_wait_ns.load(),
	       std_wait_ns.load(), rw_wait_ns.load(), cond_wait_ns.load());
	sigdelset(&set, SIGUSR1);
	sigwait(&set, &sig);
	return 0;
}
