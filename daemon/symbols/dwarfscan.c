// SPDX-License-Identifier: MIT
/* Finds a compile unit's subprogram DIEs by reading .debug_info directly: the unit's
 * abbreviation table is decoded once into an array indexed by code, then each DIE costs a ULEB
 * and a skip over its attribute values (or a jump to its DW_AT_sibling). libdw does the same
 * walk with a locked hash lookup per DIE. Every read is bounded by the unit's end; anything
 * unexpected returns -EINVAL so that the caller walks the unit with libdw instead. */
#include <dwarf.h>
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/dwarfscan.h"

#define MAX_ABBREV_CODE 65536 /* codes are dense from 1: GCC's tables have a few hundred */
#define MAX_SKIP_LEVEL 4096   /* DIE nesting inside a skipped entry */

struct abbrev {
	uint32_t tag;         /* 0: no entry with this code */
	uint32_t first;       /* index of its first attribute in unit.specs */
	uint32_t nspecs;
	bool children;
};

struct spec {
	uint16_t name, form;
};

struct dwarfscan_unit {
	const uint8_t *start, *end; /* the unit, header included */
	uint8_t address_size, offset_size;
	Dwarf_Half version;
	struct abbrev *abbrevs;     /* indexed by code */
	size_t nabbrevs;
	struct spec *specs;
	size_t nspecs, specs_cap;
	Dwarf_Die template;         /* the unit's DIE: what a found DIE copies its unit from */
	bool nested;
	int max_depth;
	int (*found)(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg);
	int (*found_inline)(Dwarf_Die *die, const struct dwarfscan_pc *pc, int parent, int depth, int *ret_parent,
			    void *arg);
	void *arg;
};

#define MAX_NESTING 256 /* recursion into blocks and scopes */

int dwarfscan_init(Dwarf *dw, struct dwarfscan *ret)
{
	Elf *elf = dwarf_getelf(dw);
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Ehdr eh;

	memset(ret, 0, sizeof(*ret));
	if (!elf || !gelf_getehdr(elf, &eh) || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return -ENODATA;
	if (eh.e_ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB))
		return -ENODATA;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		if (strcmp(name, ".debug_info") && strcmp(name, ".debug_abbrev"))
			continue;
		if ((sh.sh_flags & SHF_COMPRESSED) || sh.sh_type == SHT_NOBITS || !(data = elf_getdata(scn, NULL)) ||
		    !data->d_buf)
			return -ENODATA;
		if (!strcmp(name, ".debug_info") && !ret->info) {
			ret->info = data->d_buf;
			ret->info_size = data->d_size;
		} else if (!strcmp(name, ".debug_abbrev") && !ret->abbrev) {
			ret->abbrev = data->d_buf;
			ret->abbrev_size = data->d_size;
		}
	}
	return ret->info && ret->abbrev ? 0 : -ENODATA;
}

static bool uleb(const uint8_t **pp, const uint8_t *end, uint64_t *ret)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;

	while (p < end && shift < 64) {
		uint8_t b = *p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*ret = v;
			return true;
		}
		shift += 7;
	}
	return false;
}

static int parse_abbrevs(struct dwarfscan_unit *u, const uint8_t *p, const uint8_t *end)
{
	for (;;) {
		uint64_t code, tag, name, form, skip;
		struct abbrev *a;

		if (!uleb(&p, end, &code))
			return -EINVAL;
		if (code == 0)
			return 0;
		if (code >= MAX_ABBREV_CODE || !uleb(&p, end, &tag) || !tag || tag > UINT32_MAX || p >= end)
			return -EINVAL;
		if (code >= u->nabbrevs) {
			size_t ncap = u->nabbrevs ? u->nabbrevs : 64;
			struct abbrev *na;

			while (ncap <= code)
				ncap *= 2;
			na = realloc(u->abbrevs, ncap * sizeof(*na));
			if (!na)
				return -ENOMEM;
			memset(na + u->nabbrevs, 0, (ncap - u->nabbrevs) * sizeof(*na));
			u->abbrevs = na;
			u->nabbrevs = ncap;
		}
		a = &u->abbrevs[code];
		if (a->tag) /* a code defined twice */
			return -EINVAL;
		a->tag = (uint32_t)tag;
		a->children = *p++ == DW_CHILDREN_yes;
		a->first = (uint32_t)u->nspecs;
		for (;;) {
			if (!uleb(&p, end, &name) || !uleb(&p, end, &form))
				return -EINVAL;
			if (!name && !form)
				break;
			if (form == DW_FORM_implicit_const && !uleb(&p, end, &skip)) /* SLEB: same bytes */
				return -EINVAL;
			if (name > UINT16_MAX || form > UINT16_MAX)
				return -EINVAL;
			if (u->nspecs == u->specs_cap) {
				size_t ncap = u->specs_cap ? u->specs_cap * 2 : 512;
				struct spec *ns = realloc(u->specs, ncap * sizeof(*ns));

				if (!ns)
					return -ENOMEM;
				u->specs = ns;
				u->specs_cap = ncap;
			}
			u->specs[u->nspecs++] = (struct spec){ .name = (uint16_t)name, .form = (uint16_t)form };
		}
		a->nspecs = (uint32_t)(u->nspecs - a->first);
	}
}

