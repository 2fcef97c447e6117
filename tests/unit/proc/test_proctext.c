// SPDX-License-Identifier: MIT
/* The /proc text parsers, table-driven, good and bad input: a thread name may hold spaces,
 * parentheses and newlines (prctl(PR_SET_NAME)), fields may be missing or cut short. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proc/proctext.h"

/* fields 3..21 after the name (flags, field 9, is 6), then start time 4242 and more */
#define REST "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19 20"

static void test_stat(void **state)
{
	static const struct {
		const char *text;
		int err;
		char state;
		uint64_t start;
	} cases[] = {
		{ "123 (sleep) " REST "\n", 0, 'S', 4242 },
		{ "123 (a) b) c) " REST, 0, 'S', 4242 },         /* ')' in the name: the last one counts */
		{ "123 (x\ny (z) " REST, 0, 'S', 4242 },           /* a newline in the name */
		{ "123 () " REST, 0, 'S', 4242 },
		{ "123 (sleep)S 1", -EINVAL, 0, 0 },              /* no space after ')' */
		{ "123 sleep S 1 2", -EINVAL, 0, 0 },             /* no ')' */
		{ "123 (sleep) S 1 2 3", -EINVAL, 'S', 0 },       /* cut before field 22 */
		{ "123 (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x", -EINVAL, 'S', 0 },
		{ "123 (sleep) ", -EINVAL, '\0', 0 },
		{ "", -EINVAL, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char st = 0;
		uint64_t start = 0;
		unsigned long flags = 0;
		int err = proctext_stat(cases[i].text, &st, &flags, &start);

		if (err != cases[i].err)
			fail_msg("case %zu: got %d, want %d", i, err, cases[i].err);
		if (!err && (st != cases[i].state || start != cases[i].start || flags != 6))
			fail_msg("case %zu: got %c %lu %llu", i, st, flags, (unsigned long long)start);
		if (!err && proctext_stat(cases[i].text, &st, NULL, &start) != 0)
			fail_msg("case %zu: without flags", i);
	}
}

/* fields 3..25, then startcode endcode startstack (26-28) and more */
#define UPTO25 "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19 20 21"

static void test_stat_image(void **state)
{
	uint64_t a = proctext_stat_image("9 (a b) " UPTO25 " 4194304 4200000 140737488346000 0 0\n");

	assert_int_not_equal(a, 0);
	/* the name does not count, the address space does */
	assert_int_equal(proctext_stat_image("9 (x) " UPTO25 " 4194304 4200000 140737488346000 1"), a);
	assert_int_not_equal(proctext_stat_image("9 (a b) " UPTO25 " 4194304 4200000 140737488347000"), a);
	assert_int_not_equal(proctext_stat_image("9 (a b) " UPTO25 " 5194304 5200000 140737488346000"), a);
	/* unknown: a zombie's zeros, fields cut short or not numbers, no name */
	assert_int_equal(proctext_stat_image("9 (z) " UPTO25 " 0 0 0 0"), 0);
	assert_int_equal(proctext_stat_image("9 (z) " UPTO25 " 4194304 4200000"), 0);
	assert_int_equal(proctext_stat_image("9 (z) " UPTO25 " 4194304 x 1"), 0);
	assert_int_equal(proctext_stat_image("9 z " UPTO25 " 1 2 3"), 0);
	assert_int_equal(proctext_stat_image(""), 0);
}

static void test_stat_comm(void **state)
{
	char comm[8], st;

	assert_true(proctext_stat_comm("7 (worker) R 1", comm, sizeof(comm), &st));
	assert_string_equal(comm, "worker");
	assert_int_equal(st, 'R');
	assert_true(proctext_stat_comm("7 (a (b) c) D 1", comm, sizeof(comm), &st));
	assert_string_equal(comm, "a (b) c");
	assert_int_equal(st, 'D');
	assert_true(proctext_stat_comm("7 (much too long) S", comm, sizeof(comm), &st)); /* cut */
	assert_string_equal(comm, "much to");
	assert_true(proctext_stat_comm("7 (x)", comm, sizeof(comm), &st)); /* no state */
	assert_string_equal(comm, "x");
	assert_int_equal(st, '?');
	strcpy(comm, "kept");
	assert_false(proctext_stat_comm("7 )x( S", comm, sizeof(comm), &st)); /* upside down */
	assert_false(proctext_stat_comm("7 x S", comm, sizeof(comm), &st));
	assert_false(proctext_stat_comm("", comm, sizeof(comm), &st));
	assert_string_equal(comm, "kept");
	assert_int_equal(st, '?');
}

static void test_status(void **state)
{
	static const char status[] = "Name:\tw (1)\nState:\tS (sleeping)\nTgid:\t7\nTracerPid:\t99\n"
				     "Threads:\t12\nvoluntary_ctxt_switches:\t150\nnonvoluntary_ctxt_switches:\t7\n";
	char st;
	pid_t tracer;

	assert_int_equal(proctext_status_threads(status), 12);
	assert_int_equal(proctext_status_threads("Threads:\t12\n"), -EINVAL); /* first line: no \n before */
	assert_int_equal(proctext_status_threads("x\nThreads:"), 0);
	/* Uid: real, effective, saved, fs */
	assert_int_equal(proctext_status_euid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), 0);
	assert_int_equal(proctext_status_euid("Name:\tx\nUid:\t0\t1000\t1000\t1000\n"), 1000);
	assert_int_equal(proctext_status_euid(status), -EINVAL);
	assert_int_equal(proctext_status_euid("x\nUid:\t5\n"), -EINVAL);
	assert_int_equal(proctext_status_euid("x\nUid:\tx\t5\n"), -EINVAL);
	/* NSpid: the innermost namespace's PID is the last field */
	assert_int_equal(proctext_status_nspid("Name:\tx\nNSpid:\t4242\n"), 4242);
	assert_int_equal(proctext_status_nspid("Name:\tx\nNSpid:\t4242\t17\t1\nNSpgid:\t9\n"), 1);
	assert_int_equal(proctext_status_nspid(status), -EINVAL);                     /* no line */
	assert_int_equal(proctext_status_nspid("x\nNSpid:\t\n"), -EINVAL);           /* no field */
	assert_int_equal(proctext_status_nspid("x\nNSpid:\t0\n"), -EINVAL);
	assert_int_equal(proctext_status_nspid("x\nNSpid:\t99999999999999\n"), -EINVAL);
	proctext_status_state(status, &st, &tracer);
	assert_int_equal(st, 'S');
	assert_int_equal(tracer, 99);
	proctext_status_state("Name:\tx\n", &st, &tracer);
	assert_int_equal(st, '?');
	assert_int_equal(tracer, 0);
	proctext_status_state("x\nState:", &st, &tracer);
	assert_int_equal(st, '\0');
	assert_int_equal(proctext_status_switches(status), 157);
	assert_int_equal(proctext_status_switches("nothing"), 0);
}

