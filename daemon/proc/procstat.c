// SPDX-License-Identifier: MIT
/* A process's resource figures (procstat.h) from /proc/PID/{status,stat,fd,task,cgroup} and
 * /sys/fs/cgroup, parsed by proctext. No state; every read is bounded. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include "proc/mempressure.h"
#include "proc/procset.h"
#include "proc/procstat.h"
#include "proc/proctext.h"
#include "proc/target.h"

/* the cgroup2 mount, read once: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems */
static char cgroup_root[4096];
static pthread_once_t cgroup_once = PTHREAD_ONCE_INIT;

/* the cgroup v1 memory hierarchy's mount, where the memory controller is not in v2 (hybrid) */
static char cgroup_v1_root[4096];

static void find_cgroup_root(void)
{
	if (procset_cgroup2_root(cgroup_root, sizeof(cgroup_root)) != 0)
		cgroup_root[0] = '\0';
	if (mempressure_v1_root(cgroup_v1_root, sizeof(cgroup_v1_root)) != 0)
		cgroup_v1_root[0] = '\0';
}

static int64_t kb(long long v)
{
	return v < 0 ? -1 : (int64_t)v * 1024;
}

/* Entries of /proc/PID/fd, at most PROCSTAT_MAX_FDS: names only, nothing is stat'ed. */
static int64_t count_fds(pid_t pid, int *ret_capped)
{
	char path[64];
	struct dirent *d;
	int64_t n = 0;
	DIR *dir;

	*ret_capped = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		if (++n >= PROCSTAT_MAX_FDS) {
			*ret_capped = 1;
			break;
		}
	}
	closedir(dir);
	return n;
}

static void sum_switches(pid_t pid, struct proc_figures *f)
{
	char path[96], text[4096];
	struct dirent *d;
	int threads = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	f->ctxsw_vol = f->ctxsw_invol = 0;
	while ((d = readdir(dir)) && threads < PROCSTAT_MAX_THREADS) {
		long long v, nv;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/status", (int)pid, d->d_name);
		if (proc_read_file(path, text, sizeof(text)) < 0)
			continue; /* the thread ended */
		v = proctext_status_field(text, "voluntary_ctxt_switches");
		nv = proctext_status_field(text, "nonvoluntary_ctxt_switches");
		f->ctxsw_vol += v > 0 ? v : 0;
		f->ctxsw_invol += nv > 0 ? nv : 0;
		threads++;
	}
	closedir(dir);
}

static int64_t read_cgroup_value(const char *root, const char *cg, const char *file)
{
	char path[4700], text[64];

	if (!root[0])
		return -1;
	snprintf(path, sizeof(path), "%s%s/%s", root, strcmp(cg, "/") == 0 ? "" : cg, file);
	if (proc_read_file(path, text, sizeof(text)) <= 0)
		return -1;
	if (text[0] < '0' || text[0] > '9')
		return -1; /* "max" */
	return strtoll(text, NULL, 10);
}

int procstat_read(pid_t pid, unsigned what, struct proc_figures *f)
{
	char path[64], text[8192];
	struct proctext_usage u;
	long tick = sysconf(_SC_CLK_TCK);
	pid_t live = proc_live_pid(pid);
	ssize_t n;

	memset(f, 0, sizeof(*f));
	f->rss_bytes = f->rss_anon_bytes = f->rss_file_bytes = f->rss_shmem_bytes = f->swap_bytes = -1;
	f->threads = f->fds = f->minflt = f->majflt = f->ctxsw_vol = f->ctxsw_invol = -1;
	f->cg_mem_current = f->cg_mem_max = -1;
	f->cpu_user_s = f->cpu_system_s = -1;
	/* a zombie main thread shows no memory: a live thread's status shows the process's */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)live);
	n = proc_read_file(path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	f->rss_bytes = kb(proctext_status_field(text, "VmRSS"));
	f->rss_anon_bytes = kb(proctext_status_field(text, "RssAnon"));
	f->rss_file_bytes = kb(proctext_status_field(text, "RssFile"));
	f->rss_shmem_bytes = kb(proctext_status_field(text, "RssShmem"));
	f->swap_bytes = kb(proctext_status_field(text, "VmSwap"));
	f->threads = proctext_status_field(text, "Threads");
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (proc_read_file(path, text, sizeof(text)) > 0 && proctext_stat_usage(text, &u) == 0) {
		f->minflt = (int64_t)u.minflt;
		f->majflt = (int64_t)u.majflt;
		if (tick > 0) {
			f->cpu_user_s = (double)u.utime / (double)tick;
			f->cpu_system_s = (double)u.stime / (double)tick;
		}
	}
	if (what & PROCSTAT_FDS)
		f->fds = count_fds(pid, &f->fds_capped);
	if (what & PROCSTAT_SWITCHES)
		sum_switches(pid, f);
	if (what & PROCSTAT_CGROUP) {
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
		pthread_once(&cgroup_once, find_cgroup_root);
		if (proc_read_file(path, text, sizeof(text)) <= 0) {
			f->cgroup[0] = '\0';
		} else if (proctext_cgroup_v2(text, f->cgroup, sizeof(f->cgroup)) == 0 && !strstr(f->cgroup, "..") &&
			   (f->cg_mem_current = read_cgroup_value(cgroup_root, f->cgroup, "memory.current")) >= 0) {
			/* the root cgroup has no memory.current: both stay -1 */
			f->cg_mem_max = read_cgroup_value(cgroup_root, f->cgroup, "memory.max");
		} else if (proctext_cgroup_v1(text, "memory", f->cgroup, sizeof(f->cgroup)) == 0 &&
			   !strstr(f->cgroup, "..") &&
			   (f->cg_mem_current = read_cgroup_value(cgroup_v1_root, f->cgroup, "memory.usage_in_bytes")) >= 0) {
			/* the memory controller on v1 (hybrid systems): its usage and limit */
			f->cg_v1 = true;
			f->cg_mem_max = read_cgroup_value(cgroup_v1_root, f->cgroup, "memory.limit_in_bytes");
			if (f->cg_mem_max >= 0 && (uint64_t)f->cg_mem_max >= MEMPRESSURE_V1_UNLIMITED)
				f->cg_mem_max = -1;
		} else if (proctext_cgroup_v2(text, f->cgroup, sizeof(f->cgroup)) != 0 || strstr(f->cgroup, "..")) {
			f->cgroup[0] = '\0';
		}
	}
	return 0;
}
