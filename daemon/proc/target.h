/* SPDX-License-Identifier: MIT */
/* The target process: identified by PID *and* start time (field 22 of /proc/PID/stat), so that a
 * reused PID is never mistaken for the original. Reads its command line, name and threads. */
#ifndef PROFD_TARGET_H
#define PROFD_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"

struct target {
	pid_t pid;
	uint64_t start_time;   /* clock ticks since boot, from /proc/PID/stat */
	char comm[64];         /* /proc/PID/comm at attach */
	int64_t attached_at;   /* CLOCK_MONOTONIC ns when profd attached */
	char exe[4096];        /* readlink /proc/PID/exe at attach (may end in " (deleted)") */
	bool kernel_thread;    /* a kernel thread (no user space to profile) */
	uint64_t image;        /* its address space's identity (target_image) at attach; 0: unknown */
};

/* Fills t for a running process. Returns 0, -ESRCH (no such process, or a zombie with no live
 * thread), or -errno. */
int target_open(pid_t pid, struct target *t);
/* The identity of pid's address space now (proctext_stat_image of a live thread's stat): it
 * changes when the process execs. 0 when unknown. */
uint64_t target_image(pid_t pid);
/* true while the same process (same PID and start time) is alive: not exited, and not a zombie
 * unless its main thread alone is (other threads still run). */
bool target_alive(const struct target *t);
/* Its name and executable now (they change when the process execs), into comm and exe.
 * Returns 0 or -ESRCH (the process is gone). */
int target_names(const struct target *t, char *comm, size_t comm_len, char *exe, size_t exe_len);
/* Waits duration_ns, checking every TARGET_WAIT_POLL_NS that the target lives (t may be NULL: a
 * set of processes, which does not end) and that cancelled(arg) (may be NULL) is false. Returns 0
 * (the time passed), -ESRCH (the target exited first) or -ECANCELED. */
#define TARGET_WAIT_POLL_NS 100000000ll
int target_wait(const struct target *t, int64_t duration_ns, bool (*cancelled)(void *arg), void *arg);
/* Reads /proc/PID/stat start time; returns 0 or -errno. */
int target_read_start_time(pid_t pid, uint64_t *ret);
/* The argv of the target, NUL-separated without a trailing NUL (Go's cmdline format).
 * Returns 0 or -errno (-ESRCH if the process is gone). */
int target_cmdline(const struct target *t, struct buf *out);
/* Number of threads (from /proc/PID/status Threads:), or -errno. */
int target_thread_count(const struct target *t);
/* Threads and resident memory (KiB) now, -1 each when unknown. Returns 0 or -errno. */
int target_status(const struct target *t, int *ret_threads, long *ret_rss_kb);
/* CLOCK_REALTIME ns the process started (from its start time and the boot time), 0 if unknown. */
int64_t target_started_at(const struct target *t);

/* The PID to read process-wide /proc entries through (maps, map_files, root, exe, mem, cmdline):
 * pid itself, or, while its main thread is a zombie (it called pthread_exit and other threads
 * run), one of its live threads, whose /proc/TID entries show the same process. */
pid_t proc_live_pid(pid_t pid);
/* Reads a small /proc file (at most size - 1 bytes) into buf, NUL-terminated. Returns the
 * length, -ESRCH when the process or thread is gone, or -errno. */
ssize_t proc_read_file(const char *path, char *buf, size_t size);

/* Opens, read-only, a file a target can name (a mapped file, a debug file or dwz file its ELF
 * names): never blocks on a FIFO (O_NONBLOCK) and refuses what is not a regular file, such as
 * /dev/zero, which would read forever. Returns the fd or -errno (-EINVAL: not a regular file). */
int proc_open_regular(const char *path);

/* Privileges profd needs. Fills ret_missing with a human list of what is missing, e.g.
 * "CAP_BPF, CAP_PERFMON" and returns the number missing (0 = all present). */
int target_check_privileges(char *ret_missing, size_t len);

/* profd's own PID namespace (the device and inode of /proc/self/ns/pid) when it is not the
 * initial one: BPF programs then ask for a task's PIDs as seen from it. Leaves both unchanged (0)
 * in the initial namespace or when it cannot be read. */
void proc_self_pidns(uint64_t *ret_dev, uint64_t *ret_ino);

#endif
