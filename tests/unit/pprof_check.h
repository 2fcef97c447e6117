/* SPDX-License-Identifier: MIT */
/* Decoding and checking of profiles made by pprof_encode(), shared by tests/unit/test_pprof.c, the
 * self-profiling driver tests/unit/pprof_selfprof.c and tests/fuzz/fuzz_pprof.c. Every check is a
 * rule that go tool pprof enforces (pprof-compat.md 3.2, 3.3) or that profd promises (pprof.h).
 * Header-only (static functions): each test program is one translation unit. */
#ifndef PROFD_TESTS_PPROF_CHECK_H
#define PROFD_TESTS_PPROF_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"

#define PPROF_CHECK_MAX_RAW (1u << 30)

/* Gunzips one gzip member; the whole input must be consumed. Returns 0 or -1; *ret is malloc'd. */
static inline int pprof_check_gunzip(const void *gz, size_t len, uint8_t **ret, size_t *ret_len)
{
	size_t alloc = len * 4 + 256, n = 0;
	uint8_t *raw = malloc(alloc);
	z_stream zs;
	int zerr;

	*ret = NULL;
	*ret_len = 0;
	if (!raw)
		return -1;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + 15) != Z_OK) {
		free(raw);
		return -1;
	}
	zs.next_in = (Bytef *)gz;
	zs.avail_in = (uInt)len;
	do {
		if (n == alloc) {
			uint8_t *p;

			if (alloc >= PPROF_CHECK_MAX_RAW)
				goto fail;
			alloc *= 2;
			p = realloc(raw, alloc);
			if (!p)
				goto fail;
			raw = p;
		}
		zs.next_out = raw + n;
		zs.avail_out = (uInt)(alloc - n);
		zerr = inflate(&zs, Z_NO_FLUSH);
		n = alloc - zs.avail_out;
		if (zerr != Z_OK && zerr != Z_STREAM_END)
			goto fail;
	} while (zerr != Z_STREAM_END);
	if (zs.avail_in != 0)
		goto fail;
	inflateEnd(&zs);
	*ret = raw;
	*ret_len = n;
	return 0;
fail:
	inflateEnd(&zs);
	free(raw);
	return -1;
}

static inline int pprof_check_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -1;
}

/* Walks the top-level fields of the raw proto: counts[field] for fields 1..15. NULL if the wire
 * format is well formed, else a message. */
static inline const char *pprof_check_wire(const uint8_t *raw, size_t len, unsigned counts[16])
{
	const uint8_t *p = raw, *end = raw + len;

	memset(counts, 0, 16 * sizeof(*counts));
	while (p < end) {
		uint64_t tag, v;

		if (pprof_check_varint(&p, end, &tag))
			return "truncated tag";
		if ((tag >> 3) == 0 || (tag >> 3) > 15)
			return "unknown top-level field";
		counts[tag >> 3]++;
		switch (tag & 7) {
		case 0:
			if (pprof_check_varint(&p, end, &v))
				return "truncated varint";
			break;
		case 2:
			if (pprof_check_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return "truncated length-delimited field";
			p += v;
			break;
		default:
			return "unexpected wire type";
		}
	}
	return NULL;
}

static inline int pprof_check_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A location's place: its mapping and address (in a profile of several processes the same
 * address is in several mappings, one per process). */
struct pprof_check_place {
	uint64_t mapping, address;
};

static inline int pprof_check_placecmp(const void *a, const void *b)
{
	const struct pprof_check_place *x = a, *y = b;

	if (x->mapping != y->mapping)
		return x->mapping < y->mapping ? -1 : 1;
	return (x->address > y->address) - (x->address < y->address);
}

static inline int pprof_check_u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

#define PPROF_CHECK_STR(idx, what)                                                        \
	do {                                                                              \
		if ((idx) < 0 || (uint64_t)(idx) >= p->n_string_table)                    \
			return what " string index out of range";                         \
	} while (0)

