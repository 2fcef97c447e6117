/* SPDX-License-Identifier: MIT */
/* Kernel symbols from /proc/kallsyms as a sorted, immutable index (text symbols only). The parser
 * is pure; an index is reference counted so that names handed out stay valid while a holder keeps
 * it. Immutable after parsing, so lookups need no lock; get/put are atomic. */
#ifndef PROFD_KALLSYMS_H
#define PROFD_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

/* Bounds on what we accept from the file (a distribution kernel has about 200k text symbols). */
#define KALLSYMS_MAX_SYMS (1u << 21)
#define KALLSYMS_MAX_TEXT (256u << 20)

struct kallsyms;

/* Parses kallsyms text. Returns 0 and a new index (refcount 1) in *ret, or -EINVAL (no usable
 * line), -ENOENT (all addresses are zero: kptr_restrict hides them), -E2BIG, -ENOMEM. */
int kallsyms_parse(const char *text, size_t len, struct kallsyms **ret);
/* Reads and parses /proc/kallsyms. Returns 0 or -errno as above (-EACCES etc. from open). */
int kallsyms_load(struct kallsyms **ret);
struct kallsyms *kallsyms__get(struct kallsyms *ks); /* adds a reference, returns ks */
void kallsyms__put(struct kallsyms *ks);             /* NULL-safe; frees at the last reference */
/* The symbol containing addr (the closest one at or below it, within the text range).
 * Returns its name (borrowed, valid while the reference is held) or NULL; *ret_start is set to
 * the symbol's address when not NULL. */
const char *kallsyms__lookup(const struct kallsyms *ks, uint64_t addr, uint64_t *ret_start);
/* The address range covered: [*ret_lo, *ret_hi). */
void kallsyms__range(const struct kallsyms *ks, uint64_t *ret_lo, uint64_t *ret_hi);

#endif