/* Moves *pp past one attribute value; fixed-size and ULEB values are also returned (the
 * sibling reference needs them). */
static bool skip_value(const struct dwarfscan_unit *u, unsigned form, const uint8_t **pp, uint64_t *ret_val, int depth)
{
	const uint8_t *p = *pp, *end = u->end;
	uint64_t n = 0;
	size_t size;

	switch (form) {
	case DW_FORM_flag_present:
	case DW_FORM_implicit_const:
		return true;
	case DW_FORM_data1:
	case DW_FORM_ref1:
	case DW_FORM_flag:
	case DW_FORM_strx1:
	case DW_FORM_addrx1:
		size = 1;
		break;
	case DW_FORM_data2:
	case DW_FORM_ref2:
	case DW_FORM_strx2:
	case DW_FORM_addrx2:
		size = 2;
		break;
	case DW_FORM_strx3:
	case DW_FORM_addrx3:
		size = 3;
		break;
	case DW_FORM_data4:
	case DW_FORM_ref4:
	case DW_FORM_strx4:
	case DW_FORM_addrx4:
	case DW_FORM_ref_sup4:
		size = 4;
		break;
	case DW_FORM_data8:
	case DW_FORM_ref8:
	case DW_FORM_ref_sig8:
	case DW_FORM_ref_sup8:
		size = 8;
		break;
	case DW_FORM_data16:
		size = 16;
		break;
	case DW_FORM_addr:
		size = u->address_size;
		break;
	case DW_FORM_ref_addr:
		size = u->version == 2 ? u->address_size : u->offset_size;
		break;
	case DW_FORM_strp:
	case DW_FORM_sec_offset:
	case DW_FORM_line_strp:
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_ref_alt:
	case DW_FORM_GNU_strp_alt:
		size = u->offset_size;
		break;
	case DW_FORM_udata:
	case DW_FORM_sdata: /* skipped like a ULEB: same byte structure */
	case DW_FORM_ref_udata:
	case DW_FORM_strx:
	case DW_FORM_addrx:
	case DW_FORM_loclistx:
	case DW_FORM_rnglistx:
	case DW_FORM_GNU_addr_index:
	case DW_FORM_GNU_str_index:
		if (!uleb(&p, end, &n))
			return false;
		*pp = p;
		*ret_val = n;
		return true;
	case DW_FORM_string: {
		const uint8_t *z = memchr(p, 0, (size_t)(end - p));

		if (!z)
			return false;
		*pp = z + 1;
		return true;
	}
	case DW_FORM_block1:
		if (end - p < 1)
			return false;
		size = 1 + (size_t)p[0];
		break;
	case DW_FORM_block2: {
		uint16_t len;

		if (end - p < 2)
			return false;
		memcpy(&len, p, 2);
		size = 2 + (size_t)len;
		break;
	}
	case DW_FORM_block4: {
		uint32_t len;

		if (end - p < 4)
			return false;
		memcpy(&len, p, 4);
		size = 4 + (size_t)len;
		break;
	}
	case DW_FORM_block:
	case DW_FORM_exprloc:
		if (!uleb(&p, end, &n) || n > (uint64_t)(end - p))
			return false;
		size = (size_t)n;
		break;
	case DW_FORM_indirect:
		if (depth > 0 || !uleb(&p, end, &n) || n > UINT16_MAX)
			return false;
		*pp = p;
		return skip_value(u, (unsigned)n, pp, ret_val, depth + 1);
	default:
		return false;
	}
	if ((size_t)(end - p) < size)
		return false;
	if (size == 1 || size == 2 || size == 4 || size == 8) {
		n = 0;
		memcpy(&n, p, size); /* little-endian host and file: dwarfscan_init checked */
		*ret_val = n;
	}
	*pp = p + size;
	return true;
}

