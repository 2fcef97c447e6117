/* SPDX-License-Identifier: MIT */
/* Files profd writes on its own (snapshots): written whole or not at all, and a directory's
 * series of them pruned to the newest. No state; thread-safe. */
#ifndef PROFD_FILES_H
#define PROFD_FILES_H

#include <stddef.h>

/* Writes len bytes to path through path.tmp, fsync and rename: a reader sees the old file or the
 * whole new one, never half. Returns 0 or -errno (path.tmp removed). */
int file_write_atomic(const char *path, const void *data, size_t len);
/* Of the files in dir whose names start with prefix and end with suffix, removes all but the
 * keep that sort last by name (keep 0: all): a series named by time keeps its newest. At most
 * FILES_PRUNE_MAX names are considered. Returns how many were removed, or -errno. */
int files_prune(const char *dir, const char *prefix, const char *suffix, int keep);

#define FILES_PRUNE_MAX 100000

#endif
