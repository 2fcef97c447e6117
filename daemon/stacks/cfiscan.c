// SPDX-License-Identifier: MIT
/* Validation of .eh_frame/.debug_frame before libdw runs it (see cfiscan.h). Entries are listed
 * with libdw's own dwarf_next_cfi(); the instruction streams are decoded here, operands only. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stacks/cfiscan.h"

#define MAX_ENTRIES (1u << 20)

struct cie {
	uint64_t offset;
	int fde_enc;    /* pointer encoding of the FDEs' initial location (DW_EH_PE_*), -1 absptr */
	bool has_z;     /* FDEs carry a sized augmentation block */
};

struct scan {
	const uint8_t *start, *end; /* the section */
	bool eh;
	struct cie *cies;
	size_t ncies, cies_cap;
	uint64_t *fdes;             /* FDE offsets, ascending */
	size_t nfdes, fdes_cap;
};

static bool leb(const uint8_t **pp, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (*pp < end) {
		uint8_t b = *(*pp)++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (ret)
				*ret = v;
			return true;
		}
		if (shift > 70)
			return false;
	}
	return false;
}

/* Moves *pp past a pointer of encoding enc (its format only: the application is irrelevant). */
static bool skip_encoded(const uint8_t **pp, const uint8_t *end, int enc)
{
	size_t size;

	if (enc == DW_EH_PE_omit)
		return true;
	switch (enc & 0x0f) { /* the format; the application (pcrel, indirect...) does not change it */
	case DW_EH_PE_absptr: size = 8; break;
	case DW_EH_PE_udata2: case DW_EH_PE_sdata2: size = 2; break;
	case DW_EH_PE_udata4: case DW_EH_PE_sdata4: size = 4; break;
	case DW_EH_PE_udata8: case DW_EH_PE_sdata8: size = 8; break;
	case DW_EH_PE_uleb128: case DW_EH_PE_sleb128: return leb(pp, end, NULL);
	default: return false;
	}
	if ((size_t)(end - *pp) < size)
		return false;
	*pp += size;
	return true;
}

static bool reg_ok(const uint8_t **pp, const uint8_t *end)
{
	uint64_t reg;

	return leb(pp, end, &reg) && reg <= CFISCAN_MAX_REGNO;
}

/* Every instruction of [p, end) is one libdw executes, with registers in bounds. */
static bool instructions_ok(const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		uint8_t op = *p++;
		uint64_t len;

		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
		case DW_CFA_restore:
			continue; /* register in the low 6 bits: at most 63 */
		case DW_CFA_offset:
			if (!leb(&p, end, NULL))
				return false;
			continue;
		}
		switch (op) {
		case DW_CFA_nop: case DW_CFA_remember_state: case DW_CFA_restore_state: case DW_CFA_GNU_window_save:
			break;
		case DW_CFA_advance_loc1: case DW_CFA_advance_loc2: case DW_CFA_advance_loc4: {
			size_t n = op == DW_CFA_advance_loc1 ? 1 : op == DW_CFA_advance_loc2 ? 2 : 4;

			if ((size_t)(end - p) < n)
				return false;
			p += n;
			break;
		}
		case DW_CFA_restore_extended: case DW_CFA_undefined: case DW_CFA_same_value:
		case DW_CFA_def_cfa_register:
			if (!reg_ok(&p, end))
				return false;
			break;
		case DW_CFA_offset_extended: case DW_CFA_register: case DW_CFA_def_cfa: case DW_CFA_val_offset:
		case DW_CFA_offset_extended_sf: case DW_CFA_def_cfa_sf: case DW_CFA_val_offset_sf:
		case DW_CFA_GNU_negative_offset_extended:
			/* DW_CFA_register's second operand is a register too */
			if (!reg_ok(&p, end) || !(op == DW_CFA_register ? reg_ok(&p, end) : leb(&p, end, NULL)))
				return false;
			break;
		case DW_CFA_def_cfa_offset: case DW_CFA_def_cfa_offset_sf: case DW_CFA_GNU_args_size:
			if (!leb(&p, end, NULL))
				return false;
			break;
		case DW_CFA_def_cfa_expression:
			if (!leb(&p, end, &len) || len > (uint64_t)(end - p))
				return false;
			p += len;
			break;
		case DW_CFA_expression: case DW_CFA_val_expression:
			if (!reg_ok(&p, end) || !leb(&p, end, &len) || len > (uint64_t)(end - p))
				return false;
			p += len;
			break;
		default: /* DW_CFA_set_loc (its operand's size depends on the CIE) and anything unknown */
			return false;
		}
	}
	return true;
}