static void test_kstack(void **state)
{
	char *k = proctext_kstack("[<0>] do_nanosleep+0x6b/0x180\n[<0>] hrtimer_nanosleep+0xa0/0x150\n"
				  "garbage\n[<0>]\n[<0>] entry_SYSCALL_64_after_hwframe+0x6e/0x76");

	assert_non_null(k);
	assert_string_equal(k, "do_nanosleep+0x6b\nhrtimer_nanosleep+0xa0\nentry_SYSCALL_64_after_hwframe+0x6e\n");
	free(k);
	assert_null(proctext_kstack(""));
	assert_null(proctext_kstack("no brackets\n"));
	assert_null(proctext_kstack("[<0>] \n[<0>] /0x10\n"));
}

static void test_syscall(void **state)
{
	long nr;
	uint64_t sp, pc;

	assert_int_equal(proctext_syscall_nr("232 0x3 0x7ffd 0x10 0xffffffff 0x0 0x0 0x7ffc0000 0x7f00001234\n"), 232);
	assert_int_equal(proctext_syscall_nr("running\n"), -1);
	assert_int_equal(proctext_syscall_nr("-1 0x7ffc 0x401000\n"), -1);
	assert_int_equal(proctext_syscall("232 0x3 0x7ffd 0x10 0xffffffff 0x0 0x0 0x7ffc0000 0x7f00001234\n", &nr,
					  &sp, &pc),
			 0);
	assert_int_equal(nr, 232);
	assert_true(sp == 0x7ffc0000 && pc == 0x7f00001234);
	assert_int_equal(proctext_syscall("running\n", &nr, &sp, &pc), -EINVAL);
	assert_int_equal(proctext_syscall("-1 0x7ffc 0x401000\n", &nr, &sp, &pc), -EINVAL);
}

