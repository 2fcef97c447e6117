// SPDX-License-Identifier: MIT
/* The target's identity: start time is field 22 of /proc/PID/stat and must not change when the
 * process's memory or threads do; a dead or unknown PID is not alive; cmdline in Go's format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/target.h"

/* Field 22 read independently: split everything after the last ')' on spaces. */
static unsigned long long start_time_by_scanf(pid_t pid)
{
	char path[64], text[2048], *p;
	unsigned long long v = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	p = strrchr(text, ')') + 2; /* field 3 */
	for (int field = 3; field < 22; field++)
		p = strchr(p, ' ') + 1;
	sscanf(p, "%llu", &v);
	return v;
}

static void test_identity_is_stable(void **state)
{
	struct target t;
	void *big;

	assert_int_equal(target_open(getpid(), &t), 0);
	assert_int_equal(t.pid, getpid());
	assert_true(t.start_time == start_time_by_scanf(getpid()));
	assert_true(t.start_time > 0);
	/* grow the address space: vsize (field 23) changes, the start time must not */
	big = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(big != MAP_FAILED);
	memset(big, 1, 1 << 20);
	assert_true(target_alive(&t));
	munmap(big, 64 << 20);
	assert_true(target_alive(&t));
	assert_true(target_thread_count(&t) >= 1);
}

static void test_dead_and_reused(void **state)
{
	struct target t;
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	assert_int_equal(target_open(getpid(), &t), 0);
	waitpid(child, NULL, 0);
	assert_int_equal(target_open(child, &t), -ESRCH);
	assert_int_equal(target_open(0, &t), -EINVAL);
	assert_int_equal(target_open(-5, &t), -EINVAL);
	/* same PID, other start time: another process */
	assert_int_equal(target_open(getpid(), &t), 0);
	t.start_time += 1;
	assert_false(target_alive(&t));
}

static void test_cmdline(void **state)
{
	struct target t;
	struct buf b = { 0 };
	FILE *f = fopen("/proc/self/cmdline", "r");
	char raw[4096];
	size_t n = fread(raw, 1, sizeof(raw), f);

	fclose(f);
	assert_int_equal(target_open(getpid(), &t), 0);
	assert_int_equal(target_cmdline(&t, &b), 0);
	assert_int_equal(b.len, n - 1); /* no trailing NUL */
	assert_memory_equal(b.data, raw, n - 1);
	buf_free(&b);
}

/* Files a target can name: a FIFO must not block the caller, a device must not be read. */
static void test_open_regular(void **state)
{
	char dir[] = "/tmp/profd-test-XXXXXX", fifo[64];
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(proc_open_regular(fifo), -EINVAL); /* returns at once: nobody writes */
	assert_int_equal(proc_open_regular("/dev/zero"), -EINVAL);
	assert_int_equal(proc_open_regular(dir), -EINVAL);
	assert_int_equal(proc_open_regular("/nonexistent/file"), -ENOENT);
	fd = proc_open_regular("/proc/self/exe");
	assert_true(fd >= 0);
	close(fd);
	unlink(fifo);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_is_stable),
		cmocka_unit_test(test_dead_and_reused),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_open_regular),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