/* A CIE's FDE pointer encoding, from its augmentation ("zR", "zPLR", "zRS", or none). */
static bool cie_parse(const Dwarf_CIE *c, bool eh, struct cie *ret)
{
	const char *a = c->augmentation;
	const uint8_t *d = c->augmentation_data, *end = d ? d + c->augmentation_data_size : NULL;

	ret->fde_enc = DW_EH_PE_absptr;
	ret->has_z = a && a[0] == 'z';
	if (c->return_address_register > CFISCAN_MAX_REGNO || !a)
		return false;
	if (!a[0])
		return true;
	if (!ret->has_z || !d)
		return false; /* without 'z' the augmentation's size is a guess: refuse */
	for (a++; *a; a++) {
		switch (*a) {
		case 'R':
			if (d >= end)
				return false;
			ret->fde_enc = *d++;
			break;
		case 'L':
			if (d >= end)
				return false;
			d++;
			break;
		case 'P': {
			int enc;

			if (d >= end)
				return false;
			enc = *d++;
			if (!skip_encoded(&d, end, enc))
				return false;
			break;
		}
		case 'S':
			break;
		default:
			return false;
		}
	}
	return true;
}

static const struct cie *cie_find(const struct scan *s, uint64_t offset)
{
	for (size_t i = 0; i < s->ncies; i++)
		if (s->cies[i].offset == offset)
			return &s->cies[i];
	return NULL;
}

/* Lists the entries: CIEs checked and kept, FDE offsets kept. Returns false on anything odd. */
static bool list_entries(struct scan *s, Elf_Data *data, const unsigned char *ident)
{
	Dwarf_Off off = 0, next;
	size_t n = 0;

	for (;;) {
		Dwarf_CFI_Entry e;
		int rc = dwarf_next_cfi(ident, data, s->eh, off, &next, &e);

		if (rc == 1)
			return true;
		if (rc != 0 || next <= off || ++n > MAX_ENTRIES)
			return false;
		if (dwarf_cfi_cie_p(&e)) {
			struct cie c = { .offset = off };

			if (!cie_parse(&e.cie, s->eh, &c) ||
			    !instructions_ok(e.cie.initial_instructions, e.cie.initial_instructions_end))
				return false;
			if (s->ncies == s->cies_cap) {
				size_t ncap = s->cies_cap ? 2 * s->cies_cap : 16;
				struct cie *v = realloc(s->cies, ncap * sizeof(*v));

				if (!v)
					return false;
				s->cies = v;
				s->cies_cap = ncap;
			}
			s->cies[s->ncies++] = c;
		} else {
			if (s->nfdes == s->fdes_cap) {
				size_t ncap = s->fdes_cap ? 2 * s->fdes_cap : 256;
				uint64_t *v = realloc(s->fdes, ncap * sizeof(*v));

				if (!v)
					return false;
				s->fdes = v;
				s->fdes_cap = ncap;
			}
			s->fdes[s->nfdes++] = off;
		}
		off = next;
	}
}

/* Every FDE's instructions, found past its location, range and augmentation as its CIE says. */
static bool fdes_ok(const struct scan *s, Elf_Data *data, const unsigned char *ident)
{
	for (size_t i = 0; i < s->nfdes; i++) {
		Dwarf_Off next;
		Dwarf_CFI_Entry e;
		const struct cie *c;
		const uint8_t *p, *end;
		uint64_t len;

		if (dwarf_next_cfi(ident, data, s->eh, s->fdes[i], &next, &e) != 0 || dwarf_cfi_cie_p(&e) ||
		    !(c = cie_find(s, e.fde.CIE_pointer)))
			return false;
		p = e.fde.start;
		end = e.fde.end;
		/* initial location, then the range in the same format */
		if (c->fde_enc == DW_EH_PE_omit || !skip_encoded(&p, end, c->fde_enc) ||
		    !skip_encoded(&p, end, c->fde_enc & 0x0f))
			return false;
		if (c->has_z && (!leb(&p, end, &len) || len > (uint64_t)(end - p)))
			return false;
		if (c->has_z)
			p += len;
		if (!instructions_ok(p, end))
			return false;
	}
	return true;
}