static void test_status_field(void **state)
{
	static const char status[] = "Name:\tx\nVmRSS:\t    1234 kB\nRssAnon:\t7 kB\nThreads:\t3\n"
				     "voluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t9\nBad:\tkB\n";
	static const struct {
		const char *text, *field;
		long long want;
	} cases[] = {
		{ status, "VmRSS", 1234 },
		{ status, "RssAnon", 7 },
		{ status, "Threads", 3 },
		{ status, "voluntary_ctxt_switches", 5 },   /* not the end of "nonvoluntary_..." */
		{ status, "nonvoluntary_ctxt_switches", 9 },
		{ status, "Name", -1 },                      /* not a number */
		{ status, "Bad", -1 },
		{ status, "VmSwap", -1 },                    /* absent */
		{ status, "Vm", -1 },                        /* a prefix is not a field */
		{ "VmRSS: 5", "VmRSS", 5 },                  /* first line, no newline */
		{ "", "VmRSS", -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(proctext_status_field(cases[i].text, cases[i].field), cases[i].want);
}

static void test_stat_usage(void **state)
{
	struct proctext_usage u;

	/* fields 3.. : state ppid pgrp session tty tpgid flags minflt(10) cminflt majflt(12) cmajflt
	 * utime(14) stime(15) cutime cstime priority nice(19) threads(20) */
	assert_int_equal(proctext_stat_usage("1 (a) b) S 1 2 3 4 5 6 100 7 20 8 300 40 9 9 20 -5 6 0 4242", &u), 0);
	assert_int_equal(u.minflt, 100);
	assert_int_equal(u.majflt, 20);
	assert_int_equal(u.utime, 300);
	assert_int_equal(u.stime, 40);
	assert_int_equal(u.threads, 6);
	assert_int_equal(proctext_stat_usage("1 (a) S 1 2 3", &u), -EINVAL);       /* cut short */
	assert_int_equal(proctext_stat_usage("1 (a) S 1 2 x 4 5 6 7 8 9 10 11 12 13 14 15 16 17", &u), -EINVAL);
	assert_int_equal(proctext_stat_usage("1 a S 1", &u), -EINVAL);             /* no ')' */
	assert_int_equal(proctext_stat_usage("", &u), -EINVAL);
}

static void test_cgroup_v2(void **state)
{
	char path[16];

	assert_int_equal(proctext_cgroup_v2("0::/a/b.service\n", path, sizeof(path)), 0);
	assert_string_equal(path, "/a/b.service");
	assert_int_equal(proctext_cgroup_v2("4:memory:/x\n1:cpu:/\n0::/\n", path, sizeof(path)), 0);
	assert_string_equal(path, "/");
	assert_int_equal(proctext_cgroup_v2("0::/z", path, sizeof(path)), 0); /* no newline */
	assert_string_equal(path, "/z");
	assert_int_equal(proctext_cgroup_v2("4:memory:/x\n", path, sizeof(path)), -ENOENT); /* v1 only */
	assert_int_equal(proctext_cgroup_v2("10::/x\n", path, sizeof(path)), -ENOENT);
	assert_int_equal(proctext_cgroup_v2("0::/a-path-longer-than-16\n", path, sizeof(path)), -ENAMETOOLONG);
	assert_int_equal(proctext_cgroup_v2("", path, sizeof(path)), -ENOENT);
}

static void test_cgroup_v1(void **state)
{
	char path[16];

	assert_int_equal(proctext_cgroup_v1("5:cpu:/\n4:memory:/a/b\n0::/\n", "memory", path, sizeof(path)), 0);
	assert_string_equal(path, "/a/b");
	/* a comma-joined list of controllers, and a name that is a prefix of another */
	assert_int_equal(proctext_cgroup_v1("3:cpu,cpuacct:/c\n", "cpuacct", path, sizeof(path)), 0);
	assert_string_equal(path, "/c");
	assert_int_equal(proctext_cgroup_v1("3:cpu,cpuacct:/c\n", "cpu", path, sizeof(path)), 0);
	assert_string_equal(path, "/c");
	assert_int_equal(proctext_cgroup_v1("3:cpuacct:/c\n", "cpu", path, sizeof(path)), -ENOENT);
	assert_int_equal(proctext_cgroup_v1("4:memory:/z", "memory", path, sizeof(path)), 0); /* no newline */
	assert_string_equal(path, "/z");
	assert_int_equal(proctext_cgroup_v1("0::/x\n", "memory", path, sizeof(path)), -ENOENT); /* v2 only */
	assert_int_equal(proctext_cgroup_v1("9:name=systemd:/\n", "memory", path, sizeof(path)), -ENOENT);
	assert_int_equal(proctext_cgroup_v1("4:memory:/a-path-longer-than-16\n", "memory", path, sizeof(path)),
			 -ENAMETOOLONG);
	assert_int_equal(proctext_cgroup_v1("garbage\n:\n", "memory", path, sizeof(path)), -ENOENT);
	assert_int_equal(proctext_cgroup_v1("", "memory", path, sizeof(path)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat),	  cmocka_unit_test(test_stat_image), cmocka_unit_test(test_stat_comm), cmocka_unit_test(test_status),
		cmocka_unit_test(test_kstack),	  cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_status_field), cmocka_unit_test(test_stat_usage), cmocka_unit_test(test_cgroup_v2),
		cmocka_unit_test(test_cgroup_v1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