/* What the code range attributes of a subprogram say, from their forms and values. An attribute
 * given twice counts once, the first time, as libdw's dwarf_attr() reads it (fuzz_dwarfscan
 * found a DIE with two DW_AT_high_pc whose range differed from libdw's). */
static void note_pc(struct dwarfscan_pc *pc, const struct spec *sp, uint64_t v, bool *lo_seen, bool *hi_seen,
		    bool *hi_offset, unsigned *named)
{
	unsigned bit = sp->name == DW_AT_low_pc ? 1 : sp->name == DW_AT_high_pc ? 2 : 0;

	if (bit && (*named & bit))
		return;
	*named |= bit;
	switch (sp->name) {
	case DW_AT_low_pc:
		if (sp->form == DW_FORM_addr) {
			pc->lo = v;
			*lo_seen = true;
		} else {
			pc->kind = DWARFSCAN_PC_ASK_LIBDW; /* addrx: an index into .debug_addr */
		}
		break;
	case DW_AT_high_pc:
		if (sp->form == DW_FORM_addr) {
			pc->hi = v;
			*hi_seen = true;
		} else if (sp->form == DW_FORM_data1 || sp->form == DW_FORM_data2 || sp->form == DW_FORM_data4 ||
			   sp->form == DW_FORM_data8 || sp->form == DW_FORM_udata) {
			pc->hi = v;
			*hi_seen = *hi_offset = true;
		} else {
			pc->kind = DWARFSCAN_PC_ASK_LIBDW;
		}
		break;
	case DW_AT_ranges:
		pc->kind = DWARFSCAN_PC_ASK_LIBDW;
		break;
	default:
		break;
	}
}

/* Reads the entry at *pp. Returns 1 for a DIE (its abbreviation and the sibling it names, or
 * NULL), 0 for the null entry that ends a list of siblings, -EINVAL for anything malformed.
 * With pc, a subprogram's code range is decoded too. */
static int read_die(const struct dwarfscan_unit *u, const uint8_t **pp, const struct abbrev **ret_ab,
		    const uint8_t **ret_sibling, struct dwarfscan_pc *pc)
{
	bool lo_seen = false, hi_seen = false, hi_offset = false;
	unsigned named = 0;
	const struct abbrev *ab;
	uint64_t code;

	if (!uleb(pp, u->end, &code))
		return -EINVAL;
	if (code == 0)
		return 0;
	if (code >= u->nabbrevs || !u->abbrevs[code].tag)
		return -EINVAL;
	ab = &u->abbrevs[code];
	*ret_sibling = NULL;
	if (pc && ab->tag != DW_TAG_subprogram && ab->tag != DW_TAG_inlined_subroutine)
		pc = NULL;
	if (pc)
		*pc = (struct dwarfscan_pc){ .kind = DWARFSCAN_PC_NONE };
	for (uint32_t i = 0; i < ab->nspecs; i++) {
		const struct spec *sp = &u->specs[ab->first + i];
		uint64_t v = 0;

		if (!skip_value(u, sp->form, pp, &v, 0))
			return -EINVAL;
		if (pc)
			note_pc(pc, sp, v, &lo_seen, &hi_seen, &hi_offset, &named);
		if (sp->name == DW_AT_sibling && (sp->form == DW_FORM_ref1 || sp->form == DW_FORM_ref2 ||
						  sp->form == DW_FORM_ref4 || sp->form == DW_FORM_ref8 ||
						  sp->form == DW_FORM_ref_udata)) {
			if (v >= (uint64_t)(u->end - u->start))
				return -EINVAL;
			*ret_sibling = u->start + v;
		}
	}
	/* a sibling before the end of this entry would walk in circles */
	if (*ret_sibling && *ret_sibling < *pp)
		return -EINVAL;
	if (pc && pc->kind == DWARFSCAN_PC_NONE && (lo_seen || hi_seen)) {
		if (!lo_seen || !hi_seen) {
			pc->kind = DWARFSCAN_PC_ASK_LIBDW;
		} else {
			if (hi_offset)
				pc->hi += pc->lo;
			pc->kind = DWARFSCAN_PC_RANGE;
		}
	}
	*ret_ab = ab;
	return 1;
}

