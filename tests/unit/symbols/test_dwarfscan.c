// SPDX-License-Identifier: MIT
/* dwarfscan: on real debug info (the test programs, C, C++ and Rust; libc6-dbg's libc) it finds
 * exactly the subprogram DIEs, in the same order, that a walk with libdw finds, without ever
 * giving up on a unit; on damaged bytes it gives up (-EINVAL) instead of reading out of bounds. */
#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "targets.h"

#include "symbols/dwarfload.h"
#include "symbols/dwarfscan.h"

#define MAX_DEPTH 16
#define MAX_FOUND (1u << 20)

static char target_dir[4096];

struct found {
	Dwarf_Off *off;
	size_t n;
	size_t kinds[3]; /* by enum dwarfscan_pc_kind, while counting */
	bool counting;
};

static void push(struct found *f, Dwarf_Die *die)
{
	assert_true(f->n < MAX_FOUND);
	f->off[f->n++] = dwarf_dieoffset(die);
}

/* What dwarfscan says of a subprogram's code agrees with libdw's dwarf_ranges(). */
static int collect(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off;

	assert_int_equal(dwarf_tag(die), DW_TAG_subprogram); /* the DIE handed back reads as one */
	push(arg, die);
	if (((struct found *)arg)->counting)
		((struct found *)arg)->kinds[pc->kind]++;
	off = dwarf_ranges(die, 0, &base, &lo, &hi);
	if (pc->kind == DWARFSCAN_PC_NONE) {
		assert_true(off <= 0);
	} else if (pc->kind == DWARFSCAN_PC_RANGE) {
		assert_true(off > 0);
		assert_int_equal(lo, pc->lo);
		assert_int_equal(hi, pc->hi);
		assert_true(dwarf_ranges(die, off, &base, &lo, &hi) <= 0); /* one range only */
	}
	return 0;
}

/* The reference: the same walk, one libdw call per DIE. */
static void libdw_walk(Dwarf_Die *die, int depth, bool nested, struct found *f)
{
	Dwarf_Die child;

	if (dwarf_child(die, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_subprogram)
			push(f, &child);
		else if ((tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
			  tag == DW_TAG_union_type) && nested && depth < MAX_DEPTH)
			libdw_walk(&child, depth + 1, nested, f);
	} while (dwarf_siblingof(&child, &child) == 0);
}

/* One pushed range of an inlined call, as symmod's inline tables hold them. */
struct inl {
	Dwarf_Off off;
	uint64_t lo, hi;
	int parent, depth;
};

struct inls {
	struct inl v[65536];
	int n;
};

static int inl_add(struct inls *l, Dwarf_Die *die, uint64_t lo, uint64_t hi, int parent, int depth)
{
	assert_true(l->n < 65536);
	l->v[l->n++] = (struct inl){ .off = dwarf_dieoffset(die), .lo = lo, .hi = hi, .parent = parent, .depth = depth };
	return 0;
}

static void inl_ranges(struct inls *l, Dwarf_Die *die, int parent, int depth)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0)
		inl_add(l, die, lo, hi, parent, depth + 1);
}

