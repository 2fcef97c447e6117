// SPDX-License-Identifier: MIT
/* .eh_frame's CIE and FDE records (the LSB's format: DWARF CFI with pointer encodings) read
 * for the function ranges they state, nothing of their instructions. Every read is checked
 * against the section's end: the bytes come from a target's files. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/ehframe.h"

/* DW_EH_PE_* pointer encodings: the low nibble is the format, bits 4-6 the application. */
#define PE_OMIT 0xff
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_PCREL 0x10
#define PE_APPLICATION 0x70

struct cursor {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t rd(struct cursor *c, size_t n)
{
	uint64_t v = 0;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

static uint64_t rd_uleb(struct cursor *c)
{
	uint64_t v = 0;

	for (unsigned shift = 0; !c->bad; shift += 7) {
		uint8_t b = (uint8_t)rd(c, 1);

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	return v;
}

static int64_t rd_sleb(struct cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	do {
		b = (uint8_t)rd(c, 1);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !c->bad);
	if (shift < 64 && (b & 0x40))
		v |= ~0ull << shift;
	return (int64_t)v;
}

/* One encoded pointer; pcrel is applied (field_addr: the ELF address of the field), other
 * applications (textrel, datarel: not used in x86-64 .eh_frame) make it unusable. */
static uint64_t rd_encoded(struct cursor *c, uint8_t enc, uint64_t field_addr, bool apply, bool *ret_ok)
{
	uint64_t v;

	*ret_ok = true;
	switch (enc & 0x0f) {
	case PE_ABSPTR: v = rd(c, 8); break;
	case PE_ULEB128: v = rd_uleb(c); break;
	case PE_UDATA2: v = rd(c, 2); break;
	case PE_UDATA4: v = rd(c, 4); break;
	case PE_UDATA8: v = rd(c, 8); break;
	case PE_SLEB128: v = (uint64_t)rd_sleb(c); break;
	case PE_SDATA2: v = (uint64_t)(int64_t)(int16_t)rd(c, 2); break;
	case PE_SDATA4: v = (uint64_t)(int64_t)(int32_t)rd(c, 4); break;
	case PE_SDATA8: v = rd(c, 8); break;
	default:
		c->bad = true;
		return 0;
	}
	if (!apply)
		return v;
	switch (enc & PE_APPLICATION) {
	case 0:
		break;
	case PE_PCREL:
		v += field_addr;
		break;
	default:
		*ret_ok = false;
	}
	return v;
}

/* The FDE pointer encoding of the CIE at data + off; false when it cannot be read. */
static bool cie_encoding(const uint8_t *data, size_t size, size_t off, uint64_t sec_addr, uint8_t *ret_enc)
{
	struct cursor c = { data + off, data + size, false };
	uint64_t len = rd(&c, 4), id;
	const char *aug;
	size_t auglen;
	uint8_t version;
	bool is64 = len == 0xffffffffu, ok;

	if (is64)
		len = rd(&c, 8);
	if (c.bad || len > (size_t)(c.end - c.p))
		return false;
	c.end = c.p + len;
	id = is64 ? rd(&c, 8) : rd(&c, 4);
	if (c.bad || id != 0)
		return false;
	version = (uint8_t)rd(&c, 1);
	aug = (const char *)c.p;
	auglen = strnlen(aug, (size_t)(c.end - c.p));
	if (c.bad || auglen == (size_t)(c.end - c.p) || (version != 1 && version != 3))
		return false;
	c.p += auglen + 1;
	*ret_enc = PE_ABSPTR;
	if (aug[0] != 'z')
		return auglen == 0; /* no augmentation data: absolute pointers */
	rd_uleb(&c);          /* code alignment */
	rd_sleb(&c);          /* data alignment */
	if (version == 1)
		rd(&c, 1);    /* return address register */
	else
		rd_uleb(&c);
	rd_uleb(&c);          /* augmentation data length */
	for (size_t i = 1; i < auglen && !c.bad; i++) {
		switch (aug[i]) {
		case 'R':
			*ret_enc = (uint8_t)rd(&c, 1);
			return !c.bad;
		case 'L':
			rd(&c, 1);
			break;
		case 'P': {
			uint8_t penc = (uint8_t)rd(&c, 1);

			rd_encoded(&c, penc & 0x7f, sec_addr + (uint64_t)(c.p - data), false, &ok);
			break;
		}
		case 'S':
		case 'B':
			break;
		default:
			return false; /* an augmentation we cannot skip: its FDEs cannot be read */
		}
	}
	return !c.bad;
}

static int range_cmp(const void *a, const void *b)
{
	const struct ehframe_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

int ehframe_parse(const uint8_t *data, size_t size, uint64_t sec_addr, size_t max, struct ehframe_range **ret)
{
	struct ehframe_range *v = NULL;
	size_t n = 0, cap = 0, off = 0, last_cie = (size_t)-1, out;
	uint8_t enc = PE_ABSPTR;
	bool enc_ok = false;

	if (!ret || (!data && size))
		return -EINVAL;
	*ret = NULL;
	while (off < size && n < max) {
		struct cursor c = { data + off, data + size, false };
		uint64_t len = rd(&c, 4), id, lo, range;
		size_t id_off, next;
		bool is64 = len == 0xffffffffu, ok;

		if (c.bad || len == 0)
			break; /* the terminator */
		if (is64)
			len = rd(&c, 8);
		if (c.bad || len > (size_t)(c.end - c.p))
			break;
		next = (size_t)(c.p - data) + (size_t)len;
		c.end = c.p + len;
		id_off = (size_t)(c.p - data);
		id = is64 ? rd(&c, 8) : rd(&c, 4);
		if (c.bad)
			break;
		if (id == 0) { /* a CIE */
			off = next;
			continue;
		}
		/* an FDE: id is the distance back from its own field to its CIE */
		if (id > id_off) {
			off = next;
			continue;
		}
		if (id_off - id != last_cie) {
			last_cie = id_off - (size_t)id;
			enc_ok = cie_encoding(data, size, last_cie, sec_addr, &enc);
		}
		if (!enc_ok || enc == PE_OMIT) {
			off = next;
			continue;
		}
		lo = rd_encoded(&c, enc & 0x7f, sec_addr + (uint64_t)(c.p - data), true, &ok);
		range = rd_encoded(&c, enc & 0x0f, 0, false, &ok);
		if (!c.bad && ok && lo && range && lo + range > lo) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct ehframe_range *p;

				if (ncap > max)
					ncap = max;
				p = realloc(v, ncap * sizeof(*v));
				if (!p) {
					free(v);
					return -ENOMEM;
				}
				v = p;
				cap = ncap;
			}
			v[n++] = (struct ehframe_range){ lo, lo + range };
		}
		off = next;
	}
	if (!n) {
		free(v);
		return 0;
	}
	qsort(v, n, sizeof(*v), range_cmp);
	out = 0;
	for (size_t i = 0; i < n; i++)
		if (!out || v[out - 1].lo != v[i].lo)
			v[out++] = v[i];
	*ret = v;
	return (int)out;
}

const struct ehframe_range *ehframe_find(const struct ehframe_range *r, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	if (!r || !n || addr < r[0].lo)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].lo <= addr)
			lo = mid;
		else
			hi = mid;
	}
	return addr < r[lo].hi ? &r[lo] : NULL;
}
