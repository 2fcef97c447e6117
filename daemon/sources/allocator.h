/* SPDX-License-Identifier: MIT */
/* Which allocator a running process really uses, and where to put the heap probes: reads the
 * ELF objects mapped by the target, orders them as the dynamic linker searches them (executable,
 * LD_PRELOAD, then DT_NEEDED breadth first), binds each allocator entry point (glibc, jemalloc
 * with its je_ and _rjem_ prefixes, tcmalloc, mimalloc, C++ operator new/delete) to its first
 * definition, and picks a probe offset per function (x86_decode.h). Go programs are refused.
 * One-shot computation, no shared state. */
#ifndef PROFD_ALLOCATOR_H
#define PROFD_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/heap.h"

#define ALLOC_MAX_PROBES PROFD_HEAP_MAX_PROBES
#define ALLOC_MAX_OBJS PROFD_HEAP_MAX_OBJS
#define ALLOC_MAX_TRIM 32

struct alloc_probe {
	char name[64];        /* symbol, e.g. "free", "_rjem_sdallocx", "_Znwm" */
	char *path;           /* file to attach to, below /proc/PID/: root/... or map_files/... (see
			       * alloc_probe_path: the PID to use may change while the process lives);
			       * owned by the plan, as every string of it (a plan per process: its
			       * strings sized to fit, not PATH_MAX each) */
	uint64_t file_offset; /* file offset of the probed instruction */
	uint64_t addr;        /* runtime address of the function's entry */
	uint32_t delta;       /* probed instruction - entry (0: at the entry) */
	bool stepped;         /* the kernel must single-step the probed instruction (slow) */
	int kind;             /* enum profd_heap_kind (bpf/heap.h) */
	int obj;              /* index into alloc_plan.objs */
	bool tail_forwards;   /* some path tail-jumps to another allocation function (glibc's
			       * realloc(NULL, n) jumps to malloc): that call is counted there */
};

struct alloc_obj {
	char *path;           /* as in /proc/PID/maps */
	uint64_t text_lo, text_hi; /* runtime range of its executable mappings */
};

struct alloc_range {
	uint64_t lo, hi;
};

struct alloc_plan {
	char allocator[32];   /* "glibc", "jemalloc", "tcmalloc", "mimalloc", "unknown" */
	char *where;          /* object that defines malloc (or the first probed function), or NULL */
	bool is_static;       /* the allocator is linked into the executable */
	int nprobes;
	struct alloc_probe probes[ALLOC_MAX_PROBES];
	int nobjs;
	struct alloc_obj objs[ALLOC_MAX_OBJS];
	/* Functions that only forward to a probed one (libstdc++'s operator new, the probed functions
	 * themselves): leading stack frames inside them are not the allocation site. */
	int ntrim;
	struct alloc_range trim[ALLOC_MAX_TRIM];
	int nskipped;         /* functions found but not probed (forward to a probed one) */
	char skipped[256];    /* their names, comma separated (truncated) */
};

/* Builds the probe plan for process pid (*ret zeroed or built before). Returns 0, -ESRCH (gone), -EPROTONOSUPPORT (a Go
 * program), -ENOENT (no allocator symbol found: stripped static binary?), or -errno; on error
 * err (if not NULL) holds a sentence for the user. */
int alloc_plan_build(pid_t pid, struct alloc_plan *ret, char *err, size_t errlen);
/* Frees the strings of a plan (zeroed, or built: alloc_plan_build releases it first) and leaves
 * it empty. */
void alloc_plan_release(struct alloc_plan *plan);

/* The file to attach p to, as profd sees it now: /proc/LIVE/<p->path>, LIVE being a live thread
 * of pid (proc_live_pid: its main thread may have exited since the plan was made). */
void alloc_probe_path(const struct alloc_probe *p, pid_t pid, char *out, size_t len);

/* true when the ELF file open at fd is a Go binary (.go.buildinfo, .note.go.buildid, or a
 * runtime.main symbol). */
bool alloc_elf_is_go(int fd);

/* One line describing the plan, e.g. "allocator: glibc (libc.so.6), 9 probes: malloc, free+3,
 * ...". Writes at most len bytes (NUL-terminated); returns the length it wanted. */
int alloc_plan_describe(const struct alloc_plan *plan, char *out, size_t len);

#endif
