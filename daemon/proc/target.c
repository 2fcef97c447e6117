// SPDX-License-Identifier: MIT
/* The target process, identified by PID and start time; /proc readers for what every endpoint
 * needs (cmdline, thread count) and the privilege check made once at start-up. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "proc/proctext.h"
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

int proc_open_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), err;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	else
		return fd;
	close(fd);
	return err;
}

#define PF_KTHREAD 0x00200000 /* task flag (field 9 of stat): a kernel thread */

static int read_stat_flags(pid_t pid, char *ret_state, unsigned long *ret_flags, uint64_t *ret_start)
{
	char path[64], stat[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = proc_read_file(path, stat, sizeof(stat));
	if (n < 0)
		return (int)n;
	return proctext_stat(stat, ret_state, ret_flags, ret_start);
}

static int read_stat(pid_t pid, char *ret_state, uint64_t *ret_start)
{
	return read_stat_flags(pid, ret_state, NULL, ret_start);
}

/* The first thread of pid that is not a zombie, or -ESRCH. */
static pid_t live_thread(pid_t pid)
{
	char path[64];
	struct dirent *de;
	pid_t found = -ESRCH;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -ESRCH;
	while ((de = readdir(d)) && found < 0) {
		pid_t tid = (pid_t)atoi(de->d_name);
		uint64_t start;
		char state;

		if (tid > 0 && tid != pid && read_stat(tid, &state, &start) == 0 && state != 'Z' && state != 'X')
			found = tid;
	}
	closedir(d);
	return found;
}

pid_t proc_live_pid(pid_t pid)
{
	uint64_t start;
	char state;
	pid_t tid;

	if (read_stat(pid, &state, &start) != 0 || state != 'Z')
		return pid;
	/* the main thread exited (pthread_exit) while others run: the process is alive, and its
	 * address space, files and root are seen through any of its live threads */
	tid = live_thread(pid);
	return tid > 0 ? tid : pid;
}

int target_read_start_time(pid_t pid, uint64_t *ret)
{
	char state;

	return read_stat(pid, &state, ret);
}

int target_open(pid_t pid, struct target *t)
{
	char path[64], state;
	unsigned long flags = 0;
	ssize_t n;
	int err;

	memset(t, 0, sizeof(*t));
	if (pid <= 0)
		return -EINVAL;
	err = read_stat_flags(pid, &state, &flags, &t->start_time);
	if (err)
		return err;
	t->kernel_thread = (flags & PF_KTHREAD) != 0;
	if (state == 'X' || (state == 'Z' && live_thread(pid) < 0))
		return -ESRCH;
	t->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = proc_read_file(path, t->comm, sizeof(t->comm));
	if (n < 0)
		return (int)n;
	if (n > 0 && t->comm[n - 1] == '\n')
		t->comm[n - 1] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)proc_live_pid(pid));
	n = readlink(path, t->exe, sizeof(t->exe) - 1);
	if (n < 0)
		n = 0; /* kernel threads have no exe; the caller decides whether that matters */
	t->exe[n] = '\0';
	t->image = target_image(pid);
	t->attached_at = profd_mono_ns();
	return 0;
}

uint64_t target_image(pid_t pid)
{
	char path[64], stat[1024];

	/* a live thread's: a zombie leader's own fields are zeros */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)proc_live_pid(pid));
	if (proc_read_file(path, stat, sizeof(stat)) < 0)
		return 0;
	return proctext_stat_image(stat);
}

bool target_alive(const struct target *t)
{
	uint64_t start;
	char state;

	if (read_stat(t->pid, &state, &start) != 0 || start != t->start_time || state == 'X')
		return false;
	/* a zombie main thread is not a dead process while other threads run */
	return state != 'Z' || live_thread(t->pid) > 0;
}

int target_wait(const struct target *t, int64_t duration_ns, bool (*cancelled)(void *arg), void *arg)
{
	int64_t end = profd_mono_ns() + duration_ns;

	for (;;) {
		int64_t left = end - profd_mono_ns();
		struct timespec ts;

		if (left <= 0)
			return 0;
		/* the exit first: profd's server shuts down (which cancels requests) when it sees the
		 * target gone, and the caller should give the real reason */
		if (t && !target_alive(t))
			return -ESRCH;
		if (cancelled && cancelled(arg))
			return !t || target_alive(t) ? -ECANCELED : -ESRCH;
		if (left > TARGET_WAIT_POLL_NS)
			left = TARGET_WAIT_POLL_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left;
		nanosleep(&ts, NULL);
	}
}

int target_names(const struct target *t, char *comm, size_t comm_len, char *exe, size_t exe_len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)t->pid);
	n = proc_read_file(path, comm, comm_len);
	if (n < 0)
		return (int)n;
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)proc_live_pid(t->pid));
	n = readlink(path, exe, exe_len - 1);
	exe[n > 0 ? n : 0] = '\0';
	/* after a reused PID, these would be another process's */
	return target_alive(t) ? 0 : -ESRCH;
}

int target_cmdline(const struct target *t, struct buf *out)
{
	char path[64], chunk[4096];
	size_t total = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)proc_live_pid(t->pid));
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

int target_status(const struct target *t, int *ret_threads, long *ret_rss_kb)
{
	char path[64], status[8192];
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)t->pid);
	n = proc_read_file(path, status, sizeof(status));
	if (n < 0)
		return (int)n;
	p = strstr(status, "\nThreads:");
	*ret_threads = p ? atoi(p + 9) : -1;
	/* a zombie main thread has no VmRSS: the process's is on a live thread's status */
	p = strstr(status, "\nVmRSS:");
	if (!p && proc_live_pid(t->pid) != t->pid) {
		snprintf(path, sizeof(path), "/proc/%d/status", (int)proc_live_pid(t->pid));
		n = proc_read_file(path, status, sizeof(status));
		p = n > 0 ? strstr(status, "\nVmRSS:") : NULL;
	}
	*ret_rss_kb = p ? atol(p + 8) : -1;
	return 0;
}

int64_t target_started_at(const struct target *t)
{
	static long long btime = -1;
	long hz = sysconf(_SC_CLK_TCK);

	if (btime < 0) {
		char stat[16384], *p;

		if (proc_read_file("/proc/stat", stat, sizeof(stat)) > 0 && (p = strstr(stat, "\nbtime ")))
			btime = atoll(p + 7);
		else
			return 0;
	}
	if (hz <= 0)
		return 0;
	return (btime + (long long)(t->start_time / (uint64_t)hz)) * 1000000000ll +
	       (long long)(t->start_time % (uint64_t)hz) * (1000000000ll / hz);
}

int target_thread_count(const struct target *t)
{
	char path[64], status[8192];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)t->pid);
	n = proc_read_file(path, status, sizeof(status));
	if (n < 0)
		return (int)n;
	return proctext_status_threads(status);
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

#define PROC_PID_INIT_INO 0xEFFFFFFCu /* the initial PID namespace's inode (include/linux/proc_ns.h) */

void proc_self_pidns(uint64_t *ret_dev, uint64_t *ret_ino)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != PROC_PID_INIT_INO) {
		*ret_dev = (uint64_t)st.st_dev;
		*ret_ino = (uint64_t)st.st_ino;
	}
}
