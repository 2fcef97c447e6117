/* SPDX-License-Identifier: MIT */
/* A reader of raw .debug_info bytes that finds a compile unit's subprogram DIEs without asking
 * libdw about each DIE on the way. libdw 0.188 takes a lock and a hash lookup per DIE, and a
 * unit's top level is mostly types: on libc that was most of the time spent indexing a unit.
 * Only the walk is ours; the DIEs found are handed back as libdw DIEs, which libdw then reads.
 * Not thread-safe by itself (libdw is not): callers hold the symbol cache lock. */
#ifndef PROFD_DWARFSCAN_H
#define PROFD_DWARFSCAN_H
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bytes of .debug_info and .debug_abbrev, borrowed from libdw (valid while dw lives). */
struct dwarfscan {
	const uint8_t *info, *abbrev;
	size_t info_size, abbrev_size;
	struct dwarfscan_unit *last;   /* the last unit's decoded abbreviations, reused for the same unit */
};

/* Finds dw's sections. Returns 0, or -ENODATA when either is missing or still compressed. */
int dwarfscan_init(Dwarf *dw, struct dwarfscan *ret);
/* Frees what the calls below kept (NULL-safe); s can be used again. */
void dwarfscan_free(struct dwarfscan *s);

/* The DIEs every walk for functions looks into (so that the raw walks here and the libdw walks
 * they fall back to agree): scopes that may hold C++ member functions, and blocks, which are
 * transparent for inlined calls. */
static inline bool dwarfscan_is_scope(unsigned tag)
{
	return tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
	       tag == DW_TAG_union_type;
}

static inline bool dwarfscan_is_block(unsigned tag)
{
	return tag == DW_TAG_lexical_block || tag == DW_TAG_try_block || tag == DW_TAG_catch_block;
}

/* A subprogram's (or inlined call's) code, as far as its attributes say without libdw: no code attributes at all (a
 * declaration or an inline-only function: nothing to index), one range [lo, hi) from DW_AT_low_pc/DW_AT_high_pc, or forms
 * this reader leaves to libdw (DW_AT_ranges, addrx, entry_pc): ask dwarf_ranges(). */
enum dwarfscan_pc_kind { DWARFSCAN_PC_NONE, DWARFSCAN_PC_RANGE, DWARFSCAN_PC_ASK_LIBDW };
struct dwarfscan_pc {
	enum dwarfscan_pc_kind kind;
	uint64_t lo, hi;
};

/* Calls found(die, pc, arg) for every DW_TAG_subprogram among the children of cudie, and, when
 * nested, among the children of namespaces, classes, structures and unions inside them, up to
 * max_depth levels (C++ member functions). found returns 0 to go on or a negative errno to stop,
 * which is returned. Returns 0, or -EINVAL when the unit holds something this reader does not
 * understand (an unknown form, a malformed or truncated entry): the caller then walks the unit
 * with libdw, which gives the same DIEs, slower. */
int dwarfscan_subprograms(struct dwarfscan *s, Dwarf_Die *cudie, bool nested, int max_depth,
			  int (*found)(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg), void *arg);

/* Calls found(die, pc, parent, depth, &next, arg) for every DW_TAG_inlined_subroutine below fn
 * (a subprogram DIE of cudie's unit), looking through lexical, try and catch blocks, as far as
 * max_depth calls deep. parent and depth are the caller's: -1 and 0 for calls made directly in
 * fn. found sets *next (it starts at -1) to the parent to hand to the calls inside this one, or
 * leaves it at -1 to skip them; it returns 0 or a negative errno that stops the walk and is
 * returned. Returns 0 or -EINVAL as dwarfscan_subprograms(). */
int dwarfscan_inlines(struct dwarfscan *s, Dwarf_Die *cudie, Dwarf_Die *fn, int max_depth,
		      int (*found)(Dwarf_Die *die, const struct dwarfscan_pc *pc, int parent, int depth,
				   int *ret_parent, void *arg),
		      void *arg);

#endif
