/* SPDX-License-Identifier: MIT */
/* Symbolization of addresses in a target process: function (demangled name and raw symbol),
 * source file and line, and inlined frames, from DWARF, .symtab/.dynsym, separate debug files
 * and debuginfod; vDSO and kernel addresses too. Owns libdwfl for symbolization. Per-module
 * sorted indexes are built once and cached by GNU build id, with a memory bound and LRU eviction.
 * Thread-safe: lookups from several threads serialize on an internal lock. */
#ifndef PROFD_SYMBOLIZE_H
#define PROFD_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbols/frame.h"

/* The executable mapping an address falls in, as pprof wants it (pprof-compat.md 3.5). */
struct sym_mapping {
	uint64_t start, limit, file_offset;
	const char *filename; /* " (deleted)" stripped; "[vdso]", "[kernel]" for those */
	const char *build_id; /* lowercase hex, "" if none */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
	bool is_main;         /* the target's main executable */
	bool lacks_symbols;   /* only .dynsym names its functions: the others are "file+0xADDR" */
	bool jit;             /* anonymous executable memory (JIT code), filename "[jit]" */
};

struct sym_result {
	int nframes; /* 0 when nothing is known about the address */
	struct sym_frame frames[SYM_MAX_INLINE];
	const struct sym_mapping *mapping; /* NULL if the address is in no executable mapping */
};

/* Creates a symbolizer for a live process. Returns NULL and sets errno on failure (ESRCH: no
 * such process; ENOMEM). */
struct symbolizer *symbolizer__new(pid_t pid);
void symbolizer__free(struct symbolizer *sym); /* NULL-safe */
/* Re-reads /proc/PID/maps so that newly mapped objects (dlopen) are known. Cheap when nothing
 * changed. Returns 0 or -errno (-ESRCH: the process is gone; what was known stays usable). */
int symbolizer__refresh(struct symbolizer *sym);
/* Symbolizes one address. addr is the address to look up: callers pass pc - 1 for return
 * addresses (see samples.h). An address of frame.h's synthetic range gets its name, no mapping.
 * Returns 0 (ret filled, possibly nframes == 0) or -errno. */
int symbolizer__lookup(struct symbolizer *sym, uint64_t addr, struct sym_result *ret);
/* The executable mappings, main executable first, valid until the next refresh. */
int symbolizer__mappings(struct symbolizer *sym, const struct sym_mapping **ret, int *ret_n);
/* Turns the per-address result cache off or on (benchmarks measure the indexes alone with it
 * off). On by default. */
void symbolizer__set_result_cache(struct symbolizer *sym, bool on);

#endif
