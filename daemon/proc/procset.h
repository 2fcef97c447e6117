/* SPDX-License-Identifier: MIT */
/* The processes a profd serves, chosen by one selector: a PID; a PID and every process descended
 * from it, including those created later; every process in a cgroup v2 directory and below it;
 * or a systemd unit's cgroup, followed across restarts. Membership is read from /proc and the
 * cgroup filesystem at each scan; a member that ends stays listed as exited (its samples live on
 * in cumulative profiles) until the bound on exited members pushes it out. Bounded: at most
 * max_processes live members; what does not fit is counted. Thread-safe: scans and readers
 * serialize on an internal lock. */
#ifndef PROFD_PROCSET_H
#define PROFD_PROCSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCSET_DEFAULT_MAX 1024
#define PROCSET_MAX_MAX 65536
/* cgroup directories below a selected one that a scan walks, and how deep */
#define PROCSET_MAX_CGROUP_DIRS 4096
#define PROCSET_MAX_CGROUP_DEPTH 16

enum procset_kind {
	PROCSET_PID = 0,  /* --pid PID */
	PROCSET_CHILDREN, /* --pid PID --children */
	PROCSET_CGROUP,   /* --cgroup PATH */
	PROCSET_UNIT,     /* --unit NAME */
};

struct procset_config {
	enum procset_kind kind;
	pid_t pid;          /* PID, CHILDREN */
	char name[4096];    /* CGROUP: the path as given; UNIT: the unit ("nginx" or "nginx.service") */
	int max_processes;  /* live members at most; 0: PROCSET_DEFAULT_MAX */
};

/* One member, as copied out by procset__members(). Times are CLOCK_REALTIME ns. */
struct procset_member {
	pid_t pid;
	uint64_t start_time; /* with pid, identifies the process (a reused PID is another one) */
	uint64_t image;      /* target_image: in the set modes, a process that execs is a new member
			      * (new code: its symbols, unwinding and allocator are read again); 0:
			      * unknown, and always 0 for --pid */
	char comm[64];
	int64_t first_seen;
	int64_t exited_at;   /* 0 while it runs */
};

/* What a scan changed, for the caller to attach to new members and let go of ended ones. The
 * arrays are owned by the set and valid until the next scan. */
struct procset_delta {
	int ncame, nwent;
	const struct procset_member *came;
	const struct procset_member *went;
};

struct procset_stats {
	int live, exited;     /* members now */
	uint64_t came, went;  /* since the set was made (the first scan's members count as came) */
	uint64_t dropped;     /* processes seen but not taken: max_processes reached */
	bool gone;            /* PID mode: the process exited; UNIT/CGROUP: the directory is gone */
};

struct procset;

/* The cgroup2 mount point in a mountinfo text (/proc/self/mountinfo), into ret. Pure, for tests.
 * Returns 0 or -ENOENT (cgroup v1 only, or no cgroup filesystem). */
int procset_cgroup2_mount(const char *mountinfo, char *ret, size_t len);
/* The cgroup2 mount point of this system (read from /proc/self/mountinfo), into ret. Returns 0,
 * -ENOENT (cgroup v1 only) or -errno. */
int procset_cgroup2_root(char *ret, size_t len);

/* Resolves the selector and takes the first members (the first scan). Refuses, with one line for
 * the user in err naming the flag: a PID that does not exist or is a kernel thread (-ESRCH,
 * -EPERM), a cgroup that does not exist or is not in cgroup v2 (-ENOENT), a unit with no cgroup
 * (-ENOENT: not running, or no such unit), a system with cgroup v1 only (-ENOTSUP), a bad
 * max_processes (-EINVAL). Free with procset__free(). */
int procset__new(const struct procset_config *cfg, struct procset **ret, char *err, size_t errlen);
void procset__free(struct procset *s); /* NULL-safe */

/* Reads membership again. Fills *ret (may be NULL) with what changed. Returns 0 or -errno. */
int procset__scan(struct procset *s, struct procset_delta *ret);

/* A copy of the members, live first (by PID), then exited (most recent first); the caller frees
 * *ret. Returns the number, or -ENOMEM. */
int procset__members(struct procset *s, struct procset_member **ret);
/* Whether (pid) is a member now or was one (exited); fills *ret when it is. */
bool procset__find(struct procset *s, pid_t pid, struct procset_member *ret);
void procset__stats(struct procset *s, struct procset_stats *ret);

/* The selector in words, e.g. "nginx.service (cgroup /sys/fs/cgroup/system.slice/nginx.service)",
 * "process 1234 and its descendants". Borrowed, valid until procset__free(). */
const char *procset__describe(const struct procset *s);
enum procset_kind procset__kind(const struct procset *s);
/* --cgroup, --unit: the selected cgroup v2 directory (absolute); NULL for the PID selectors.
 * Borrowed, valid until procset__free(). */
const char *procset__cgroup(const struct procset *s);

#endif
