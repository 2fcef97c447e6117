/* SPDX-License-Identifier: MIT */
/* The resource figures of the processes served and of profd itself (proc/procstat.h), as
 * /metrics families (base/metrics.h): profd_process_* with labels pid and process, profd_self_*.
 * Only reads /proc and the cgroup files. Thread-safe (no state). */
#ifndef PROFD_RESOURCES_H
#define PROFD_RESOURCES_H

#include <sys/types.h>

#include "base/metrics.h"
#include "proc/procstat.h"

/* Adds f, the figures of process pid named comm, to m (figures of -1 are left out). Returns 0
 * or the first error of metrics__add. */
int resources_add_process(struct metrics *m, pid_t pid, const char *comm, const struct proc_figures *f);
/* profd's own resident memory, CPU time and descriptors. Returns 0 or -errno. */
int resources_add_self(struct metrics *m);

#endif
