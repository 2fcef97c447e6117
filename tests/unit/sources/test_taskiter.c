// SPDX-License-Identifier: MIT
/* The BPF task iterator against tests/targets/threads_mix: every blocked thread comes back read,
 * with its name, state, syscall, registers inside its stack, a copy no longer than asked and
 * its kernel frames named (then from the cache); a spinner is on a CPU or read as running; a
 * retry walk visits exactly the threads asked for; another process's threads are never
 * visited; one iterator shared by two processes walks each in turn, and a process that ended
 * and was forgotten walks empty; /proc letters from kernel states; a refused program fails quietly with the
 * verifier's reason; bad arguments. Needs root (BPF); skips otherwise. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <linux/types.h>

#include "bpf/taskiter.h"
#include "sources/taskiter.h"
#include "threads_target.h"

#define MAX_SEEN 64

struct seen {
	int n;
	struct {
		pid_t tid;
		unsigned flags;
		char state;
		long syscall_nr;
		char comm[17];
		uint64_t sp, ip, start;
		size_t len, wanted;
		int nkframes, named;
		char kname0[128];
	} t[MAX_SEEN];
};

static int record(void *ctx, const struct taskiter_thread *th)
{
	struct seen *s = ctx;

	if (s->n == MAX_SEEN)
		return -E2BIG;
	s->t[s->n].tid = th->tid;
	s->t[s->n].flags = th->flags;
	s->t[s->n].state = th->state;
	s->t[s->n].syscall_nr = th->syscall_nr;
	memcpy(s->t[s->n].comm, th->comm, sizeof(th->comm));
	s->t[s->n].sp = th->regs.r[UNWIND_REG_RSP];
	s->t[s->n].ip = th->regs.r[UNWIND_REG_RIP];
	s->t[s->n].start = th->stack.start;
	s->t[s->n].len = th->stack.len;
	s->t[s->n].wanted = th->stack_wanted;
	s->t[s->n].nkframes = th->nkframes;
	s->t[s->n].named = 0;
	for (int i = 0; i < th->nkframes; i++)
		s->t[s->n].named += th->knames[i] != NULL;
	snprintf(s->t[s->n].kname0, sizeof(s->t[0].kname0), "%s",
		 th->nkframes && th->knames[0] ? th->knames[0] : "");
	s->n++;
	return 0;
}

static int by_comm(const struct seen *s, const char *comm)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->t[i].comm, comm))
			return i;
	return -1;
}

static void test_state_letters(void **state)
{
	static const struct {
		uint32_t state, exit_state;
		char letter;
	} cases[] = {
		{ 0x0, 0, 'R' },      /* TASK_RUNNING */
		{ 0x1, 0, 'S' },      /* TASK_INTERRUPTIBLE */
		{ 0x2, 0, 'D' },      /* TASK_UNINTERRUPTIBLE */
		{ 0x102, 0, 'D' },    /* TASK_KILLABLE */
		{ 0x4, 0, 'T' },      /* __TASK_STOPPED */
		{ 0x104, 0, 'T' },    /* TASK_STOPPED (with TASK_WAKEKILL) */
		{ 0x8, 0, 't' },      /* __TASK_TRACED */
		{ 0x0, 0x10, 'X' },   /* EXIT_DEAD */
		{ 0x80, 0x20, 'Z' },  /* TASK_DEAD + EXIT_ZOMBIE */
		{ 0x40, 0, 'P' },     /* TASK_PARKED */
		{ 0x402, 0, 'I' },    /* TASK_IDLE */
		{ 0x1000, 0, 'D' },   /* TASK_RTLOCK_WAIT */
		{ 0x2001, 0, 'S' },   /* TASK_FREEZABLE | TASK_INTERRUPTIBLE (6.1) */
		{ 0x8000, 0, 'R' },   /* TASK_FROZEN alone: not a reported state */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (taskiter_state_letter(cases[i].state, cases[i].exit_state) != cases[i].letter)
			fail_msg("state %#x exit %#x: '%c', expected '%c'", cases[i].state, cases[i].exit_state,
				 taskiter_state_letter(cases[i].state, cases[i].exit_state), cases[i].letter);
}

