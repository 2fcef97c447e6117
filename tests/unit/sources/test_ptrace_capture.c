// SPDX-License-Identifier: MIT
/* ptrace_capture against tests/targets/threads_mix: registers and stack copies of every kind of
 * thread, nothing left stopped or traced, no EINTR, no lost signal, the clear error for an already
 * traced thread, zombies, group-stopped targets, a thread that cannot stop (deadline), and SIGKILL
 * of the capturing process. Needs root (CAP_SYS_PTRACE); skips otherwise. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "proc/procmaps.h"
#include "sources/ptrace_capture.h"
#include "threads_target.h"

static int capture_all(pid_t pid, int *ret_ok)
{
	pid_t tids[256];
	int n = tt_tids(pid, tids, 256), bad = 0;

	*ret_ok = 0;
	for (int i = 0; i < n; i++) {
		struct thread_capture c;
		int err = ptrace_capture_thread(pid, tids[i], 16384, &c, NULL);

		if (err == 0)
			(*ret_ok)++;
		else if (err != -ESRCH)
			bad++;
		thread_capture_release(&c);
	}
	return bad;
}

static void test_every_kind_of_thread(void **state)
{
	static const char *const args[] = { "--cond", "3", "--sleep", "3", "--pipe", "2", "--spin", "1",
					    "--qsort", "1", NULL };
	struct tt_target t = { 0 };
	struct procmaps maps = { 0 };
	pid_t tids[64];
	int n;

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	n = tt_tids(t.pid, tids, 64);
	assert_int_equal(n, 11);
	assert_int_equal(procmaps_read(t.pid, &maps), 0);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < n; i++) {
			struct thread_capture c;
			const struct procmaps_entry *e;
			uint64_t sp;

			assert_int_equal(ptrace_capture_thread(t.pid, tids[i], 65536, &c, NULL), 0);
			sp = c.regs.r[UNWIND_REG_RSP];
			assert_int_equal(c.tid, tids[i]);
			assert_true(c.regs.r[UNWIND_REG_RIP] != 0);
			assert_true(sp != 0);
			assert_true(c.stack_start == sp);
			assert_int_equal(c.stack_wanted, 65536);
			assert_non_null(c.stack);
			/* bounded by the end of the stack mapping, and complete up to it or the limit */
			e = procmaps_find(&maps, sp);
			assert_non_null(e);
			assert_true(sp + c.stack_len <= e->end);
			assert_int_equal(c.stack_len, e->end - sp < 65536 ? e->end - sp : 65536);
			assert_true(c.pause_ns > 0);
			assert_true(c.pause_ns < (uint64_t)PTRACE_CAPTURE_TIMEOUT_MS * 1000000ull);
			/* the copy is the stack: the word at sp is a readable value of this mapping's page */
			thread_capture_release(&c);
			assert_null(c.stack);
		}
	}
	/* the main thread's sp is within a few KiB of the top of [stack]: a partial copy */
	{
		struct thread_capture c;

		assert_int_equal(ptrace_capture_thread(t.pid, t.pid, PTRACE_CAPTURE_MAX_STACK, &c, NULL), 0);
		assert_true(c.stack_len < PTRACE_CAPTURE_MAX_STACK);
		assert_true(c.stack_len > 0);
		thread_capture_release(&c);
	}
	assert_int_equal(tt_count_traced(t.pid), 0);
	assert_int_equal(tt_stat(&t, "eintr"), 0);
	procmaps_free(&maps);
	tt_stop(&t);
}

static void test_bad_input(void **state)
{
	struct thread_capture c;

	(void)state;
	assert_int_equal(ptrace_capture_thread(0, 1, 4096, &c, NULL), -EINVAL);
	assert_int_equal(ptrace_capture_thread(getpid(), 0, 4096, &c, NULL), -EINVAL);
	assert_int_equal(ptrace_capture_thread(getpid(), getpid(), PTRACE_CAPTURE_MAX_STACK + 1, &c, NULL),
			 -EINVAL);
	assert_int_equal(ptrace_capture_thread(getpid(), getpid(), 4096, NULL, NULL), -EINVAL);
	/* no such process / thread */
	assert_int_equal(ptrace_capture_thread(0x3ffffff0, 0x3ffffff0, 4096, &c, NULL), -ESRCH);
	assert_int_equal(ptrace_capture_thread(getpid(), 0x3ffffff0, 0, &c, NULL), -ESRCH);
	/* ourselves: the kernel refuses to trace a thread of the tracer's own group */
	assert_int_equal(ptrace_capture_thread(getpid(), getpid(), 0, &c, NULL), -EPERM);
}