/* Moves *pp past the children of the entry just read (its list and their descendants). */
static int skip_children(const struct dwarfscan_unit *u, const uint8_t **pp)
{
	int level = 1;

	while (level > 0) {
		const struct abbrev *ab;
		const uint8_t *sib;
		int r = read_die(u, pp, &ab, &sib, NULL);

		if (r < 0)
			return r;
		if (r == 0)
			level--;
		else if (sib)
			*pp = sib;
		else if (ab->children && ++level > MAX_SKIP_LEVEL)
			return -EINVAL;
	}
	return 0;
}

/* Walks one list of siblings starting at *pp, up to and past its null entry. */
static int walk_level(const struct dwarfscan_unit *u, const uint8_t **pp, int depth)
{
	for (;;) {
		const uint8_t *die = *pp, *sib;
		const struct abbrev *ab;
		struct dwarfscan_pc pc;
		int r = read_die(u, pp, &ab, &sib, &pc);

		if (r <= 0)
			return r;
		if (ab->tag == DW_TAG_subprogram) {
			Dwarf_Die d = u->template;

			d.addr = (void *)die;
			d.abbrev = NULL; /* libdw looks it up when asked */
			r = u->found(&d, &pc, u->arg);
			if (r)
				return r;
		}
		if (!ab->children)
			continue;
		if (u->nested && depth < u->max_depth && dwarfscan_is_scope(ab->tag))
			r = walk_level(u, pp, depth + 1);
		else if (sib)
			*pp = sib;
		else
			r = skip_children(u, pp);
		if (r < 0)
			return r;
	}
}

/* Sets up u for the unit of cudie: its bounds and its abbreviations (kept from the previous
 * call when it was the same unit: a unit's functions are often looked at one after another). */
static int unit_open(struct dwarfscan *s, Dwarf_Die *cudie, struct dwarfscan_unit *u)
{
	Dwarf_Off die_off = dwarf_dieoffset(cudie), unit_rel = dwarf_cuoffset(cudie), abbrev_off;
	uint8_t address_size, offset_size;
	Dwarf_Die tmp;
	uint32_t len32;
	uint64_t len;

	u->template = *cudie;
	if (die_off == (Dwarf_Off)-1 || unit_rel == (Dwarf_Off)-1 || unit_rel > die_off || die_off >= s->info_size ||
	    (const uint8_t *)cudie->addr != s->info + die_off)
		return -EINVAL;
	if (!dwarf_cu_die(cudie->cu, &tmp, &u->version, &abbrev_off, &address_size, &offset_size, NULL, NULL) ||
	    abbrev_off >= s->abbrev_size || (address_size != 4 && address_size != 8) ||
	    (offset_size != 4 && offset_size != 8))
		return -EINVAL;
	u->address_size = address_size;
	u->offset_size = offset_size;
	u->start = s->info + (die_off - unit_rel);
	if ((size_t)(s->info + s->info_size - u->start) < 4)
		return -EINVAL;
	memcpy(&len32, u->start, 4);
	if (len32 == 0xffffffffu) {
		if ((size_t)(s->info + s->info_size - u->start) < 12)
			return -EINVAL;
		memcpy(&len, u->start + 4, 8);
		len += 12;
	} else if (len32 >= 0xfffffff0u) {
		return -EINVAL;
	} else {
		len = (uint64_t)len32 + 4;
	}
	if (len > (uint64_t)(s->info + s->info_size - u->start) || (const uint8_t *)cudie->addr >= u->start + len)
		return -EINVAL;
	u->end = u->start + len;
	if (s->last && s->last->start == u->start) {
		u->abbrevs = s->last->abbrevs;
		u->nabbrevs = s->last->nabbrevs;
		u->specs = s->last->specs;
		u->nspecs = s->last->nspecs;
		u->specs_cap = s->last->specs_cap;
		return 0;
	}
	return parse_abbrevs(u, s->abbrev + abbrev_off, s->abbrev + s->abbrev_size);
}