static struct taskiter *new_iter(pid_t pid, size_t stack_bytes)
{
	struct taskiter *ti = NULL;
	char why[512];
	int err = taskiter__new(pid, stack_bytes, &ti, why, sizeof(why));

	if (err)
		fail_msg("taskiter__new: %s (%s)", strerror(-err), why);
	return ti;
}

static void test_walk_reads_blocked_threads(void **state)
{
	static const char *const args[] = { "--cond", "2", "--pipe", "1", "--epoll", "1", "--sigwait", "1",
					    "--spin", "1", NULL };
	static const struct {
		const char *comm;
		long syscall_nr;
		const char *kfunc; /* the innermost kernel frame starts so */
	} blocked[] = {
		{ "threads_mix", 0, "" },          /* main: read() on stdin, a pipe */
		{ "cond-0", 202, "futex" },
		{ "cond-1", 202, "futex" },
		{ "pipe-0", 0, "" },
		{ "epoll-0", 232, "do_epoll_wait" },
		{ "sigwait-0", 128, "" },
	};
	static struct seen s;
	struct tt_target tt;
	struct taskiter *ti;
	int i;

	(void)state;
	assert_int_equal(tt_start(&tt, args), 0);
	/* every blocked thread inside its syscall: the spinner aside, all sleep */
	for (int tries = 0; tries < 1000; tries++) {
		pid_t tids[16];
		int n = tt_tids(tt.pid, tids, 16), sleeping = 0;

		for (int k = 0; k < n; k++)
			sleeping += tt_state(tt.pid, tids[k]) == 'S';
		if (sleeping == n - 1)
			break;
		tt_sleep_ms(5);
	}
	ti = new_iter(tt.pid, 65536);
	for (int round = 0; round < 2; round++) {
		s.n = 0;
		assert_int_equal(taskiter__walk(ti, NULL, 0, 0, record, &s), 7);
		assert_int_equal(s.n, 7);
		for (size_t k = 0; k < sizeof(blocked) / sizeof(blocked[0]); k++) {
			i = by_comm(&s, blocked[k].comm);
			assert_true(i >= 0);
			if (!(s.t[i].flags & PROFD_TASKITER_F_READ))
				fail_msg("%s: flags %#x", blocked[k].comm, s.t[i].flags);
			assert_int_equal(s.t[i].tid, tt_find_thread(tt.pid, blocked[k].comm));
			assert_int_equal(s.t[i].state, 'S');
			assert_int_equal(s.t[i].syscall_nr, blocked[k].syscall_nr);
			/* the copy starts at sp, and a user pc and sp */
			assert_true(s.t[i].sp && s.t[i].sp == s.t[i].start && s.t[i].sp < (1ull << 47));
			assert_true(s.t[i].ip && s.t[i].ip < (1ull << 47));
			assert_true(s.t[i].len > 0 && s.t[i].len <= 65536 && s.t[i].wanted == 65536);
			/* kernel frames, every one named: by the program the first time, then from the cache */
			assert_true(s.t[i].nkframes >= 3);
			assert_int_equal(s.t[i].named, s.t[i].nkframes);
			assert_non_null(strstr(s.t[i].kname0, blocked[k].kfunc));
			assert_non_null(strstr(s.t[i].kname0, "+0x"));
		}
		/* a spinner is on a CPU, or waits for one (then it is read, running) */
		i = by_comm(&s, "spin-0");
		assert_true(i >= 0);
		assert_true((s.t[i].flags & PROFD_TASKITER_F_ON_CPU) ||
			    ((s.t[i].flags & PROFD_TASKITER_F_READ) && s.t[i].state == 'R'));
	}
	taskiter__free(ti);
	/* nothing was stopped: the epoll and sigtimedwait threads did not see EINTR */
	assert_int_equal(tt_count_traced(tt.pid), 0);
	assert_int_equal(tt_stat(&tt, "eintr"), 0);
	tt_stop(&tt);
}

