/* SPDX-License-Identifier: MIT */
/* The pprof output side: a sample set + a symbolizer -> gzip-compressed profile.proto, or the
 * text of Go's debug=1 count profiles. Knows nothing of BPF or libdw: names come from the
 * symbolizer API. Deduplicates strings, functions, locations and mappings; ids are 1..N. */
#ifndef PROFD_PPROF_H
#define PROFD_PPROF_H

#include "base/buf.h"
#include "stacks/samples.h"

struct symbolizer;
struct sym_mapping;

/* Where the builders find the symbolizer of a sample's process (sample_pid(): its "pid" label, 0
 * in a one-process profile). get may return NULL (addresses only); what it returns must stay
 * valid until the builder returns. Locations and mappings are per process: the same address in
 * two processes is two Locations. */
struct pprof_symbols {
	struct symbolizer *(*get)(void *ctx, int64_t pid);
	void *ctx;
};

/* Appends the gzip-compressed profile to out. sym may be NULL (addresses only: mappings then
 * have has_functions = false, so pprof asks /debug/pprof/symbol). Returns 0 or -errno. */
int pprof_encode(const struct profd_sample_set *set, struct symbolizer *sym, struct buf *out);
/* The same, for samples of several processes. */
int pprof_encode_procs(const struct profd_sample_set *set, const struct pprof_symbols *syms, struct buf *out);

/* Go's debug=1 text for count profiles (goroutine, threadcreate; pprof-compat.md 2.3):
 * "<name> profile: total N", then "count @ pc pc ..." and "#\t..." frame lines per sample,
 * sorted by count descending. values[0] is the count. Returns 0 or -errno. */
int pprof_write_count_text(const char *name, struct profd_sample_set *set, struct symbolizer *sym,
			   struct buf *out);
int pprof_write_count_text_procs(const char *name, struct profd_sample_set *set, const struct pprof_symbols *syms,
				 struct buf *out);

/* Go's debug=1 text for block and mutex (pprof-compat.md 2.6; runtime/pprof's
 * writeProfileInternal), which go tool pprof reads back: "--- <name>:" ("contention" for block,
 * "mutex"), "cycles/second=1000000000" (delays are printed in ns: one cycle per ns), "sampling
 * period=<period>" when period > 0, then per sample, by delay descending, "<delay> <count> @ pc
 * pc ..." and its "#\t..." frame lines. values[0] is the count, values[1] the delay in ns; when
 * period > 1 both are divided by it (Go prints the mutex profile's raw, unscaled values).
 * Returns 0 or -errno (-EINVAL: fewer than two values). */
int pprof_write_contention_text_procs(const char *name, int64_t period, struct profd_sample_set *set,
				      const struct pprof_symbols *syms, struct buf *out);

/* The frame lines of one stack in the legacy heap texts (gperftools' heap and growthz, which
 * pprof reads): "#\taddr\tfunc+off\tfile:line" per frame and inlined frame, "#\taddr" when sym
 * (may be NULL) does not know it. pcs are return addresses (looked up at pc - 1). Returns 0 or
 * -errno. */
int pprof_write_legacy_frames(const uint64_t *pcs, uint32_t n, struct symbolizer *sym, struct buf *out);

/* The note a profile or dump carries once when some of its binaries have no symbol table:
 * "no symbol table in FILE, ...: functions without an exported name are named FILE+0xADDR ...;
 * for names, install ...". Appends it to out for the mappings of maps[0, n) (NULL entries
 * skipped) flagged lacks_symbols, each file named once (at most 8, then "and N more").
 * Returns 1 when it wrote the note, 0 when no mapping lacks symbols, or -errno. */
int pprof_symbols_note(const struct sym_mapping *const *maps, size_t n, struct buf *out);

/* A readable top list of a CPU sample set (pprof -top style: flat, flat%, sum%, cum, cum%,
 * function; values[1] is CPU nanoseconds, values[0] the sample count), at most 100 lines,
 * appended to out. sym may be NULL (addresses only). Returns 0 or -errno. */
int pprof_write_top(const struct profd_sample_set *set, struct symbolizer *sym, struct buf *out);
int pprof_write_top_procs(const struct profd_sample_set *set, const struct pprof_symbols *syms, struct buf *out);

#endif