/* The invariants of a decoded profile. NULL when all hold, else what broke (a static string). */
static inline const char *pprof_check_profile(const Perftools__Profiles__Profile *p)
{
	char **strs;
	struct pprof_check_place *addrs;
	int dup;

	if (p->n_string_table < 1 || strcmp(p->string_table[0], "") != 0)
		return "string_table[0] is not \"\"";
	if (p->time_nanos == 0)
		return "time_nanos is zero";
	if (p->n_sample && !p->n_sample_type)
		return "samples without sample types";
	for (size_t i = 0; i < p->n_sample_type; i++) {
		PPROF_CHECK_STR(p->sample_type[i]->type, "sample_type.type");
		PPROF_CHECK_STR(p->sample_type[i]->unit, "sample_type.unit");
	}
	if (p->period_type) {
		PPROF_CHECK_STR(p->period_type->type, "period_type.type");
		PPROF_CHECK_STR(p->period_type->unit, "period_type.unit");
	}
	PPROF_CHECK_STR(p->default_sample_type, "default_sample_type");
	PPROF_CHECK_STR(p->drop_frames, "drop_frames");
	PPROF_CHECK_STR(p->keep_frames, "keep_frames");
	PPROF_CHECK_STR(p->doc_url, "doc_url");
	for (size_t i = 0; i < p->n_comment; i++)
		PPROF_CHECK_STR(p->comment[i], "comment");
	/* ids are 1..N in order (pprof only needs unique non-zero; profd promises 1..N) */
	for (size_t i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];

		if (m->id != i + 1)
			return "mapping ids are not 1..N";
		PPROF_CHECK_STR(m->filename, "mapping.filename");
		PPROF_CHECK_STR(m->build_id, "mapping.build_id");
		if (m->memory_limit < m->memory_start)
			return "mapping limit below start";
	}
	for (size_t i = 0; i < p->n_function; i++) {
		const Perftools__Profiles__Function *f = p->function[i];

		if (f->id != i + 1)
			return "function ids are not 1..N";
		PPROF_CHECK_STR(f->name, "function.name");
		PPROF_CHECK_STR(f->system_name, "function.system_name");
		PPROF_CHECK_STR(f->filename, "function.filename");
		if (f->name == 0)
			return "function without a name";
		for (size_t j = 0; j < i; j++) {
			const Perftools__Profiles__Function *g = p->function[j];

			if (g->name == f->name && g->system_name == f->system_name && g->filename == f->filename &&
			    g->start_line == f->start_line)
				return "duplicate function";
		}
	}
	for (size_t i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *l = p->location[i];

		if (l->id != i + 1)
			return "location ids are not 1..N";
		if (l->mapping_id > p->n_mapping)
			return "location references a missing mapping";
		for (size_t j = 0; j < l->n_line; j++)
			if (l->line[j]->function_id == 0 || l->line[j]->function_id > p->n_function)
				return "line references a missing function";
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		if (s->n_value != p->n_sample_type)
			return "sample value count differs from sample types";
		for (size_t j = 0; j < s->n_location_id; j++)
			if (s->location_id[j] == 0 || s->location_id[j] > p->n_location)
				return "sample references a missing location";
		for (size_t j = 0; j < s->n_label; j++) {
			const Perftools__Profiles__Label *l = s->label[j];

			PPROF_CHECK_STR(l->key, "label.key");
			PPROF_CHECK_STR(l->str, "label.str");
			PPROF_CHECK_STR(l->num_unit, "label.num_unit");
			if (l->key == 0)
				return "label without a key";
			if (l->str && (l->num || l->num_unit))
				return "label has both str and num";
		}
	}
	/* deduplicated: every string once, every location address once in its mapping */
	strs = malloc(p->n_string_table * sizeof(*strs));
	addrs = malloc((p->n_location + 1) * sizeof(*addrs));
	if (!strs || !addrs) {
		free(strs);
		free(addrs);
		return "out of memory";
	}
	memcpy(strs, p->string_table, p->n_string_table * sizeof(*strs));
	qsort(strs, p->n_string_table, sizeof(*strs), pprof_check_strcmp);
	dup = 0;
	for (size_t i = 1; i < p->n_string_table; i++)
		dup |= strcmp(strs[i - 1], strs[i]) == 0;
	for (size_t i = 0; i < p->n_location; i++)
		addrs[i] = (struct pprof_check_place){ p->location[i]->mapping_id, p->location[i]->address };
	qsort(addrs, p->n_location, sizeof(*addrs), pprof_check_placecmp);
	/* (stored pcs 0 and 1 both become address 0, "no address": the one allowed repeat) */
	for (size_t i = 1; i < p->n_location; i++)
		dup |= (addrs[i].address && pprof_check_placecmp(&addrs[i - 1], &addrs[i]) == 0) << 1;
	free(strs);
	free(addrs);
	if (dup & 1)
		return "duplicate string in string_table";
	if (dup & 2)
		return "two locations with the same address in one mapping";
	return NULL;
}

/* Gunzips, checks the wire (time_nanos exactly once), unpacks and checks the invariants.
 * Returns the profile (free with perftools__profiles__profile__free_unpacked(p, NULL)) or NULL
 * with *ret_why set. */
static inline Perftools__Profiles__Profile *pprof_check_decode(const void *gz, size_t len, const char **ret_why)
{
	Perftools__Profiles__Profile *p;
	const uint8_t *g = gz;
	unsigned counts[16];
	uint8_t *raw;
	size_t raw_len;

	*ret_why = NULL;
	if (len < 10 || g[0] != 0x1f || g[1] != 0x8b || g[2] != 8) {
		*ret_why = "not gzip";
		return NULL;
	}
	if (pprof_check_gunzip(gz, len, &raw, &raw_len)) {
		*ret_why = "gunzip failed";
		return NULL;
	}
	*ret_why = pprof_check_wire(raw, raw_len, counts);
	if (!*ret_why && counts[9] != 1)
		*ret_why = "time_nanos not written exactly once";
	if (!*ret_why && counts[6] < 1)
		*ret_why = "no string table";
	if (*ret_why) {
		free(raw);
		return NULL;
	}
	p = perftools__profiles__profile__unpack(NULL, raw_len, raw);
	free(raw);
	if (!p) {
		*ret_why = "protobuf-c cannot unpack it";
		return NULL;
	}
	*ret_why = pprof_check_profile(p);
	if (*ret_why) {
		perftools__profiles__profile__free_unpacked(p, NULL);
		return NULL;
	}
	return p;
}

static inline const char *pprof_check_string(const Perftools__Profiles__Profile *p, int64_t idx)
{
	return idx >= 0 && (uint64_t)idx < p->n_string_table ? p->string_table[idx] : NULL;
}

#endif
