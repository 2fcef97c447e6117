/* SPDX-License-Identifier: MIT */
/* Pure parsers of the small /proc text files profd reads about a target and its threads (stat,
 * status, task/TID/stack, task/TID/syscall): NUL-terminated text in (as proc_read_file() leaves
 * it), fields out. The target names its threads, and a name lands in stat unescaped (spaces,
 * parentheses, newlines), so nothing here trusts the layout. No state; thread-safe; fuzzed. */
#ifndef PROFD_PROCTEXT_H
#define PROFD_PROCTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* stat: state (field 3), flags (field 9, when ret_flags is not NULL) and start time (field 22),
 * counted from the last ')' since the name may hold any. Returns 0, or -EINVAL when there is no
 * ") " or field 22 is not a number. */
int proctext_stat(const char *text, char *ret_state, unsigned long *ret_flags, uint64_t *ret_start_time);
/* stat: the address space's identity, a hash of startcode, endcode and startstack (fields 26-28):
 * it changes when the process execs (a new image, a new stack), and stays while it runs. 0 when
 * unknown (fields missing or all zero: a zombie's, or hidden from profd). */
uint64_t proctext_stat_image(const char *text);
/* stat: the name between the first '(' and the last ')', cut to comm_size - 1 bytes, into comm,
 * and the state letter after it ('?' when absent). Returns false, leaving comm alone, when the
 * parentheses are missing. */
bool proctext_stat_comm(const char *text, char *comm, size_t comm_size, char *ret_state);
/* status: the "Threads:" count (atoi of what follows), or -EINVAL without that line. */
int proctext_status_threads(const char *text);
/* status: the process's PID in its own PID namespace, the last field of "NSpid:" (what the
 * process itself calls its PID, e.g. in /tmp/perf-PID.map); -EINVAL without that line. */
pid_t proctext_status_nspid(const char *text);
/* status: the effective UID, the second field of "Uid:"; -EINVAL without it. */
long proctext_status_euid(const char *text);
/* status: the "State:" letter ('?' if none) and "TracerPid:" (0 if none). */
void proctext_status_state(const char *text, char *ret_state, pid_t *ret_tracer);
/* status: voluntary + nonvoluntary context switches (a missing line counts 0). */
long proctext_status_switches(const char *text);
/* status: the number after "FIELD:" at the start of a line (e.g. "VmRSS" gives the KiB of
 * "VmRSS:\t  1234 kB"), or -1 when there is no such line or no number after it. */
long long proctext_status_field(const char *text, const char *field);
/* stat: the whole process's usage, counted from the last ')': minor and major faults (fields 10
 * and 12), user and system time in clock ticks (14, 15), threads (20). */
struct proctext_usage {
	unsigned long long minflt, majflt, utime, stime;
	long threads;
};
/* Returns 0, or -EINVAL when there is no ") " or a field up to 20 is not a number. */
int proctext_stat_usage(const char *text, struct proctext_usage *ret);
/* cgroup: the cgroup v2 path (the "0::PATH" line) into path. Returns 0, -ENOENT when there is
 * no such line (cgroup v1 only), -ENAMETOOLONG when it does not fit. */
int proctext_cgroup_v2(const char *text, char *path, size_t len);
/* cgroup: the cgroup v1 path of the hierarchy with this controller ("4:memory:PATH", or a
 * comma-joined list "5:cpu,cpuacct:PATH") into path. Returns 0, -ENOENT when no line names it,
 * -ENAMETOOLONG when it does not fit. */
int proctext_cgroup_v1(const char *text, const char *controller, char *path, size_t len);
/* task/TID/stack: "[<0>] do_nanosleep+0x6b/0x180" lines into "do_nanosleep+0x6b\n" lines.
 * Returns a malloc'd string, or NULL when nothing was found (or no memory). */
char *proctext_kstack(const char *text);
/* task/TID/syscall: the syscall number a thread is blocked in, -1 when the text does not start
 * with a digit ("running", "-1 ..."). */
long proctext_syscall_nr(const char *text);
/* task/TID/syscall: "nr a0 a1 a2 a3 a4 a5 sp pc" (sscanf's %ld and %llx). Returns 0 with the
 * number, stack pointer and pc, or -EINVAL when the line has fewer fields. */
int proctext_syscall(const char *text, long *ret_nr, uint64_t *ret_sp, uint64_t *ret_pc);

#endif
