// SPDX-License-Identifier: MIT
/* Fuzzes dwarfscan (symbols/dwarfscan.c), the raw reader of .debug_info, with mutated ELF files
 * opened as the symbolizer opens them (dwarfload's image, or libdw on the file as it is). For
 * every compile unit: the subprograms, flat and through C++ scopes, and the inlined calls inside
 * each. What dwarfscan hands back must be what libdw sees at the same place: a DIE with the tag
 * it was reported as, and for a [lo, hi) range, libdw's low and high pc. */
#include <dwarf.h>
#include <errno.h>

#include "fuzz_util.h"
#include "symbols/dwarfload.h"
#include "symbols/dwarfscan.h"

#define MAX_UNITS 64
#define MAX_FUNCS 64 /* per unit, whose inlined calls are walked */

struct found {
	Dwarf_Die funcs[MAX_FUNCS];
	int n, total;
};

static void check_pc(Dwarf_Die *die, const struct dwarfscan_pc *pc)
{
	Dwarf_Addr lo, hi;

	CHECK(pc->kind == DWARFSCAN_PC_NONE || pc->kind == DWARFSCAN_PC_RANGE || pc->kind == DWARFSCAN_PC_ASK_LIBDW,
	      "pc kind");
	if (pc->kind != DWARFSCAN_PC_RANGE)
		return;
	CHECK(dwarf_lowpc(die, &lo) == 0 && lo == pc->lo, "low pc is not libdw's");
	CHECK(dwarf_highpc(die, &hi) == 0 && hi == pc->hi, "high pc is not libdw's");
}

static int on_func(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg)
{
	struct found *f = arg;

	CHECK(dwarf_tag(die) == DW_TAG_subprogram, "a subprogram that libdw reads as another tag");
	check_pc(die, pc);
	if (f->n < MAX_FUNCS)
		f->funcs[f->n++] = *die;
	return ++f->total > 100000 ? -E2BIG : 0;
}

static int on_inline(Dwarf_Die *die, const struct dwarfscan_pc *pc, int parent, int depth, int *ret_parent, void *arg)
{
	int *count = arg;

	CHECK(dwarf_tag(die) == DW_TAG_inlined_subroutine, "an inlined call that libdw reads as another tag");
	CHECK(depth >= 0 && depth < 64 && parent >= -1, "inline depth or parent");
	check_pc(die, pc);
	*ret_parent = *count; /* descend, as the symbolizer does */
	return ++*count > 100000 ? -E2BIG : 0;
}

static void scan(Dwarf *dw)
{
	struct dwarfscan s;
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, subdie;
	Dwarf_Half version;
	uint8_t unit_type;
	int units = 0;

	if (dwarfscan_init(dw, &s) != 0)
		return;
	while (units++ < MAX_UNITS && dwarf_get_units(dw, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
		if (unit_type != DW_UT_compile)
			continue;
		for (int nested = 0; nested < 2; nested++) {
			struct found f = { .n = 0 };
			int err = dwarfscan_subprograms(&s, &cudie, nested, 16, on_func, &f);

			CHECK(err == 0 || err == -EINVAL || err == -ENOMEM || err == -E2BIG, "subprograms: error");
			for (int i = 0; i < f.n; i++) {
				int count = 0;

				err = dwarfscan_inlines(&s, &cudie, &f.funcs[i], 64, on_inline, &count);
				CHECK(err == 0 || err == -EINVAL || err == -ENOMEM || err == -E2BIG, "inlines: error");
			}
		}
	}
	dwarfscan_free(&s);
	dwarfscan_free(&s); /* again: a no-op */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	struct dwarfload dl;
	Dwarf *dw = NULL;
	Elf *elf;

	CHECK(copy, "malloc");
	memcpy(copy, data, size);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, size);
	if (elf && dwarfload_open(elf, "/nonexistent/dir/fuzz", 8u << 20, &dl) == 0) {
		scan(dl.dwarf);
		dwarfload_close(&dl);
	} else if (elf && (dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL))) {
		scan(dw);
		dwarf_end(dw);
	}
	if (elf)
		elf_end(elf);
	free(copy);
	return 0;
}