/* The reference: inlined calls below die with libdw, blocks transparent. */
static void libdw_inlines(struct inls *l, Dwarf_Die *die, int parent, int depth)
{
	Dwarf_Die child;

	if (depth >= MAX_DEPTH || dwarf_child(die, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child), first = l->n;

		if (tag == DW_TAG_inlined_subroutine) {
			inl_ranges(l, &child, parent, depth);
			if (l->n > first)
				libdw_inlines(l, &child, first, depth + 1);
		} else if (tag == DW_TAG_lexical_block || tag == DW_TAG_try_block || tag == DW_TAG_catch_block) {
			libdw_inlines(l, &child, parent, depth);
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

static int scan_inline(Dwarf_Die *die, const struct dwarfscan_pc *pc, int parent, int depth, int *next, void *arg)
{
	struct inls *l = arg;
	int first = l->n;

	if (pc->kind == DWARFSCAN_PC_RANGE)
		inl_add(l, die, pc->lo, pc->hi, parent, depth + 1);
	else if (pc->kind == DWARFSCAN_PC_ASK_LIBDW)
		inl_ranges(l, die, parent, depth);
	if (l->n > first)
		*next = first;
	return 0;
}

/* dwarfscan_inlines and the libdw walk agree on every function of the unit; returns how many
 * inlined ranges were compared. */
static size_t compare_inlines(struct dwarfscan *s, Dwarf_Die *cudie, const struct found *fns)
{
	static struct inls ours, ref;
	size_t total = 0;

	for (size_t i = 0; i < fns->n; i++) {
		Dwarf_Die fn;

		assert_non_null(dwarf_offdie(dwarf_cu_getdwarf(cudie->cu), fns->off[i], &fn));
		ours.n = ref.n = 0;
		assert_int_equal(dwarfscan_inlines(s, cudie, &fn, MAX_DEPTH, scan_inline, &ours), 0);
		libdw_inlines(&ref, &fn, -1, 0);
		assert_int_equal(ours.n, ref.n);
		for (int k = 0; k < ours.n; k++) {
			assert_int_equal(ours.v[k].off, ref.v[k].off);
			assert_int_equal(ours.v[k].lo, ref.v[k].lo);
			assert_int_equal(ours.v[k].hi, ref.v[k].hi);
			assert_int_equal(ours.v[k].parent, ref.v[k].parent);
			assert_int_equal(ours.v[k].depth, ref.v[k].depth);
		}
		total += (size_t)ours.n;
	}
	return total;
}

/* Compares both walks on every compile unit of dw, nested (as for C++) and not; returns the
 * number of subprograms found. */
static size_t compare_units(Dwarf *dw, const char *what)
{
	struct found ours = { .off = malloc(MAX_FOUND * sizeof(Dwarf_Off)) };
	struct found ref = { .off = malloc(MAX_FOUND * sizeof(Dwarf_Off)) };
	struct dwarfscan s;
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	Dwarf_Half version;
	uint8_t unit_type;
	size_t total = 0, units = 0, inlined = 0;

	assert_non_null(ours.off);
	assert_non_null(ref.off);
	assert_int_equal(dwarfscan_init(dw, &s), 0);
	while (dwarf_get_units(dw, cu, &cu, &version, &unit_type, &cudie, NULL) == 0) {
		if (unit_type != DW_UT_compile)
			continue;
		units++;
		for (int nested = 0; nested < 2; nested++) {
			ours.n = ref.n = 0;
			ours.counting = nested;
			assert_int_equal(dwarfscan_subprograms(&s, &cudie, nested, MAX_DEPTH, collect, &ours), 0);
			libdw_walk(&cudie, 0, nested, &ref);
			assert_int_equal(ours.n, ref.n);
			assert_memory_equal(ours.off, ref.off, ours.n * sizeof(Dwarf_Off));
			if (nested) {
				total += ours.n;
				inlined += compare_inlines(&s, &cudie, &ours);
			}
		}
	}
	dwarfscan_free(&s);
	fprintf(stderr, "%s: %zu units, %zu subprograms, same as libdw's walk; code ranges: %zu without code, "
		"%zu read directly, %zu left to libdw, all as libdw reads them; %zu inlined ranges, as libdw walks them\n",
		what, units, total, ours.kinds[DWARFSCAN_PC_NONE], ours.kinds[DWARFSCAN_PC_RANGE],
		ours.kinds[DWARFSCAN_PC_ASK_LIBDW], inlined);
	assert_true(ours.kinds[DWARFSCAN_PC_RANGE] > 0);
	free(ours.off);
	free(ref.off);
	return total;
}

static void check_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Dwarf *dw;

	assert_true(fd >= 0);
	dw = dwarf_begin(fd, DWARF_C_READ);
	assert_non_null(dw);
	assert_true(compare_units(dw, path) > 0);
	dwarf_end(dw);
	close(fd);
}

static void test_same_as_libdw(void **state)
{
	const char *names[] = { "sym_c_nofp", "sym_cpp", "sym_rust", "sym_c_static", "sym_dwz_c.debug" };
	char path[4200];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", target_dir, names[i]);
		if (access(path, R_OK) != 0) {
			fprintf(stderr, "%s not built, not compared\n", path);
			continue;
		}
		check_file(path);
	}
}

/* libc6-dbg's file for this machine's libc, by build id. */
static bool libc_debug_file(char *out, size_t len)
{
	int fd = open("/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY | O_CLOEXEC);
	const unsigned char *id;
	Elf *elf;
	ssize_t n;
	size_t k;

	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	n = elf ? dwelf_elf_gnu_build_id(elf, (const void **)&id) : -1;
	if (n > 1) {
		k = (size_t)snprintf(out, len, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (ssize_t i = 1; i < n && k + 3 < len; i++)
			k += (size_t)snprintf(out + k, len - k, "%02x", id[i]);
		snprintf(out + k, len - k, ".debug");
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return n > 1 && access(out, R_OK) == 0;
}

static void test_libc_debug_info(void **state)
{
	char dbg[4096];
	struct dwarfload dl;
	Elf *elf;
	int fd;

	if (!libc_debug_file(dbg, sizeof(dbg))) {
		fprintf(stderr, "SKIP test_libc_debug_info: libc6-dbg's libc debug file not found\n");
		skip();
	}
	fd = open(dbg, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(elf);
	assert_int_equal(dwarfload_open(elf, NULL, SIZE_MAX, &dl), 0);
	assert_true(compare_units(dl.dwarf, dbg) > 1000);
	dwarfload_close(&dl);
	elf_end(elf);
	close(fd);
}

static int count_only(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static int stop_early(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg)
{
	return -ECANCELED;
}

/* Every byte of the first unit's DIEs (after the unit's own DIE) flipped in turn: the reader
 * answers or gives up, and never reads outside the unit (run under SAN=address to see). */
static void test_damaged_units(void **state)
{
	char path[4200];
	struct dwarfload dl;
	struct dwarfscan s;
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, child;
	Dwarf_Half version;
	uint8_t unit_type, *p, *end;
	size_t gave_up = 0, answered = 0, n = 0;
	Elf *elf;
	int fd;

	snprintf(path, sizeof(path), "%s/sym_c_zstripped.debug", target_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	assert_int_equal(dwarfload_open(elf, NULL, SIZE_MAX, &dl), 0);
	assert_int_equal(dwarfscan_init(dl.dwarf, &s), 0);
	assert_int_equal(dwarf_get_units(dl.dwarf, cu, &cu, &version, &unit_type, &cudie, NULL), 0);
	assert_int_equal(dwarf_child(&cudie, &child), 0);
	/* a callback's error stops the walk and comes back */
	assert_int_equal(dwarfscan_subprograms(&s, &cudie, false, MAX_DEPTH, stop_early, NULL), -ECANCELED);
	p = child.addr;
	end = (uint8_t *)s.info + s.info_size;
	for (; p < end; p++) {
		for (int bit = 0; bit < 8; bit += 3) {
			int r;

			*p ^= (uint8_t)(1u << bit);
			n = 0;
			r = dwarfscan_subprograms(&s, &cudie, true, MAX_DEPTH, count_only, &n);
			*p ^= (uint8_t)(1u << bit);
			assert_true(r == 0 || r == -EINVAL);
			if (r)
				gave_up++;
			else
				answered++;
		}
	}
	fprintf(stderr, "damaged unit: gave up %zu times, answered %zu times\n", gave_up, answered);
	assert_true(gave_up > 0);
	/* the bytes are whole again: the walk succeeds */
	assert_int_equal(dwarfscan_subprograms(&s, &cudie, true, MAX_DEPTH, count_only, &n), 0);
	dwarfscan_free(&s);
	dwarfload_close(&dl);
	elf_end(elf);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_libdw),
		cmocka_unit_test(test_libc_debug_info),
		cmocka_unit_test(test_damaged_units),
	};

	elf_version(EV_CURRENT);
	test_target_path(target_dir, sizeof(target_dir), "sym");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