static bool fde_listed(const struct scan *s, uint64_t off)
{
	size_t lo = 0, hi = s->nfdes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->fdes[mid] == off)
			return true;
		if (s->fdes[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* libdw searches .eh_frame through .eh_frame_hdr's table (datarel sdata4 pairs): every FDE it
 * names must be one of the entries checked. Other table encodings are refused. */
static bool hdr_ok(const struct scan *s, Elf_Data *hdr, uint64_t hdr_vaddr, uint64_t eh_vaddr)
{
	const uint8_t *p = hdr->d_buf, *end = p + hdr->d_size;
	uint32_t count;

	if (hdr->d_size < 4 || p[0] != 1)
		return false;
	if (p[3] == DW_EH_PE_omit)
		return true; /* no table: libdw walks the entries, all checked */
	if (p[1] != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) || p[2] != DW_EH_PE_udata4 ||
	    p[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || hdr->d_size < 12)
		return false;
	memcpy(&count, p + 8, 4);
	p += 12;
	if ((uint64_t)count * 8 > (uint64_t)(end - p))
		return false;
	for (uint32_t i = 0; i < count; i++, p += 8) {
		int32_t rel;

		memcpy(&rel, p + 4, 4);
		if (!fde_listed(s, hdr_vaddr + (uint64_t)(int64_t)rel - eh_vaddr))
			return false;
	}
	return true;
}

static Elf_Scn *section(Elf *elf, size_t shstrndx, const char *want, int nth, GElf_Shdr *ret)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (gelf_getshdr(scn, ret) && (name = elf_strptr(elf, shstrndx, ret->sh_name)) && !strcmp(name, want) &&
		    nth-- == 0)
			return scn;
	}
	return NULL;
}

static bool section_ok(Elf *elf, size_t shstrndx, const char *name, bool eh)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	struct scan s = { .eh = eh };
	GElf_Shdr sh, hsh;
	Elf_Scn *scn, *hscn;
	Elf_Data *data, *hdr;
	bool ok = true;

	if (!ident)
		return false;
	if (section(elf, shstrndx, name, 1, &sh))
		return false; /* two of them: which one libdw takes is not worth guessing */
	scn = section(elf, shstrndx, name, 0, &sh);
	if (!scn || sh.sh_type == SHT_NOBITS)
		return true;
	if (sh.sh_flags & SHF_COMPRESSED)
		return false;
	data = elf_rawdata(scn, NULL);
	if (!data || !data->d_buf || !data->d_size)
		return !data || !data->d_size;
	ok = list_entries(&s, data, ident) && fdes_ok(&s, data, ident);
	if (ok && eh && (hscn = section(elf, shstrndx, ".eh_frame_hdr", 0, &hsh))) {
		hdr = elf_rawdata(hscn, NULL);
		ok = hdr && hdr->d_buf && hdr_ok(&s, hdr, hsh.sh_addr, sh.sh_addr);
	}
	free(s.cies);
	free(s.fdes);
	return ok;
}

unsigned cfiscan_check(Elf *elf)
{
	size_t shstrndx, shnum;
	unsigned ok = 0;

	if (elf_getshdrnum(elf, &shnum) != 0 || shnum == 0 || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0; /* libdw would go by PT_GNU_EH_FRAME: not checked here */
	if (section_ok(elf, shstrndx, ".eh_frame", true))
		ok |= CFISCAN_EH_OK;
	if (section_ok(elf, shstrndx, ".debug_frame", false))
		ok |= CFISCAN_DEBUG_OK;
	return ok;
}
