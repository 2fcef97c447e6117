// SPDX-License-Identifier: MIT
/* Process sets: the cgroup2 mount found in mountinfo texts (hybrid, unified, v1-only, escaped),
 * a PID, a tree of processes that grows and shrinks, the max_processes bound, a cgroup and a
 * "unit" directory the test creates and moves processes into, and every bad selector refused
 * with the flag named. The cgroup cases need root and a cgroup2 mount (skipped, and said, when
 * absent). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/procset.h"

static void test_cgroup2_mount(void **state)
{
	static const char hybrid[] =
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
	static const char unified[] = "27 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
				      "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
	static const char v1only[] = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
				     "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n";
	static const char escaped[] = "50 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
	static const char garbage[] = "- cgroup2 \n\n x - cgroup2";
	char m[256];

	assert_int_equal(procset_cgroup2_mount(hybrid, m, sizeof(m)), 0);
	assert_string_equal(m, "/sys/fs/cgroup/unified");
	assert_int_equal(procset_cgroup2_mount(unified, m, sizeof(m)), 0);
	assert_string_equal(m, "/sys/fs/cgroup");
	assert_int_equal(procset_cgroup2_mount(v1only, m, sizeof(m)), -ENOENT);
	assert_int_equal(procset_cgroup2_mount(escaped, m, sizeof(m)), 0);
	assert_string_equal(m, "/mnt/my cgroups");
	assert_int_equal(procset_cgroup2_mount(garbage, m, sizeof(m)), -ENOENT);
	assert_int_equal(procset_cgroup2_mount("", m, sizeof(m)), -ENOENT);
}

/* A child that sleeps; with depth > 1 it first forks its own child the same way. */
static pid_t sleeper(int depth)
{
	pid_t p = fork();

	if (p == 0) {
		if (depth > 1)
			sleeper(depth - 1);
		for (;;)
			pause();
	}
	return p;
}

static void kill_wait(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

/* ends every live member of s (the test's own trees; orphans come back to us: subreaper) */
static void kill_members(struct procset *s)
{
	struct procset_member *m = NULL;
	int n = procset__members(s, &m);

	for (int i = 0; i < n; i++)
		if (!m[i].exited_at)
			kill(m[i].pid, SIGKILL);
	free(m);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* scans until the set has `live` live members (5 s deadline); returns the last count */
static int scan_until(struct procset *s, int live)
{
	struct procset_stats st = { 0 };

	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		assert_int_equal(procset__scan(s, NULL), 0);
		procset__stats(s, &st);
		if (st.live == live)
			break;
		nanosleep(&ts, NULL);
	}
	return st.live;
}

static void test_pid(void **state)
{
	struct procset_config c = { .kind = PROCSET_PID };
	struct procset_member *m = NULL, one;
	struct procset_stats st;
	struct procset *s;
	char err[512];
	pid_t p = sleeper(1);

	c.pid = p;
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), 0);
	assert_int_equal(procset__members(s, &m), 1);
	assert_int_equal(m[0].pid, p);
	assert_true(m[0].start_time > 0);
	assert_int_equal(m[0].exited_at, 0);
	free(m);
	assert_true(procset__find(s, p, &one));
	assert_false(procset__find(s, p + 100000, NULL));
	assert_non_null(strstr(procset__describe(s), "process "));
	kill_wait(p);
	assert_int_equal(scan_until(s, 0), 0);
	procset__stats(s, &st);
	assert_true(st.gone);
	assert_int_equal(st.exited, 1);
	assert_int_equal(st.went, 1);
	/* an ended member is still found, as exited */
	assert_true(procset__find(s, p, &one));
	assert_true(one.exited_at > 0);
	procset__free(s);
}

static void test_children(void **state)
{
	struct procset_config c = { .kind = PROCSET_CHILDREN };
	struct procset_delta d;
	struct procset_stats st;
	struct procset *s;
	char err[512];
	pid_t root = sleeper(3), extra;

	c.pid = root;
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), 0);
	/* root, child, grandchild (the tree may still be forking: wait for it) */
	assert_int_equal(scan_until(s, 3), 3);
	/* a process of ours, not root's descendant, does not join */
	extra = sleeper(1);
	assert_int_equal(procset__scan(s, &d), 0);
	assert_int_equal(d.ncame, 0);
	assert_false(procset__find(s, extra, NULL));
	kill_wait(extra);
	/* the root ends: its descendants (handed to a reaper: us) are still followed */
	kill_wait(root);
	assert_int_equal(scan_until(s, 2), 2);
	procset__stats(s, &st);
	assert_int_equal(st.went, 1);
	assert_false(st.gone);
	kill_members(s);
	assert_int_equal(scan_until(s, 0), 0);
	procset__free(s);
}

