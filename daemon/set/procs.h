/* SPDX-License-Identifier: MIT */
/* The processes profd serves (a proc/procset.h selector) and what each needs to be profiled: its
 * identity, its symbolizer and its unwinder. Processes forked without exec share their parent's
 * layout, and then its symbolizer and unwinder (so 200 workers of one master cost one of each);
 * processes with other layouts (exec'd) share, below those, each file's state (symmod.h,
 * cfifile.h): a process costs its layout, not its binaries.
 * A scan thread follows membership every PROCS_SCAN_NS; sources listen for processes that come
 * and go. A process that ends is kept (exited) while the set lists it, so cumulative profiles
 * can still name its samples. Reference counted; every public function is thread-safe. */
#ifndef PROFD_PROCS_H
#define PROFD_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/procset.h"
#include "proc/target.h"

#define PROCS_SCAN_NS 1000000000ll /* membership is read again every second */
#define PROCS_MAX_LISTENERS 16

struct symbolizer;
struct unwinder;

/* One process. Fields are set before it is handed out and never change, but exited_at (written
 * under the set's lock: read it through proc__exited()). */
struct proc {
	struct target target;       /* identity (pid, start time), name and executable at first sight */
	struct symbolizer *sym;     /* NULL when it could not be read (it ended at once) */
	struct unwinder *uw;        /* likewise */
	int64_t first_seen;         /* CLOCK_REALTIME ns */
	/* private */
	int64_t exited_at;
	int refs;
	uint64_t image;             /* procset_member.image: an exec makes another member */
	uint64_t layout;            /* hash of its executable mappings: equal layouts share sym and uw */
	struct proc *shares;        /* whose sym and uw it borrows, referenced; NULL: its own */
};

struct procs_listener {
	/* a process joined (also called, at listen time, for every current member) */
	void (*came)(void *ctx, struct proc *p);
	/* a process ended */
	void (*went)(void *ctx, struct proc *p);
	void *ctx;
};

struct procs;

/* Resolves the selector (procset__new: its refusals, with err naming the flag) and reads the first
 * members. Returns 0 or -errno. Free with procs__free(). */
int procs__new(const struct procset_config *cfg, struct procs **ret, char *err, size_t errlen);
/* Stops the scan thread and drops every process. NULL-safe. */
void procs__free(struct procs *ps);
/* Starts following membership (a thread scanning every PROCS_SCAN_NS). Returns 0 or -errno. */
int procs__start(struct procs *ps);
/* Reads membership now (the scan thread's step); listeners hear of what changed. */
int procs__scan(struct procs *ps);
/* Adds a listener and calls its came() for every live member at once. Returns 0 or -ENOSPC. */
int procs__listen(struct procs *ps, const struct procs_listener *l);

/* Removes the listeners whose ctx is ctx; when it returns, none of them is being called. A source
 * calls it first in its free. */
void procs__unlisten(struct procs *ps, void *ctx);

/* The member with this PID, live or kept as exited, referenced (proc__put); NULL if none. */
struct proc *procs__get(struct procs *ps, pid_t pid);
/* The same for the process of a sample a BPF program followed from its fork, which the set's
 * scan may not have seen yet: when pid is not a member, scans the set again now, at most once per
 * 100 ms by *last_rescan_ns (CLOCK_MONOTONIC, the caller's; one thread's). NULL if still none. */
struct proc *procs__get_rescan(struct procs *ps, pid_t pid, int64_t *last_rescan_ns);
struct proc *proc__ref(struct proc *p);
void proc__put(struct proc *p); /* NULL-safe */
/* CLOCK_REALTIME ns the process ended, 0 while it runs. */
int64_t proc__exited(struct procs *ps, const struct proc *p);

/* Every member, referenced: live ones first (by PID), then exited ones (the newest first). The
 * caller frees with procs__list_free(). Returns the number, or -ENOMEM. */
int procs__list(struct procs *ps, struct proc ***ret);
void procs__list_free(struct proc **list, int n);

/* The pprof resolver (pprof_symbols.get) over a list from procs__list(), as ctx: the symbolizer
 * of pid among them, NULL if none. */
struct proc_list {
	struct proc **p;
	int n;
};
struct symbolizer *procs_list_symbolizer(void *list, int64_t pid);

/* Every member, live and exited, sorted by PID: what names a sample by its pid label (its
 * process, its symbolizer). Each symbolizer is refreshed once, at its first use through
 * procs_names__sym (objects dlopen'ed since). Free with procs_names__free(). */
struct procs_names {
	struct proc **list;
	int n;
	bool *refreshed;
};
/* Returns 0 or -ENOMEM. */
int procs_names__get(struct procs *ps, struct procs_names *ret);
void procs_names__free(struct procs_names *nm); /* leaves *nm empty; NULL-safe fields */
/* pid's index in nm->list (sorted by PID); -1 when the set forgot it. */
int procs_names__index(const struct procs_names *nm, pid_t pid);
/* Referenced by nm; NULL when the set forgot pid. */
struct proc *procs_names__find(const struct procs_names *nm, pid_t pid);
/* pid's symbolizer, refreshed at its first use; NULL if none. */
struct symbolizer *procs_names__sym(const struct procs_names *nm, pid_t pid);
/* pprof_symbols.get over a struct procs_names: pid 0 (a one-process profile, no pid labels) is
 * its first process. */
struct symbolizer *procs_names_symbolizer(void *nm, int64_t pid);

struct procset *procs__set(struct procs *ps);
/* true when the selector may name several processes (--children, --cgroup, --unit): samples then
 * carry pid and process labels, and ?pid= chooses one. */
bool procs__multi(const struct procs *ps);

#endif