static void test_retry_walk_and_copy_size(void **state)
{
	static const char *const args[] = { "--cond", "4", NULL };
	static struct seen s;
	struct tt_target tt;
	struct taskiter *ti;
	pid_t only[2], tids[8];

	(void)state;
	assert_int_equal(tt_start(&tt, args), 0);
	assert_int_equal(tt_tids(tt.pid, tids, 8), 5);
	ti = new_iter(tt.pid, 65536);
	/* two threads asked for: exactly those two */
	only[0] = tt_find_thread(tt.pid, "cond-3");
	only[1] = tt_find_thread(tt.pid, "cond-1");
	s.n = 0;
	assert_int_equal(taskiter__walk(ti, only, 2, 0, record, &s), 2);
	assert_int_equal(s.n, 2);
	assert_true(by_comm(&s, "cond-3") >= 0 && by_comm(&s, "cond-1") >= 0);
	/* and the next full walk is full again */
	s.n = 0;
	assert_int_equal(taskiter__walk(ti, NULL, 0, 0, record, &s), 5);
	/* a smaller copy: never more than asked */
	s.n = 0;
	assert_int_equal(taskiter__walk(ti, NULL, 0, 1024, record, &s), 5);
	for (int i = 0; i < s.n; i++) {
		assert_true(s.t[i].flags & PROFD_TASKITER_F_READ);
		assert_true(s.t[i].len > 0 && s.t[i].len <= 1024);
		assert_int_equal(s.t[i].wanted, 1024);
	}
	/* bad calls */
	assert_int_equal(taskiter__walk(ti, only, 0, 0, record, &s), -EINVAL);
	assert_int_equal(taskiter__walk(ti, NULL, 0, 0, NULL, &s), -EINVAL);
	assert_int_equal(taskiter__walk(NULL, NULL, 0, 0, record, &s), -EINVAL);
	assert_int_equal(taskiter__walk(ti, only, TASKITER_MAX_RETRY + 1, 0, record, &s), -E2BIG);
	/* a callback's error ends the walk and is its result */
	s.n = MAX_SEEN;
	assert_int_equal(taskiter__walk(ti, NULL, 0, 0, record, &s), -E2BIG);
	taskiter__free(ti);
	tt_stop(&tt);
}

/* Bound to one process: the threads of another are never visited. */
static void test_other_process_not_visited(void **state)
{
	static const char *const args_a[] = { "--cond", "3", NULL };
	static const char *const args_b[] = { "--cond", "5", NULL };
	static struct seen s;
	struct tt_target a, b;
	struct taskiter *ti;

	(void)state;
	assert_int_equal(tt_start(&a, args_a), 0);
	assert_int_equal(tt_start(&b, args_b), 0);
	ti = new_iter(a.pid, 4096);
	s.n = 0;
	assert_int_equal(taskiter__walk(ti, NULL, 0, 0, record, &s), 4);
	for (int i = 0; i < s.n; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/task/%d", a.pid, s.t[i].tid);
		assert_int_equal(access(path, F_OK), 0);
	}
	taskiter__free(ti);
	tt_stop(&b);
	tt_stop(&a);
}

/* All threads of the walk belong to pid. */
static void assert_all_of(const struct seen *s, pid_t pid)
{
	for (int i = 0; i < s->n; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, s->t[i].tid);
		if (access(path, F_OK) != 0)
			fail_msg("thread %d is not one of process %d's", s->t[i].tid, pid);
	}
}

/* One iterator for a set of processes: each walk names its process and sees only its threads,
 * read, in either order and again; walks of a process that has ended visit nothing. */