/* Keeps u's abbreviations for the next call (or frees them after a failure). */
static void unit_close(struct dwarfscan *s, struct dwarfscan_unit *u, int err)
{
	if (s->last && s->last->abbrevs == u->abbrevs)
		return; /* they came from the cache */
	if (err || !u->start || (!s->last && !(s->last = calloc(1, sizeof(*s->last))))) {
		free(u->abbrevs);
		free(u->specs);
		return;
	}
	free(s->last->abbrevs);
	free(s->last->specs);
	*s->last = *u;
}

void dwarfscan_free(struct dwarfscan *s)
{
	if (!s || !s->last)
		return;
	free(s->last->abbrevs);
	free(s->last->specs);
	free(s->last);
	s->last = NULL;
}

int dwarfscan_subprograms(struct dwarfscan *s, Dwarf_Die *cudie, bool nested, int max_depth,
			  int (*found)(Dwarf_Die *die, const struct dwarfscan_pc *pc, void *arg), void *arg)
{
	struct dwarfscan_unit u = { .nested = nested, .max_depth = max_depth < MAX_NESTING ? max_depth : MAX_NESTING,
			  .found = found, .arg = arg };
	Dwarf_Die child;
	const uint8_t *p;
	int err;

	if (dwarf_child(cudie, &child) != 0)
		return 0;
	err = unit_open(s, cudie, &u);
	if (!err && ((const uint8_t *)child.addr <= (const uint8_t *)cudie->addr ||
		     (const uint8_t *)child.addr >= u.end))
		err = -EINVAL;
	if (!err) {
		p = child.addr;
		err = walk_level(&u, &p, 0);
	}
	unit_close(s, &u, err != 0);
	return err;
}

/* The inlined calls among the entries from *pp to the end of their list; blocks are transparent
 * (their inlined calls belong to the enclosing one). nesting bounds the recursion. */
static int walk_inlines(const struct dwarfscan_unit *u, const uint8_t **pp, int parent, int depth, int nesting)
{
	if (nesting > MAX_NESTING)
		return -EINVAL;
	for (;;) {
		const uint8_t *die = *pp, *sib;
		const struct abbrev *ab;
		struct dwarfscan_pc pc;
		int r = read_die(u, pp, &ab, &sib, &pc), next = -1;

		if (r <= 0)
			return r;
		if (ab->tag == DW_TAG_inlined_subroutine) {
			Dwarf_Die d = u->template;

			d.addr = (void *)die;
			d.abbrev = NULL;
			r = u->found_inline(&d, &pc, parent, depth, &next, u->arg);
			if (r)
				return r;
		}
		if (!ab->children)
			continue;
		if (ab->tag == DW_TAG_inlined_subroutine && next >= 0 && depth + 1 < u->max_depth)
			r = walk_inlines(u, pp, next, depth + 1, nesting + 1);
		else if (dwarfscan_is_block(ab->tag) && depth < u->max_depth)
			r = walk_inlines(u, pp, parent, depth, nesting + 1);
		else if (sib)
			*pp = sib;
		else
			r = skip_children(u, pp);
		if (r < 0)
			return r;
	}
}

int dwarfscan_inlines(struct dwarfscan *s, Dwarf_Die *cudie, Dwarf_Die *fn, int max_depth,
		      int (*found)(Dwarf_Die *die, const struct dwarfscan_pc *pc, int parent, int depth,
				   int *ret_parent, void *arg),
		      void *arg)
{
	struct dwarfscan_unit u = { .max_depth = max_depth, .found_inline = found, .arg = arg };
	const struct abbrev *ab;
	const uint8_t *p, *sib;
	int err;

	err = unit_open(s, cudie, &u);
	p = fn->addr;
	if (!err && (p <= (const uint8_t *)cudie->addr || p >= u.end))
		err = -EINVAL;
	if (!err && read_die(&u, &p, &ab, &sib, NULL) != 1)
		err = -EINVAL;
	if (!err && ab->children && max_depth > 0)
		err = walk_inlines(&u, &p, -1, 0, 0);
	unit_close(s, &u, err != 0);
	return err;
}
