/* SPDX-License-Identifier: MIT */
/* /proc/PID/maps: a pure parser (fuzzed) and a reader. Entries are kept in address order, as the
 * kernel writes them. Not thread-safe per object; a parsed struct procmaps is immutable. */
#ifndef PROFD_PROCMAPS_H
#define PROFD_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* vm.max_map_count defaults to 65530; allow some headroom, then refuse. */
#define PROCMAPS_MAX_ENTRIES 262144
#define PROCMAPS_MAX_TEXT (64u << 20)

struct procmaps_entry {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset mapped at start */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	bool read, write, exec, shared;
	bool deleted;        /* the path ended with " (deleted)", which is stripped from path */
	char *path;          /* "" for anonymous memory; "[vdso]", "[stack]", ... for special ones */
};

struct procmaps {
	size_t n;
	struct procmaps_entry *entries;
};

/* Parses the text of a maps file. Lines that do not parse are an error (-EINVAL): the kernel's
 * format is fixed, so a bad line means the input is not a maps file. Returns 0, -EINVAL, -ENOMEM,
 * or -E2BIG (more than PROCMAPS_MAX_ENTRIES). On error *ret is left empty. */
int procmaps_parse(const char *text, size_t len, struct procmaps *ret);
/* Reads and parses /proc/PID/maps. Returns 0 or -errno (-ESRCH when the process is gone). */
int procmaps_read(pid_t pid, struct procmaps *ret);
void procmaps_free(struct procmaps *maps); /* NULL-safe, leaves an empty struct */
/* The entry containing addr, or NULL. The pointer is borrowed from maps. */
const struct procmaps_entry *procmaps_find(const struct procmaps *maps, uint64_t addr);
/* true for file-backed mappings with a real path (not anonymous, not [special]). */
bool procmaps_entry_is_file(const struct procmaps_entry *e);

/* Opens the file behind a file-backed mapping of process pid, read-only: first through
 * /proc/PID/map_files/START-END (works for files deleted or replaced since they were mapped),
 * then /proc/PID/root/PATH (the target's mount namespace). Returns an fd (O_CLOEXEC) or -errno. */
int procmaps_open_file(pid_t pid, const struct procmaps_entry *e);

#endif