static void test_bound(void **state)
{
	struct procset_config c = { .kind = PROCSET_CHILDREN, .max_processes = 3 };
	struct procset_stats st;
	struct procset *s;
	char err[512];
	pid_t root = fork();

	if (root == 0) {
		setpgid(0, 0); /* one group for the tree: the test ends it whole */
		for (int i = 0; i < 5; i++)
			sleeper(1);
		for (;;)
			pause();
	}
	c.pid = root;
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), 0);
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		assert_int_equal(procset__scan(s, NULL), 0);
		procset__stats(s, &st);
		if (st.dropped == 3)
			break;
		nanosleep(&ts, NULL);
	}
	assert_int_equal(st.live, 3);
	assert_int_equal(st.dropped, 3); /* 6 processes, 3 taken */
	kill(-root, SIGKILL);
	kill_members(s);
	kill_wait(root);
	procset__free(s);
}

static void test_bad_selectors(void **state)
{
	struct procset_config c = { .kind = PROCSET_PID, .pid = 2 };
	struct procset *s = NULL;
	char err[512];
	pid_t dead = fork();

	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	if (geteuid() == 0 && access("/proc/2/stat", R_OK) == 0) {
		assert_int_equal(procset__new(&c, &s, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "--pid 2 is a kernel thread"));
	}
	c.pid = dead;
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), -ESRCH);
	assert_non_null(strstr(err, "no such process"));
	assert_null(s);
	c.kind = PROCSET_CGROUP;
	snprintf(c.name, sizeof(c.name), "no/such/profd/cgroup");
	assert_true(procset__new(&c, &s, err, sizeof(err)) < 0);
	assert_true(strstr(err, "--cgroup no/such/profd/cgroup") || strstr(err, "no cgroup v2"));
	c.kind = PROCSET_UNIT;
	snprintf(c.name, sizeof(c.name), "profd-no-such-unit-%d", (int)getpid());
	assert_true(procset__new(&c, &s, err, sizeof(err)) < 0);
	assert_true(strstr(err, "--unit profd-no-such-unit") != NULL);
	c.kind = PROCSET_PID;
	c.pid = getpid();
	c.max_processes = PROCSET_MAX_MAX + 1;
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--max-processes"));
}

/* The cgroup2 mount, from our own mountinfo; empty when there is none. */
static void cgroup2_mount(char *m, size_t len)
{
	static char text[65536];
	int fd = open("/proc/self/mountinfo", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (procset_cgroup2_mount(text, m, len) < 0)
		m[0] = '\0';
}

static void move_to(const char *dir, pid_t p)
{
	char path[4300], buf[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	n = snprintf(buf, sizeof(buf), "%d\n", (int)p);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
}

static void test_cgroup_and_unit(void **state)
{
	char mount[4096], dir[4300], unit[128];
	struct procset_config c = { 0 };
	struct procset_stats st;
	struct procset *s;
	char err[512];
	pid_t a, b;

	cgroup2_mount(mount, sizeof(mount));
	if (geteuid() != 0 || !mount[0]) {
		printf("note: cgroup cases not run (need root and a cgroup2 mount)\n");
		return;
	}
	snprintf(unit, sizeof(unit), "profd-test-%d.service", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/%s", mount, unit);
	if (mkdir(dir, 0755) != 0) {
		printf("note: cannot create %s: cgroup cases not run\n", dir);
		return;
	}
	a = sleeper(1);
	move_to(dir, a);
	c.kind = PROCSET_CGROUP;
	snprintf(c.name, sizeof(c.name), "%s", unit); /* relative to the mount */
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), 0);
	assert_int_equal(scan_until(s, 1), 1);
	/* every process of the cgroup ends, a new one is moved in: picked up */
	kill_wait(a);
	assert_int_equal(scan_until(s, 0), 0);
	b = sleeper(2); /* it forks a child, which starts in its cgroup (ours) */
	move_to(dir, b);
	assert_int_equal(scan_until(s, 1), 1);
	procset__stats(s, &st);
	assert_int_equal(st.went, 1);
	assert_int_equal(st.came, 2);
	procset__free(s);

	/* the same directory as a unit: ".service" may be omitted */
	c.kind = PROCSET_UNIT;
	snprintf(c.name, sizeof(c.name), "profd-test-%d", (int)getpid());
	assert_int_equal(procset__new(&c, &s, err, sizeof(err)), 0);
	assert_non_null(strstr(procset__describe(s), unit));
	assert_int_equal(scan_until(s, 1), 1);
	kill_wait(b);
	assert_int_equal(scan_until(s, 0), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(procset__scan(s, NULL), 0);
	procset__stats(s, &st);
	assert_true(st.gone); /* the unit stopped: its cgroup is gone */
	procset__free(s);
}

int main(void)
{
	/* orphans of the test's trees come back to this process, which reaps them */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup2_mount),
		cmocka_unit_test(test_pid),
		cmocka_unit_test(test_children),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_bad_selectors),
		cmocka_unit_test(test_cgroup_and_unit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
