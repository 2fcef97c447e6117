// SPDX-License-Identifier: MIT
/* mempressure's pure parsers (memory.events, the v1 memory mount in mountinfo), good and bad
 * input, and a watch refused on a process whose cgroup has no memory controller. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proc/mempressure.h"

static void test_events(void **state)
{
	uint64_t hi = 7, mx = 7;

	assert_int_equal(mempressure_events_parse("low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\n", &hi, &mx), 0);
	assert_true(hi == 12 && mx == 3);
	assert_int_equal(mempressure_events_parse("max 5\nhigh 0", &hi, &mx), 0); /* any order, no newline */
	assert_true(hi == 0 && mx == 5);
	assert_int_equal(mempressure_events_parse("low 0\nhigh 1\n", &hi, &mx), -EINVAL); /* no max */
	assert_int_equal(mempressure_events_parse("highest 1\nmaximum 2\n", &hi, &mx), -EINVAL);
	assert_int_equal(mempressure_events_parse("", &hi, &mx), -EINVAL);
}

static void test_v1_mount(void **state)
{
	const char *hybrid =
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
	const char *joined = "35 31 0:32 / /sys/fs/cgroup/mem\\040cg rw - cgroup cgroup rw,memory,cpuset\n";
	const char *v2only = "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,memory_recursiveprot\n";
	const char *memoryish = "35 31 0:32 / /x rw - cgroup cgroup rw,memory_fake\n";
	char m[64];

	assert_int_equal(mempressure_v1_mount(hybrid, m, sizeof(m)), 0);
	assert_string_equal(m, "/sys/fs/cgroup/memory");
	assert_int_equal(mempressure_v1_mount(joined, m, sizeof(m)), 0);
	assert_string_equal(m, "/sys/fs/cgroup/mem cg"); /* \040 unescaped */
	assert_int_equal(mempressure_v1_mount(v2only, m, sizeof(m)), -ENOENT);
	assert_int_equal(mempressure_v1_mount(memoryish, m, sizeof(m)), -ENOENT);
	assert_int_equal(mempressure_v1_mount("", m, sizeof(m)), -ENOENT);
	assert_int_equal(mempressure_v1_mount("garbage - cgroup\n", m, sizeof(m)), -ENOENT);
}

static void test_no_process(void **state)
{
	struct mempressure *mp = (struct mempressure *)1;
	char err[512] = "";

	/* pid_max is at most 2^22: this one cannot exist */
	assert_true(mempressure__new(1 << 30, NULL, &mp, err, sizeof(err)) < 0);
	assert_null(mp);
	assert_non_null(strstr(err, "process 1073741824"));
	assert_true(mempressure__new(1, "/nonexistent/cgroup", &mp, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/cgroup"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_v1_mount),
		cmocka_unit_test(test_no_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
