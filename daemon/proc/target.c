// SPDX-License-Identifier: MIT
/* The target process, identified by PID and start time; /proc readers for what every endpoint
 * needs (cmdline, thread count) and the privilege check made once at start-up. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proc/target.h"

ssize_t proc_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = errno == ESRCH ? -ESRCH : -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Fields after "(comm)" in /proc/PID/stat: state is field 3, starttime field 22. The comm may
 * contain spaces and parentheses, so parse from the last ')'. */
static int parse_stat(const char *stat, char *ret_state, uint64_t *ret_start)
{
	const char *p = strrchr(stat, ')');
	int field = 3; /* p points at the start of this field */

	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	*ret_state = *p;
	while (*p && field < 22) {
		if (*p == ' ')
			field++;
		p++;
	}
	if (field != 22 || !isdigit((unsigned char)*p))
		return -EINVAL;
	*ret_start = strtoull(p, NULL, 10);
	return 0;
}

static int read_stat(pid_t pid, char *ret_state, uint64_t *ret_start)
{
	char path[64], stat[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = proc_read_file(path, stat, sizeof(stat));
	if (n < 0)
		return (int)n;
	return parse_stat(stat, ret_state, ret_start);
}

int target_read_start_time(pid_t pid, uint64_t *ret)
{
	char state;

	return read_stat(pid, &state, ret);
}

int target_open(pid_t pid, struct target *t)
{
	char path[64], state;
	struct timespec ts;
	ssize_t n;
	int err;

	memset(t, 0, sizeof(*t));
	if (pid <= 0)
		return -EINVAL;
	err = read_stat(pid, &state, &t->start_time);
	if (err)
		return err;
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	t->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = proc_read_file(path, t->comm, sizeof(t->comm));
	if (n < 0)
		return (int)n;
	if (n > 0 && t->comm[n - 1] == '\n')
		t->comm[n - 1] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, t->exe, sizeof(t->exe) - 1);
	if (n < 0)
		n = 0; /* kernel threads have no exe; the caller decides whether that matters */
	t->exe[n] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->attached_at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return 0;
}

bool target_alive(const struct target *t)
{
	uint64_t start;
	char state;

	if (read_stat(t->pid, &state, &start) != 0)
		return false;
	return start == t->start_time && state != 'Z' && state != 'X';
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int target_wait(const struct target *t, int64_t duration_ns, bool (*cancelled)(void *arg), void *arg)
{
	int64_t end = mono_ns() + duration_ns;

	for (;;) {
		int64_t left = end - mono_ns();
		struct timespec ts;

		if (left <= 0)
			return 0;
		/* the exit first: profd's server shuts down (which cancels requests) when it sees the
		 * target gone, and the caller should give the real reason */
		if (!target_alive(t))
			return -ESRCH;
		if (cancelled && cancelled(arg))
			return target_alive(t) ? -ECANCELED : -ESRCH;
		if (left > TARGET_WAIT_POLL_NS)
			left = TARGET_WAIT_POLL_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left;
		nanosleep(&ts, NULL);
	}
}

int target_cmdline(const struct target *t, struct buf *out)
{
	char path[64], chunk[4096];
	size_t total = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)t->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		err = buf_append(out, chunk, (size_t)n);
		if (err)
			break;
		total += (size_t)n;
	}
	close(fd);
	/* a reused PID would show someone else's arguments */
	if (!err && !target_alive(t))
		err = -ESRCH;
	if (err)
		return err;
	/* Go joins with NUL and has no trailing NUL */
	if (total > 0 && out->data[out->len - 1] == '\0') {
		out->len--;
		out->data[out->len] = '\0';
	}
	return 0;
}

int target_thread_count(const struct target *t)
{
	char path[64], status[8192];
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)t->pid);
	n = proc_read_file(path, status, sizeof(status));
	if (n < 0)
		return (int)n;
	p = strstr(status, "\nThreads:");
	if (!p)
		return -EINVAL;
	return atoi(p + 9);
}

int target_check_privileges(char *ret_missing, size_t len)
{
	static const struct {
		int cap;
		const char *name;
	} needed[] = {
		{ 39 /* CAP_BPF */, "CAP_BPF" },
		{ 38 /* CAP_PERFMON */, "CAP_PERFMON" },
		{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE" },
	};
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { 0 };
	int missing = 0;
	size_t used = 0;

	if (len)
		ret_missing[0] = '\0';
	if (syscall(SYS_capget, &hdr, data) != 0)
		return -errno;
	for (unsigned i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		int c = needed[i].cap;

		if (data[c / 32].effective & (1u << (c % 32)))
			continue;
		missing++;
		if (used < len)
			used += (size_t)snprintf(ret_missing + used, len - used, "%s%s", used ? ", " : "",
						 needed[i].name);
	}
	return missing;
}
