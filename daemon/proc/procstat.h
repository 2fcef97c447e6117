/* SPDX-License-Identifier: MIT */
/* A process's resource figures now, as /proc and its cgroup show them: memory (resident total,
 * anonymous, file, shared memory; swap), threads, open descriptors, CPU time, context switches,
 * page faults, and its memory cgroup's usage and limit (v2, or v1 where the memory controller
 * is still there: hybrid systems). Only reads files: it never
 * stops a thread or attaches anything. Thread-safe (no state). */
#ifndef PROFD_PROCSTAT_H
#define PROFD_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Descriptors counted at most (entries of /proc/PID/fd read); a process with more shows this
 * many, and fds_capped is set. */
#define PROCSTAT_MAX_FDS 1048576
/* Threads whose context switches are summed at most */
#define PROCSTAT_MAX_THREADS 4096

/* -1: unknown (the file or line is absent, or the process hides it from profd). */
struct proc_figures {
	int64_t rss_bytes, rss_anon_bytes, rss_file_bytes, rss_shmem_bytes, swap_bytes;
	int64_t threads;
	int64_t fds;
	int fds_capped;             /* more than PROCSTAT_MAX_FDS */
	double cpu_user_s, cpu_system_s;
	int64_t minflt, majflt;     /* the whole process's, dead threads included */
	int64_t ctxsw_vol, ctxsw_invol; /* summed over its live threads */
	int64_t cg_mem_current;     /* its memory cgroup's memory.current (v1: memory.usage_in_bytes) */
	int64_t cg_mem_max;         /* memory.max (v1: memory.limit_in_bytes), bytes; -1 when no limit */
	char cgroup[512];           /* its cgroup path (of the memory hierarchy when cg_v1), "" when unknown */
	bool cg_v1;                 /* the memory figures come from cgroup v1 (a hybrid system) */
};

/* What to read: descriptors and per-thread switches cost a directory walk each. */
enum {
	PROCSTAT_FDS = 1,
	PROCSTAT_SWITCHES = 2,
	PROCSTAT_CGROUP = 4,
	PROCSTAT_ALL = 7,
};

/* Reads pid's figures (what of `what`; the rest of *ret is -1). Returns 0 (some figures may be
 * -1), -ESRCH when the process is gone, or -errno when its status cannot be read. */
int procstat_read(pid_t pid, unsigned what, struct proc_figures *ret);

#endif
