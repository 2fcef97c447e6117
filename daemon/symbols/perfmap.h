/* SPDX-License-Identifier: MIT */
/* Names of JIT-compiled code from a perf map file, /tmp/perf-PID.map, as node --perf-basic-prof,
 * the JVM's `jcmd PID Compiler.perfmap`, .NET (DOTNET_PerfMapEnabled=1) and Python 3.12's -X perf
 * write it: one "START SIZE name" line per piece of code, START and SIZE in hex. The file only
 * grows while the runtime runs: it is read again from where the last read stopped. Bounded:
 * PERFMAP_MAX_BYTES of file and PERFMAP_MAX_ENTRIES entries at most, what is past them is not
 * read. Lookups by address on a sorted index; where pieces overlap (code freed, its addresses
 * reused), the one written last wins. Not thread-safe: the owner serializes calls. */
#ifndef PROFD_PERFMAP_H
#define PROFD_PERFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERFMAP_MAX_BYTES (64u << 20)
#define PERFMAP_MAX_ENTRIES (1u << 20)
#define PERFMAP_MAX_LINE 4096 /* longer lines are skipped */

struct perfmap;

/* Returns an empty map, or NULL (ENOMEM). */
struct perfmap *perfmap__new(void);
void perfmap__free(struct perfmap *pm); /* NULL-safe */
/* Adds the entries of the complete lines of text[0, len) (a last line without '\n' is left
 * out, unless final); lines that are not "START SIZE name" are skipped. Returns the bytes
 * consumed (through the last '\n' taken, or len when final), or -ENOMEM (the map is as
 * before). Past PERFMAP_MAX_ENTRIES, lines are consumed without being added. */
long perfmap__add_text(struct perfmap *pm, const char *text, size_t len, bool final);
/* Reads the perf map open on fd (left open) from where the last read stopped; reads it all
 * again when it is another file than last time or shrank. Returns 1 when entries changed, 0
 * when nothing did, or -errno (-EINVAL: not a regular file; the entries already read stay). */
int perfmap__read_fd(struct perfmap *pm, int fd);
/* The same for the file at path, a regular file (opened without blocking on a FIFO or reading
 * a device). Returns as perfmap__read_fd, or -ENOENT when there is no such file. */
int perfmap__read(struct perfmap *pm, const char *path);
/* The name of the piece of code holding addr, and its start in *ret_start; NULL if none.
 * Borrowed, valid until the next perfmap__read, perfmap__add_text or perfmap__free. */
const char *perfmap__lookup(const struct perfmap *pm, uint64_t addr, uint64_t *ret_start);
/* Entries held. */
size_t perfmap__count(const struct perfmap *pm);
/* true when the file went past PERFMAP_MAX_BYTES or PERFMAP_MAX_ENTRIES and was cut there. */
bool perfmap__truncated(const struct perfmap *pm);

#endif