static void test_already_traced(void **state)
{
	static const char *const args[] = { "--cond", "2", NULL };
	struct tt_target t = { 0 };
	struct thread_capture c;
	pid_t tracer_pid, victim, tracer = -1;
	int ready[2];
	char b;

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	victim = tt_find_thread(t.pid, "cond-0");
	assert_true(victim > 0);
	assert_int_equal(pipe(ready), 0);
	tracer_pid = fork();
	assert_true(tracer_pid >= 0);
	if (tracer_pid > 0)
		tt_track(tracer_pid);
	if (tracer_pid == 0) {
		if (ptrace(PTRACE_SEIZE, victim, NULL, NULL) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_int_equal(read(ready[0], &b, 1), 1);
	assert_int_equal(ptrace_capture_thread(t.pid, victim, 4096, &c, &tracer), -EPERM);
	assert_int_equal(tracer, tracer_pid);
	assert_null(c.stack);
	/* other threads are not traced by it */
	assert_int_equal(ptrace_capture_thread(t.pid, t.pid, 4096, &c, &tracer), 0);
	thread_capture_release(&c);
	kill(tracer_pid, SIGKILL);
	waitpid(tracer_pid, NULL, 0);
	tt_untrack(tracer_pid);
	assert_int_equal(ptrace_capture_thread(t.pid, victim, 4096, &c, &tracer), 0);
	thread_capture_release(&c);
	close(ready[0]);
	close(ready[1]);
	tt_stop(&t);
}

static void *zombie_child_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void test_zombie_leader(void **state)
{
	struct thread_capture c;
	pid_t child, tids[8];
	int n = 0;

	(void)state;
	child = fork();
	assert_true(child >= 0);
	if (child > 0)
		tt_track(child);
	if (child == 0) {
		pthread_t th;

		pthread_create(&th, NULL, zombie_child_thread, NULL);
		pthread_exit(NULL); /* the leader becomes a zombie, the other thread runs on */
	}
	for (int i = 0; i < 500 && tt_state(child, child) != 'Z'; i++)
		tt_sleep_ms(2);
	assert_int_equal(tt_state(child, child), 'Z');
	assert_int_equal(ptrace_capture_thread(child, child, 4096, &c, NULL), -ESRCH);
	n = tt_tids(child, tids, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		if (tids[i] != child) {
			assert_int_equal(ptrace_capture_thread(child, tids[i], 4096, &c, NULL), 0);
			thread_capture_release(&c);
		}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	tt_untrack(child);
}

struct signaller {
	pid_t pid, tid;
	int count;
	int finished;
};

static void *send_signals(void *arg)
{
	struct signaller *s = arg;

	for (int i = 0; i < s->count; i++) {
		syscall(SYS_tgkill, s->pid, s->tid, SIGRTMIN);
		if (i % 4 == 0)
			sched_yield();
	}
	__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Real-time signals queue: every one sent while we stop and release the thread must arrive,
 * including those the thread was stopped delivering (signal-delivery-stop, re-injected). */
static void test_signals_not_lost(void **state)
{
	static const char *const args[] = { "--pipe", "1", "--cond", "1", NULL };
	struct tt_target t = { 0 };
	long got = -1, sent = 0;
	int reinjected = 0;
	pid_t tid;

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	tid = tt_find_thread(t.pid, "pipe-0");
	assert_true(tid > 0);
	/* a signal-delivery-stop needs a signal dequeued between SEIZE and INTERRUPT: rare, so
	 * repeat rounds until some were seen (bounded) */
	for (int round = 0; round < 10 && reinjected < 3; round++) {
		struct signaller s = { .pid = t.pid, .tid = tid, .count = 20000 };
		pthread_t th;

		assert_int_equal(pthread_create(&th, NULL, send_signals, &s), 0);
		while (!__atomic_load_n(&s.finished, __ATOMIC_ACQUIRE)) {
			struct thread_capture c;

			assert_int_equal(ptrace_capture_thread(t.pid, tid, 4096, &c, NULL), 0);
			if (c.signal) {
				assert_int_equal(c.signal, SIGRTMIN);
				reinjected++;
			}
			thread_capture_release(&c);
		}
		pthread_join(th, NULL);
		sent += s.count;
	}
	/* every signal must arrive; on a loaded machine the target may need seconds to take them */
	for (int i = 0; i < 5000; i++) {
		got = tt_stat(&t, "sigs");
		if (got == sent)
			break;
		tt_sleep_ms(2);
	}
	assert_int_equal(got, sent);
	assert_int_equal(tt_stat(&t, "eintr"), 0);
	assert_int_equal(tt_count_traced(t.pid), 0);
	tt_stop(&t);
	if (!reinjected)
		skip(); /* no signal-delivery-stop happened: the re-injection path was not exercised */
}

/* A stopped (SIGSTOP) process can be captured and stays stopped until SIGCONT. */
static void test_group_stop(void **state)
{
	static const char *const args[] = { "--cond", "2", "--sleep", "2", NULL };
	struct tt_target t = { 0 };
	pid_t tids[16];
	int n;

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	n = tt_tids(t.pid, tids, 16);
	kill(t.pid, SIGSTOP);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 500 && tt_state(t.pid, tids[i]) != 'T'; j++)
			tt_sleep_ms(2);
	for (int i = 0; i < n; i++) {
		struct thread_capture c;

		assert_int_equal(tt_state(t.pid, tids[i]), 'T');
		assert_int_equal(ptrace_capture_thread(t.pid, tids[i], 4096, &c, NULL), 0);
		assert_true(c.regs.r[UNWIND_REG_RIP] != 0);
		thread_capture_release(&c);
	}
	tt_sleep_ms(20);
	for (int i = 0; i < n; i++)
		assert_int_equal(tt_state(t.pid, tids[i]), 'T');
	kill(t.pid, SIGCONT);
	assert_int_equal(tt_stat(&t, "eintr"), 0);
	assert_int_equal(tt_count_traced(t.pid), 0);
	tt_stop(&t);
}

/* A vfork parent waits in a killable (not interruptible) sleep and cannot reach a ptrace stop:
 * the capture must give up at the deadline, and leave the thread untraced and running. */
static void test_deadline(void **state)
{
	static const char *const args[] = { "--vfork", "1", "--cond", "1", NULL };
	struct tt_target t = { 0 };
	struct thread_capture c;
	pid_t tid;
	int err, tracer = -1;

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	tid = tt_find_thread(t.pid, "vfork-0");
	assert_true(tid > 0);
	for (int i = 0; i < 500 && tt_state(t.pid, tid) != 'D'; i++)
		tt_sleep_ms(2);
	assert_int_equal(tt_state(t.pid, tid), 'D');
	err = ptrace_capture_thread(t.pid, tid, 4096, &c, NULL);
	if (err == 0) {
		/* the vfork child exited just then: legitimate, but then the deadline was not tested */
		thread_capture_release(&c);
		skip();
	}
	assert_int_equal(err, -ETIMEDOUT);
	assert_null(c.stack);
	for (int i = 0; i < 500; i++) {
		tracer = tt_tracer(t.pid, tid);
		if (tracer == 0)
			break;
		tt_sleep_ms(2);
	}
	assert_int_equal(tracer, 0);
	/* a new worker serves the next capture */
	assert_int_equal(ptrace_capture_thread(t.pid, tt_find_thread(t.pid, "cond-0"), 4096, &c, NULL), 0);
	thread_capture_release(&c);
	/* once its vfork child exits (2 s), the thread runs on: it never enters a tracing stop */
	for (int i = 0; i < 300; i++) {
		assert_true(tt_state(t.pid, tid) != 't');
		tt_sleep_ms(10);
	}
	assert_int_equal(tt_stat(&t, "eintr"), 0);
	tt_stop(&t);
}

/* SIGKILL of the capturing process in the middle of a dump leaves every thread running. */
static void test_sigkill_of_capturer(void **state)
{
	static const char *const args[] = { "--cond", "20", "--sleep", "20", "--pipe", "5", "--spin", "1", NULL };
	struct tt_target t = { 0 };

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	for (int round = 0; round < 10; round++) {
		pid_t capturer = fork();
		int left = -1;

		assert_true(capturer >= 0);
		if (capturer > 0)
			tt_track(capturer);
		if (capturer == 0) {
			int ok;

			for (;;)
				capture_all(t.pid, &ok);
		}
		tt_sleep_ms(30 + round * 7);
		kill(capturer, SIGKILL);
		waitpid(capturer, NULL, 0);
		tt_untrack(capturer);
		for (int i = 0; i < 200; i++) {
			left = tt_count_traced(t.pid);
			if (left == 0)
				break;
			tt_sleep_ms(5);
		}
		assert_int_equal(left, 0);
	}
	assert_int_equal(tt_stat(&t, "eintr"), 0);
	tt_stop(&t);
}

/* Threads created and exiting all the time: captures succeed or say -ESRCH, nothing else. */
static void test_churn(void **state)
{
	static const char *const args[] = { "--churn", "2", "--cond", "2", NULL };
	struct tt_target t = { 0 };
	int ok_total = 0;

	(void)state;
	assert_int_equal(tt_start(&t, args), 0);
	for (int round = 0; round < 200; round++) {
		int ok;

		assert_int_equal(capture_all(t.pid, &ok), 0);
		ok_total += ok;
	}
	assert_true(ok_total >= 200 * 3);
	assert_int_equal(tt_count_traced(t.pid), 0);
	assert_int_equal(tt_stat(&t, "eintr"), 0);
	tt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_every_kind_of_thread),
		cmocka_unit_test(test_already_traced),
		cmocka_unit_test(test_zombie_leader),
		cmocka_unit_test(test_signals_not_lost),
		cmocka_unit_test(test_group_stop),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_sigkill_of_capturer),
		cmocka_unit_test(test_churn),
	};

	if (geteuid() != 0) {
		printf("needs root (CAP_SYS_PTRACE)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