static void test_shared_between_processes(void **state)
{
	static const char *const args_a[] = { "--cond", "3", NULL };
	static const char *const args_b[] = { "--cond", "5", NULL };
	static struct seen s;
	struct tt_target a, b;
	struct taskiter *ti;
	pid_t gone;

	(void)state;
	assert_int_equal(tt_start(&a, args_a), 0);
	assert_int_equal(tt_start(&b, args_b), 0);
	ti = new_iter(0, 4096);
	for (int round = 0; round < 2; round++) {
		s.n = 0;
		assert_int_equal(taskiter__walk_pid(ti, a.pid, NULL, 0, 0, record, &s), 4);
		assert_all_of(&s, a.pid);
		assert_true(by_comm(&s, "cond-2") >= 0);
		assert_true(s.t[by_comm(&s, "cond-2")].flags & PROFD_TASKITER_F_READ);
		s.n = 0;
		assert_int_equal(taskiter__walk_pid(ti, b.pid, NULL, 0, 0, record, &s), 6);
		assert_all_of(&s, b.pid);
		assert_true(by_comm(&s, "cond-4") >= 0);
	}
	/* a retry walk of one process, named */
	{
		pid_t only[1] = { tt_find_thread(b.pid, "cond-4") };

		s.n = 0;
		assert_int_equal(taskiter__walk_pid(ti, b.pid, only, 1, 0, record, &s), 1);
		assert_int_equal(s.t[0].tid, only[0]);
	}
	/* without a process of its own, a walk must name one */
	assert_int_equal(taskiter__walk(ti, NULL, 0, 0, record, &s), -EINVAL);
	assert_int_equal(taskiter__walk_pid(ti, -1, NULL, 0, 0, record, &s), -EINVAL);
	gone = b.pid;
	tt_stop(&b);
	taskiter__forget(ti, gone);
	s.n = 0;
	assert_int_equal(taskiter__walk_pid(ti, gone, NULL, 0, 0, record, &s), 0);
	s.n = 0;
	assert_int_equal(taskiter__walk_pid(ti, a.pid, NULL, 0, 0, record, &s), 4);
	taskiter__forget(NULL, a.pid);
	taskiter__free(ti);
	tt_stop(&a);
}

/* A kernel that refuses the program: an error saying why (the verifier's own words), and not
 * one byte on stderr (libbpf prints the whole verifier log by default). */
static void test_refused_program_is_quiet(void **state)
{
	static const char *const args[] = { "--cond", "1", NULL };
	char path[] = "/tmp/profd-test-taskiter-XXXXXX", why[512];
	struct taskiter *ti = (struct taskiter *)1;
	struct tt_target tt;
	struct stat st;
	int fd, saved, err;

	(void)state;
	assert_int_equal(tt_start(&tt, args), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	setenv("PROFD_TASKITER_SIMULATE", "reject", 1);
	err = taskiter__new(tt.pid, 65536, &ti, why, sizeof(why));
	unsetenv("PROFD_TASKITER_SIMULATE");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	unlink(path);
	assert_true(err < 0);
	assert_null(ti);
	assert_non_null(strstr(why, "the kernel refused the program"));
	assert_non_null(strstr(why, "R1 type=")); /* the verifier's verdict on the NULL buffer */
	assert_int_equal(st.st_size, 0);
	/* and without the hook it loads */
	taskiter__free(new_iter(tt.pid, 65536));
	tt_stop(&tt);
}

static void test_bad_arguments(void **state)
{
	struct taskiter *ti = NULL;
	char why[256];

	(void)state;
	assert_int_equal(taskiter__new(-1, 65536, &ti, why, sizeof(why)), -EINVAL);
	assert_int_equal(taskiter__new(getpid(), 0, &ti, why, sizeof(why)), -EINVAL);
	assert_int_equal(taskiter__new(getpid(), PROFD_TASKITER_MAX_STACK + 1, &ti, why, sizeof(why)), -EINVAL);
	assert_null(ti);
	taskiter__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_letters),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_walk_reads_blocked_threads),
		cmocka_unit_test(test_retry_walk_and_copy_size),
		cmocka_unit_test(test_other_process_not_visited),
		cmocka_unit_test(test_shared_between_processes),
		cmocka_unit_test(test_refused_program_is_quiet),
	};

	if (geteuid() != 0) {
		printf("needs root (CAP_BPF, CAP_PERFMON)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
