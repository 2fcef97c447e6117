/* SPDX-License-Identifier: MIT */
/* Where functions start and end according to an ELF file's .eh_frame: one range per FDE
 * (its initial location and address range), the only function boundaries a stripped binary
 * still carries (strip --strip-all keeps .eh_frame, the unwinder needs it). symmod names
 * addresses that no symbol or DWARF names after the start of their FDE. Pure parsing of
 * bytes the caller holds; no state. */
#ifndef PROFD_EHFRAME_H
#define PROFD_EHFRAME_H

#include <stddef.h>
#include <stdint.h>

/* Bound on the ranges read from one file (a browser has ~10^6 functions): beyond it the rest
 * of the file's functions stay unnamed. 16 bytes each. */
#define EHFRAME_MAX_RANGES (1u << 21)

struct ehframe_range {
	uint64_t lo, hi; /* ELF virtual addresses, [lo, hi) */
};

/* Parses the .eh_frame bytes data[0, size), loaded at ELF address sec_addr, into ranges sorted
 * by lo, without empty or duplicate ones, at most max. Malformed input ends the parse where it
 * goes wrong: what was read before stays. Returns the number of ranges (*ret malloc'd, caller
 * frees; NULL when 0) or -errno (-EINVAL: bad arguments; -ENOMEM). */
int ehframe_parse(const uint8_t *data, size_t size, uint64_t sec_addr, size_t max, struct ehframe_range **ret);

/* The range holding addr in r[0, n) (sorted as ehframe_parse gives them), or NULL. */
const struct ehframe_range *ehframe_find(const struct ehframe_range *r, size_t n, uint64_t addr);

#endif
