// SPDX-License-Identifier: MIT
/* pprof builder round trips: encode, gunzip, unpack with protobuf-c, check every table. A fake
 * symbolizer (defined here, so libprofd.a's real one is not linked) gives known names, inline
 * chains, unknown addresses and lookup errors; the real symbolizer is exercised against a live
 * process by tests/unit/pprof_selfprof.c and tests/integration/test_pprof_accept.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pprof/pprof.h"
#include "pprof_check.h"
#include "symbols/symbolize.h"

/* ---- the fake symbolizer ---- */

#define MAIN_LO 0x400000ull
#define LIB_LO 0x7f0000000000ull
#define FAKE_MAX_LOOKUPS 4096

struct symbolizer {
	struct sym_mapping maps[3]; /* lib first on purpose: pprof_encode must put main first */
	uint64_t looked_up[FAKE_MAX_LOOKUPS];
	int nlookups;
	int mappings_err; /* what symbolizer__mappings() returns */
};

static struct symbolizer fake, fake2; /* fake2: a second process (test_two_processes) */

static void fake_init(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.maps[0] = (struct sym_mapping){ .start = LIB_LO, .limit = LIB_LO + 0x100000, .file_offset = 0x1000,
					     .filename = "/lib/libfake.so", .build_id = "00ff",
					     .has_functions = true };
	fake.maps[1] = (struct sym_mapping){ .start = MAIN_LO, .limit = MAIN_LO + 0x100000, .file_offset = 0,
					     .filename = "/usr/bin/fake", .build_id = "abcdef0123",
					     .has_functions = true, .has_filenames = true,
					     .has_line_numbers = true, .has_inline_frames = true, .is_main = true };
	fake.maps[2] = (struct sym_mapping){ .start = 0x7ffff000ull, .limit = 0x7ffff000ull + 0x2000,
					     .filename = "[vdso]", .build_id = "", .has_functions = true };
}

static struct sym_frame frame(const char *name, const char *sys, const char *file, int line, uint64_t start)
{
	return (struct sym_frame){ .name = name, .system_name = sys, .file = file, .line = line,
				   .start_line = line ? 5 : 0, .func_start = start };
}

/* Address plan (addr = stored pc - 1):
 *   main+0x1000..0x10ff  leaf()            a.c, line = 10 + (addr & 0xff)
 *   main+0x2000..0x20ff  helper() inlined into middle(): two frames, callee first
 *   main+0x3000..0x30ff  ns::Foo::bar(int) / _ZN2ns3Foo3barEi, no file
 *   main+0x4000..0x4fff  unknown (no frames) but inside main
 *   main+0x5000..0x50ff  a_rather_long_function_name, b.c:7 (to exercise tab alignment)
 *   lib+0x1000..0x10ff   libfunc (no file)
 *   lib+0x2000..0x20ff   unknown inside lib: lib's has_functions must become false
 *   lib+0x3000..0x30ff   lookup fails with -EIO: an unknown address, not a failed profile
 *   anything else        nothing known, no mapping */
int symbolizer__lookup(struct symbolizer *sym, uint64_t addr, struct sym_result *ret)
{
	assert_true(sym == &fake || sym == &fake2);
	if (sym->nlookups < FAKE_MAX_LOOKUPS)
		sym->looked_up[sym->nlookups++] = addr;
	memset(ret, 0, sizeof(*ret));
	if (addr >= MAIN_LO && addr < MAIN_LO + 0x100000)
		ret->mapping = &sym->maps[1];
	else if (addr >= LIB_LO && addr < LIB_LO + 0x100000)
		ret->mapping = &sym->maps[0];
	if (addr >= MAIN_LO + 0x1000 && addr < MAIN_LO + 0x1100) {
		ret->frames[0] = frame("leaf", "leaf", "a.c", 10 + (int)(addr & 0xff), MAIN_LO + 0x1000);
		ret->nframes = 1;
	} else if (addr >= MAIN_LO + 0x2000 && addr < MAIN_LO + 0x2100) {
		ret->frames[0] = frame("helper", "helper", "a.h", 3, MAIN_LO + 0x2000);
		ret->frames[1] = frame("middle", "middle", "a.c", 40, MAIN_LO + 0x1f00);
		ret->nframes = 2;
	} else if (addr >= MAIN_LO + 0x3000 && addr < MAIN_LO + 0x3100) {
		ret->frames[0] = frame("ns::Foo::bar(int)", "_ZN2ns3Foo3barEi", NULL, 0, MAIN_LO + 0x3000);
		ret->nframes = 1;
	} else if (addr >= MAIN_LO + 0x5000 && addr < MAIN_LO + 0x5100) {
		ret->frames[0] = frame("a_rather_long_function_name", "a_rather_long_function_name", "b.c", 7,
				       MAIN_LO + 0x5000);
		ret->nframes = 1;
	} else if (addr >= LIB_LO + 0x1000 && addr < LIB_LO + 0x1100) {
		ret->frames[0] = frame("libfunc", "libfunc", NULL, 0, LIB_LO + 0x1000);
		ret->nframes = 1;
	} else if (addr >= LIB_LO + 0x3000 && addr < LIB_LO + 0x3100) {
		return -EIO;
	}
	return 0;
}

int symbolizer__mappings(struct symbolizer *sym, const struct sym_mapping **ret, int *ret_n)
{
	assert_true(sym == &fake || sym == &fake2);
	if (sym->mappings_err)
		return sym->mappings_err;
	*ret = sym->maps;
	*ret_n = 3;
	return 0;
}

#include "alloc_sweep.h"

/* ---- helpers ---- */

static Perftools__Profiles__Profile *encode_decode(const struct profd_sample_set *set, struct symbolizer *sym)
{
	Perftools__Profiles__Profile *p;
	struct buf out;
	const char *why;

	buf_init(&out, 0);
	assert_int_equal(pprof_encode(set, sym, &out), 0);
	assert_true(out.len > 20);
	/* gzip header as Go's runtime writes it: deflate, fast level (XFL = 4) */
	assert_int_equal((uint8_t)out.data[0], 0x1f);
	assert_int_equal((uint8_t)out.data[1], 0x8b);
	assert_int_equal((uint8_t)out.data[2], 8);
	assert_int_equal((uint8_t)out.data[8], 4);
	p = pprof_check_decode(out.data, out.len, &why);
	if (!p)
		fail_msg("profile rejected: %s", why);
	buf_free(&out);
	return p;
}

static const char *S(const Perftools__Profiles__Profile *p, int64_t idx)
{
	const char *s = pprof_check_string(p, idx);

	assert_non_null(s);
	return s;
}

static const Perftools__Profiles__Location *loc_by_id(const Perftools__Profiles__Profile *p, uint64_t id)
{
	assert_true(id >= 1 && id <= p->n_location);
	return p->location[id - 1];
}

static const char *line_func(const Perftools__Profiles__Profile *p, const Perftools__Profiles__Line *l)
{
	assert_true(l->function_id >= 1 && l->function_id <= p->n_function);
	return S(p, p->function[l->function_id - 1]->name);
}

static const Perftools__Profiles__Mapping *map_by_name(const Perftools__Profiles__Profile *p, const char *name)
{
	for (size_t i = 0; i < p->n_mapping; i++)
		if (strcmp(S(p, p->mapping[i]->filename), name) == 0)
			return p->mapping[i];
	fail_msg("no mapping %s", name);
	return NULL;
}

static struct profd_sample_set *cpu_set(void)
{
	struct profd_sample_set *set = sample_set__new(2);

	assert_non_null(set);
	set->types[0] = (struct profd_value_type){ "samples", "count" };
	set->types[1] = (struct profd_value_type){ "cpu", "nanoseconds" };
	set->period_type = (struct profd_value_type){ "cpu", "nanoseconds" };
	set->period = 10000000;
	set->duration_nanos = 2000000000;
	return set;
}

static int64_t v2[2];
static const int64_t *vals(int64_t a, int64_t b)
{
	v2[0] = a;
	v2[1] = b;
	return v2;
}

/* ---- tests ---- */

static void test_roundtrip_symbolized(void **state)
{
	struct profd_sample_set *set = cpu_set();
	/* stored pcs (caller style); the leaf is an exact pc, stored + 1 */
	uint64_t st1[] = { sample_pc_exact(MAIN_LO + 0x1005), MAIN_LO + 0x2011, MAIN_LO + 0x3001 };
	uint64_t st2[] = { MAIN_LO + 0x1011, MAIN_LO + 0x2011, LIB_LO + 0x1001 };
	uint64_t st3[] = { LIB_LO + 0x2001, MAIN_LO + 0x4001, 0x10, LIB_LO + 0x3001 };
	struct profd_label lab[] = { { .key = "thread", .str = "worker" },
				     { .key = "bytes", .num = 4096, .unit = "bytes" } };
	Perftools__Profiles__Profile *p;
	const Perftools__Profiles__Sample *s;
	const Perftools__Profiles__Location *l;
	const Perftools__Profiles__Mapping *m;
	int leaf_funcs = 0;

	(void)state;
	fake_init();
	set->time_nanos = 1700000000000000000;
	assert_int_equal(sample_set__add(set, st1, 3, vals(3, 30000000), lab, 2), 0);
	assert_int_equal(sample_set__add(set, st2, 3, vals(1, 10000000), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, st3, 4, vals(2, 20000000), lab, 1), 0);
	assert_int_equal(sample_set__comment(set, "sampling %d Hz", 100), 0);
	assert_int_equal(sample_set__comment(set, "dropped %d stacks", 0), 0);
	p = encode_decode(set, &fake);

	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(S(p, p->sample_type[0]->type), "samples");
	assert_string_equal(S(p, p->sample_type[0]->unit), "count");
	assert_string_equal(S(p, p->sample_type[1]->type), "cpu");
	assert_string_equal(S(p, p->sample_type[1]->unit), "nanoseconds");
	assert_non_null(p->period_type);
	assert_string_equal(S(p, p->period_type->type), "cpu");
	assert_int_equal(p->period, 10000000);
	assert_int_equal(p->default_sample_type, 0);
	assert_int_equal(p->time_nanos, 1700000000000000000);
	assert_int_equal(p->duration_nanos, 2000000000);
	assert_int_equal(p->n_comment, 2);
	assert_string_equal(S(p, p->comment[0]), "sampling 100 Hz");
	assert_string_equal(S(p, p->comment[1]), "dropped 0 stacks");

	/* mappings: all three, main first, flags truthful */
	assert_int_equal(p->n_mapping, 3);
	m = p->mapping[0];
	assert_string_equal(S(p, m->filename), "/usr/bin/fake");
	assert_string_equal(S(p, m->build_id), "abcdef0123");
	assert_int_equal(m->memory_start, MAIN_LO);
	assert_int_equal(m->memory_limit, MAIN_LO + 0x100000);
	/* main+0x4000 has no name: pprof must be allowed to ask /symbol for it */
	assert_false(m->has_functions);
	assert_true(m->has_filenames && m->has_line_numbers && m->has_inline_frames);
	m = map_by_name(p, "/lib/libfake.so");
	assert_int_equal(m->file_offset, 0x1000);
	assert_string_equal(S(p, m->build_id), "00ff");
	assert_false(m->has_functions); /* lib+0x2000 and lib+0x3000 are unknown */
	assert_false(m->has_filenames);
	m = map_by_name(p, "[vdso]");
	assert_true(m->has_functions); /* no location in it: as the symbolizer reports */

	/* samples: order kept, leaf-first location ids, values, labels */
	assert_int_equal(p->n_sample, 3);
	s = p->sample[0];
	assert_int_equal(s->n_location_id, 3);
	assert_int_equal(s->n_value, 2);
	assert_int_equal(s->value[0], 3);
	assert_int_equal(s->value[1], 30000000);
	assert_int_equal(s->n_label, 2);
	assert_string_equal(S(p, s->label[0]->key), "thread");
	assert_string_equal(S(p, s->label[0]->str), "worker");
	assert_string_equal(S(p, s->label[1]->key), "bytes");
	assert_int_equal(s->label[1]->num, 4096);
	assert_string_equal(S(p, s->label[1]->num_unit), "bytes");
	assert_int_equal(s->label[1]->str, 0);

	l = loc_by_id(p, s->location_id[0]);
	assert_int_equal(l->address, MAIN_LO + 0x1005); /* the exact leaf pc */
	assert_int_equal(l->mapping_id, 1);
	assert_int_equal(l->n_line, 1);
	assert_string_equal(line_func(p, l->line[0]), "leaf");
	assert_int_equal(l->line[0]->line, 10 + 5);
	assert_string_equal(S(p, p->function[l->line[0]->function_id - 1]->filename), "a.c");
	assert_int_equal(p->function[l->line[0]->function_id - 1]->start_line, 5);

	l = loc_by_id(p, s->location_id[1]);
	assert_int_equal(l->address, MAIN_LO + 0x2010); /* return address - 1 */
	assert_int_equal(l->n_line, 2);             /* inline chain, callee first */
	assert_string_equal(line_func(p, l->line[0]), "helper");
	assert_int_equal(l->line[0]->line, 3);
	assert_string_equal(line_func(p, l->line[1]), "middle");
	assert_int_equal(l->line[1]->line, 40);

	l = loc_by_id(p, s->location_id[2]);
	assert_int_equal(l->n_line, 1);
	assert_string_equal(line_func(p, l->line[0]), "ns::Foo::bar(int)");
	assert_string_equal(S(p, p->function[l->line[0]->function_id - 1]->system_name), "_ZN2ns3Foo3barEi");
	assert_int_equal(p->function[l->line[0]->function_id - 1]->filename, 0);

	/* the same return address in two samples is one location */
	assert_int_equal(p->sample[1]->location_id[1], p->sample[0]->location_id[1]);
	assert_int_equal(p->sample[1]->n_label, 0);
	l = loc_by_id(p, p->sample[1]->location_id[2]);
	assert_int_equal(l->mapping_id, map_by_name(p, "/lib/libfake.so")->id);
	assert_string_equal(line_func(p, l->line[0]), "libfunc");

	/* unknown addresses: no lines; outside every mapping: mapping 0 */
	s = p->sample[2];
	assert_int_equal(s->n_location_id, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(loc_by_id(p, s->location_id[i])->n_line, 0);
	assert_int_equal(loc_by_id(p, s->location_id[2])->address, 0xf);
	assert_int_equal(loc_by_id(p, s->location_id[2])->mapping_id, 0);
	assert_int_equal(loc_by_id(p, s->location_id[3])->mapping_id, map_by_name(p, "/lib/libfake.so")->id);

	/* two leaf pcs in leaf() are two locations but one function */
	for (size_t i = 0; i < p->n_function; i++)
		leaf_funcs += strcmp(S(p, p->function[i]->name), "leaf") == 0;
	assert_int_equal(leaf_funcs, 1);
	assert_int_equal(p->n_location, 9);
	assert_int_equal(p->n_function, 5); /* leaf, helper, middle, ns::Foo::bar, libfunc */

	/* every distinct pc was looked up once, at pc - 1 */
	assert_int_equal(fake.nlookups, 9);
	for (int i = 0; i < fake.nlookups; i++)
		for (int j = 0; j < i; j++)
			assert_true(fake.looked_up[i] != fake.looked_up[j]);
	assert_int_equal(fake.looked_up[0], MAIN_LO + 0x1005);
	assert_int_equal(fake.looked_up[1], MAIN_LO + 0x2010);

	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(set);
}

static void test_all_named_sets_has_functions(void **state)
{
	struct profd_sample_set *set = cpu_set();
	uint64_t st[] = { MAIN_LO + 0x1001, MAIN_LO + 0x2001 };
	Perftools__Profiles__Profile *p;

	(void)state;
	fake_init();
	assert_int_equal(sample_set__add(set, st, 2, vals(1, 1), NULL, 0), 0);
	p = encode_decode(set, &fake);
	assert_string_equal(S(p, p->mapping[0]->filename), "/usr/bin/fake");
	assert_true(p->mapping[0]->has_functions);
	assert_true(map_by_name(p, "/lib/libfake.so")->has_functions);
	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(set);
}

/* No mapping list (the target exited, say): locations are still named, and the mappings the
 * lookups reported are there, the main executable first. */
static void test_no_mapping_list(void **state)
{
	struct profd_sample_set *set = cpu_set();
	uint64_t st[] = { LIB_LO + 0x1001, MAIN_LO + 0x1001, MAIN_LO + 0x4001, 0x10 };
	Perftools__Profiles__Profile *p;

	(void)state;
	fake_init();
	fake.mappings_err = -ESRCH;
	assert_int_equal(sample_set__add(set, st, 4, vals(1, 1), NULL, 0), 0);
	p = encode_decode(set, &fake);
	assert_int_equal(p->n_mapping, 2);
	assert_string_equal(S(p, p->mapping[0]->filename), "/usr/bin/fake"); /* main first, still */
	assert_false(p->mapping[0]->has_functions); /* main+0x4000 is unknown */
	assert_string_equal(S(p, p->mapping[1]->filename), "/lib/libfake.so");
	assert_true(p->mapping[1]->has_functions);
	assert_int_equal(loc_by_id(p, p->sample[0]->location_id[0])->mapping_id, 2);
	assert_int_equal(loc_by_id(p, p->sample[0]->location_id[1])->mapping_id, 1);
	assert_string_equal(line_func(p, loc_by_id(p, p->sample[0]->location_id[1])->line[0]), "leaf");
	assert_int_equal(loc_by_id(p, p->sample[0]->location_id[3])->mapping_id, 0);
	fake.mappings_err = -ENOMEM;
	{
		struct buf out;

		buf_init(&out, 0);
		assert_int_equal(pprof_encode(set, &fake, &out), -ENOMEM);
		assert_int_equal(out.len, 0);
		buf_free(&out);
	}
	fake.mappings_err = 0;
	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(set);
}

static void test_unsymbolized(void **state)
{
	struct profd_sample_set *set = cpu_set();
	uint64_t st1[] = { 0x401235, 0x401300, 0x401400 };
	uint64_t st2[] = { 0x401300, 0x401400 };
	Perftools__Profiles__Profile *p;

	(void)state;
	assert_int_equal(sample_set__add(set, st1, 3, vals(1, 10), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, st2, 2, vals(2, 20), NULL, 0), 0);
	p = encode_decode(set, NULL);
	/* no mapping: pprof adds its fake one and, over HTTP, POSTs every address to /symbol */
	assert_int_equal(p->n_mapping, 0);
	assert_int_equal(p->n_function, 0);
	assert_int_equal(p->n_location, 3);
	for (size_t i = 0; i < p->n_location; i++) {
		assert_int_equal(p->location[i]->n_line, 0);
		assert_int_equal(p->location[i]->mapping_id, 0);
	}
	assert_int_equal(loc_by_id(p, p->sample[0]->location_id[0])->address, 0x401234);
	assert_int_equal(loc_by_id(p, p->sample[0]->location_id[2])->address, 0x4013ff);
	assert_int_equal(p->sample[1]->location_id[0], p->sample[0]->location_id[1]);
	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(set);
}

static void test_delta_negative_values(void **state)
{
	struct profd_sample_set *p0 = sample_set__new(4), *p1 = sample_set__new(4);
	static const struct profd_value_type heap[4] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" } };
	uint64_t a[] = { 0x1001, 0x2001 }, b[] = { 0x3001 };
	int64_t v0a[] = { 1, 100, 1, 100 }, v1a[] = { 2, 200, 0, 0 }, v0b[] = { 5, 5, 5, 5 };
	int64_t v1b[] = { 5, 5, 5, 5 };
	Perftools__Profiles__Profile *p;

	(void)state;
	memcpy(p0->types, heap, sizeof(heap));
	memcpy(p1->types, heap, sizeof(heap));
	p1->period_type = p0->period_type = (struct profd_value_type){ "space", "bytes" };
	p1->period = p0->period = 524288;
	p1->default_sample_type = 1;
	p0->time_nanos = 1000;
	p1->time_nanos = 5000;
	assert_int_equal(sample_set__add(p0, a, 2, v0a, NULL, 0), 0);
	assert_int_equal(sample_set__add(p0, b, 1, v0b, NULL, 0), 0);
	assert_int_equal(sample_set__add(p1, a, 2, v1a, NULL, 0), 0);
	assert_int_equal(sample_set__add(p1, b, 1, v1b, NULL, 0), 0);
	assert_int_equal(sample_set__subtract(p1, p0), 0);
	assert_int_equal(p1->nsamples, 1); /* b's values all became zero */
	p = encode_decode(p1, NULL);
	assert_int_equal(p->n_sample, 1);
	assert_int_equal(p->sample[0]->value[0], 1);
	assert_int_equal(p->sample[0]->value[1], 100);
	assert_int_equal(p->sample[0]->value[2], -1);
	assert_int_equal(p->sample[0]->value[3], -100);
	assert_int_equal(p->time_nanos, 5000);
	assert_int_equal(p->duration_nanos, 4000);
	assert_string_equal(S(p, p->default_sample_type), "alloc_space");
	assert_int_equal(p->period, 524288);
	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(p0);
	sample_set__free(p1);
}

static struct symbolizer *two_procs(void *ctx, int64_t pid)
{
	return pid == 200 ? &fake2 : pid == 100 ? &fake : NULL;
}

/* One address in two processes: two Locations, each in its own process's mapping, each named by
 * that process's symbolizer; the pid and process labels are kept. */
static void test_two_processes(void **state)
{
	struct pprof_symbols syms = { .get = two_procs };
	struct profd_sample_set *set = cpu_set();
	uint64_t st[] = { MAIN_LO + 0x1011 };
	struct profd_label a[] = { { .key = "pid", .num = 100 }, { .key = "process", .str = "a" } };
	struct profd_label b[] = { { .key = "pid", .num = 200 }, { .key = "process", .str = "b" } };
	const Perftools__Profiles__Location *l0, *l1;
	Perftools__Profiles__Profile *p;
	const char *why = NULL;
	struct buf out = { 0 };

	(void)state;
	fake_init();
	fake2 = fake;
	assert_int_equal(sample_set__add(set, st, 1, vals(1, 10000000), a, 2), 0);
	assert_int_equal(sample_set__add(set, st, 1, vals(2, 20000000), b, 2), 0);
	assert_int_equal(set->nsamples, 2); /* same stack, other process: two samples */
	assert_int_equal(pprof_encode_procs(set, &syms, &out), 0);
	p = pprof_check_decode(out.data, out.len, &why);
	assert_non_null(p);
	assert_null(why);
	assert_int_equal(p->n_sample, 2);
	assert_int_equal(p->n_location, 2);
	l0 = loc_by_id(p, p->sample[0]->location_id[0]);
	l1 = loc_by_id(p, p->sample[1]->location_id[0]);
	assert_true(l0->id != l1->id);
	assert_int_equal(l0->address, l1->address);
	assert_true(l0->mapping_id != l1->mapping_id);
	assert_string_equal(S(p, p->mapping[l0->mapping_id - 1]->filename), "/usr/bin/fake");
	assert_string_equal(S(p, p->mapping[l1->mapping_id - 1]->filename), "/usr/bin/fake");
	assert_int_equal(p->n_mapping, 6); /* each process's three */
	for (int i = 0; i < 2; i++) {
		const Perftools__Profiles__Location *l = i ? l1 : l0;

		assert_int_equal(l->n_line, 1);
		assert_string_equal(line_func(p, l->line[0]), "leaf");
	}
	assert_int_equal(p->sample[0]->n_label, 2);
	assert_string_equal(S(p, p->sample[0]->label[0]->key), "pid");
	assert_int_equal(p->sample[0]->label[0]->num, 100);
	assert_string_equal(S(p, p->sample[1]->label[1]->str), "b");
	perftools__profiles__profile__free_unpacked(p, NULL);
	buf_free(&out);
	sample_set__free(set);
}

static void test_empty_set(void **state)
{
	struct profd_sample_set *set = sample_set__new(1);
	Perftools__Profiles__Profile *p;

	(void)state;
	set->types[0] = (struct profd_value_type){ "contentions", "count" };
	set->time_nanos = 0; /* a missing time still yields exactly one non-zero time_nanos */
	fake_init();
	p = encode_decode(set, &fake);
	assert_int_equal(p->n_sample, 0);
	assert_int_equal(p->n_sample_type, 1);
	assert_null(p->period_type);
	assert_true(p->time_nanos > 0);
	assert_int_equal(p->duration_nanos, 0);
	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(set);
}

static void test_bad_input(void **state)
{
	struct profd_sample_set *set = cpu_set();
	struct profd_sample *many;
	uint64_t pcs[PROFD_MAX_FRAMES];
	struct buf out;
	size_t n = (1u << 24) / PROFD_MAX_FRAMES + 1;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(pprof_encode(NULL, NULL, &out), -EINVAL);
	assert_int_equal(pprof_encode(set, NULL, NULL), -EINVAL);
	assert_int_equal(pprof_write_count_text(NULL, set, NULL, &out), -EINVAL);
	set->nvalues = 0;
	assert_int_equal(pprof_encode(set, NULL, &out), -EINVAL);
	set->nvalues = PROFD_MAX_VALUES + 1;
	assert_int_equal(pprof_encode(set, NULL, &out), -EINVAL);
	set->nvalues = 2;

	/* a label without a key is not a label */
	assert_int_equal(sample_set__add(set, pcs, 0, vals(1, 1), &(struct profd_label){ .str = "x" }, 1), 0);
	assert_int_equal(pprof_encode(set, NULL, &out), -EINVAL);
	assert_int_equal(pprof_write_count_text("x", set, NULL, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	sample_set__free(set);

	/* absurd sizes are refused before anything is allocated for them */
	set = cpu_set();
	memset(pcs, 0, sizeof(pcs));
	many = calloc(n, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i < n; i++) {
		many[i].nframes = PROFD_MAX_FRAMES;
		many[i].pcs = pcs;
	}
	set->samples = many;
	set->nsamples = n;
	assert_int_equal(pprof_encode(set, NULL, &out), -E2BIG);
	assert_int_equal(pprof_write_count_text("x", set, NULL, &out), -E2BIG);
	set->nsamples = (size_t)PROFD_MAX_SAMPLES + 1;
	assert_int_equal(pprof_encode(set, NULL, &out), -E2BIG);
	many[0].nframes = PROFD_MAX_FRAMES + 1;
	set->nsamples = 1;
	assert_int_equal(pprof_encode(set, NULL, &out), -EINVAL);
	set->samples = NULL;
	set->nsamples = 0;
	free(many);
	sample_set__free(set);
	buf_free(&out);
}

static void test_output_cap(void **state)
{
	struct profd_sample_set *set = cpu_set();
	struct buf out;
	uint64_t st[64];

	(void)state;
	for (int i = 0; i < 2000; i++) {
		for (int f = 0; f < 64; f++)
			st[f] = 0x100000 + (uint64_t)i * 7919 * 64 + (uint64_t)f * 104729;
		assert_int_equal(sample_set__add(set, st, 64, vals(i, i), NULL, 0), 0);
	}
	buf_init(&out, 1024);
	assert_int_equal(buf_puts(&out, "keep"), 0);
	assert_int_equal(pprof_encode(set, NULL, &out), -ENOSPC);
	assert_int_equal(out.len, 4); /* unchanged on failure */
	assert_string_equal(out.data, "keep");
	assert_int_equal(pprof_write_count_text("goroutine", set, NULL, &out), -ENOSPC);
	assert_string_equal(out.data, "keep");
	buf_free(&out);
	sample_set__free(set);
}

static void test_many_samples_dedup(void **state)
{
	struct profd_sample_set *set = cpu_set();
	Perftools__Profiles__Profile *p;
	char names[8][8];

	(void)state;
	fake_init();
	for (int i = 0; i < 8; i++)
		snprintf(names[i], sizeof(names[i]), "t%d", i);
	for (int i = 0; i < 3000; i++) {
		uint64_t st[3] = { MAIN_LO + 0x1001 + (uint64_t)(i % 200), MAIN_LO + 0x2001 + (uint64_t)(i % 7),
				   (uint64_t)i * 16 + 0x900000 };
		struct profd_label lab = { .key = "thread", .str = names[i % 8] };

		assert_int_equal(sample_set__add(set, st, 3, vals(1, 1), &lab, 1), 0);
	}
	p = encode_decode(set, &fake); /* the checker verifies strings/functions/addresses are unique */
	assert_int_equal(p->n_sample, 3000);
	assert_int_equal(p->n_location, 200 + 7 + 3000);
	/* leaf() at 200 addresses with 200 different lines is still one function */
	assert_int_equal(p->n_function, 3);
	perftools__profiles__profile__free_unpacked(p, NULL);
	sample_set__free(set);
}

/* ---- debug=1 count text ---- */

static void test_count_text_symbolized(void **state)
{
	struct profd_sample_set *set = sample_set__new(1);
	uint64_t a[] = { MAIN_LO + 0x1011, MAIN_LO + 0x2011, MAIN_LO + 0x5001, LIB_LO + 0x2001 };
	uint64_t b[] = { MAIN_LO + 0x3001 };
	uint64_t c[] = { MAIN_LO + 0x1003 };
	int64_t one = 1, three = 3;
	struct profd_label lab[] = { { .key = "zz", .str = "v\"q" }, { .key = "aa", .str = "x" } };
	struct buf out;
	/* a and c tie on count: the key text decides ("@ 0x401003" < "@ 0x401011"); each record's
	 * "#" lines are aligned as Go's tabwriter aligns them (pprof-compat.md 2.1) */
	const char *want =
		"goroutine profile: total 7\n"
		"3 @ 0x401003\n"
		"#\t0x401002\tleaf+0x2\ta.c:12\n"
		"\n"
		"3 @ 0x401011 0x402011 0x405001 0x7f0000002001\n"
		"# labels: {\"aa\":\"x\", \"zz\":\"v\\\"q\"}\n"
		"#\t0x401010\tleaf+0x10\t\t\ta.c:26\n"
		"#\t0x402010\thelper+0x10\t\t\ta.h:3\n"
		"#\t0x402010\tmiddle+0x110\t\t\ta.c:40\n"
		"#\t0x405000\ta_rather_long_function_name+0x0\tb.c:7\n"
		"#\t0x7f0000002000\n"
		"\n"
		"1 @ 0x403001\n"
		"#\t0x403000\tns::Foo::bar(int)+0x0\n"
		"\n";

	(void)state;
	fake_init();
	assert_int_equal(sample_set__add(set, b, 1, &one, NULL, 0), 0);
	assert_int_equal(sample_set__add(set, a, 4, &three, lab, 2), 0);
	assert_int_equal(sample_set__add(set, c, 1, &three, NULL, 0), 0);
	buf_init(&out, 0);
	assert_int_equal(pprof_write_count_text("goroutine", set, &fake, &out), 0);
	assert_string_equal(out.data, want);
	buf_free(&out);
	sample_set__free(set);
}

static struct symbolizer *no_symbolizer(void *ctx, int64_t pid)
{
	(void)ctx;
	(void)pid;
	return NULL;
}

/* Go's block and mutex texts: sorted by delay, delay before count, the mutex one with its
 * sampling period and raw values (divided by it); fewer than two values is refused */
static void test_contention_text(void **state)
{
	struct profd_sample_set *set = sample_set__new(2);
	struct pprof_symbols syms = { .get = no_symbolizer };
	uint64_t a[] = { 0x43e415, 0x43ec1b }, b[] = { 0x401003 };
	int64_t va[2] = { 20, 5000 }, vb[2] = { 10, 90000 };
	struct buf out;
	const char *want_block =
		"--- contention:\n"
		"cycles/second=1000000000\n"
		"90000 10 @ 0x401003\n"
		"#\t0x401002\n"
		"\n"
		"5000 20 @ 0x43e415 0x43ec1b\n"
		"#\t0x43e414\n"
		"#\t0x43ec1a\n"
		"\n";
	const char *want_mutex =
		"--- mutex:\n"
		"cycles/second=1000000000\n"
		"sampling period=10\n"
		"9000 1 @ 0x401003\n"
		"#\t0x401002\n"
		"\n"
		"500 2 @ 0x43e415 0x43ec1b\n"
		"#\t0x43e414\n"
		"#\t0x43ec1a\n"
		"\n";

	(void)state;
	assert_int_equal(sample_set__add(set, a, 2, va, NULL, 0), 0);
	assert_int_equal(sample_set__add(set, b, 1, vb, NULL, 0), 0);
	buf_init(&out, 0);
	assert_int_equal(pprof_write_contention_text_procs("contention", 0, set, &syms, &out), 0);
	assert_string_equal(out.data, want_block);
	out.len = 0;
	out.data[0] = '\0';
	assert_int_equal(pprof_write_contention_text_procs("mutex", 10, set, &syms, &out), 0);
	assert_string_equal(out.data, want_mutex);
	buf_free(&out);
	sample_set__free(set);
	set = sample_set__new(1);
	assert_int_equal(sample_set__add(set, b, 1, vb, NULL, 0), 0);
	buf_init(&out, 0);
	assert_int_equal(pprof_write_contention_text_procs("mutex", 1, set, &syms, &out), -EINVAL);
	buf_free(&out);
	sample_set__free(set);
}

static void test_count_text_unsymbolized(void **state)
{
	struct profd_sample_set *set = sample_set__new(1);
	uint64_t a[] = { 0x43e415, 0x43ec1b };
	int64_t six = 6, one = 1;
	struct buf out;
	const char *want =
		"threadcreate profile: total 7\n"
		"6 @\n"
		"#\t0x0\n"
		"\n"
		"1 @ 0x43e415 0x43ec1b\n"
		"#\t0x43e414\n"
		"#\t0x43ec1a\n"
		"\n";

	(void)state;
	assert_int_equal(sample_set__add(set, a, 2, &one, NULL, 0), 0);
	assert_int_equal(sample_set__add(set, NULL, 0, &six, NULL, 0), 0);
	buf_init(&out, 0);
	assert_int_equal(pprof_write_count_text("threadcreate", set, NULL, &out), 0);
	assert_string_equal(out.data, want);
	buf_free(&out);
	sample_set__free(set);
}

/* Every allocation of a call fails once in turn: the call returns -ENOMEM, frees everything it
 * took and leaves the output buffer as it was. */
static void test_alloc_failures(void **state)
{
#ifdef ALLOC_SWEEP
	struct profd_sample_set *set = cpu_set();
	uint64_t st1[] = { MAIN_LO + 0x1011, MAIN_LO + 0x2011, LIB_LO + 0x2001, 0x10 };
	uint64_t st2[] = { MAIN_LO + 0x3001, MAIN_LO + 0x5001 };
	struct profd_label lab[] = { { .key = "thread", .str = "w" }, { .key = "bytes", .num = 1, .unit = "bytes" } };
	struct buf out;
	long total = 0, before;
	int err;

	(void)state;
	fake_init();
	assert_int_equal(sample_set__add(set, st1, 4, vals(1, 1), lab, 2), 0);
	assert_int_equal(sample_set__add(set, st2, 2, vals(2, 2), NULL, 0), 0);
	assert_int_equal(sample_set__comment(set, "c"), 0);
	for (int which = 0; which < 2; which++) {
		for (long i = -1; i < total || i < 0; i++) {
			/* a fresh output each time, so that its growth is among the allocations */
			buf_init(&out, 0);
			assert_int_equal(buf_puts(&out, "x"), 0);
			before = live;
			allocations = 0;
			fail_after = i;
			err = which ? pprof_write_count_text("goroutine", set, &fake, &out)
				    : pprof_encode(set, &fake, &out);
			fail_after = -1;
			if (i < 0) { /* the first run counts the allocations of a successful call */
				assert_int_equal(err, 0);
				total = allocations;
				assert_true(total > 5);
				buf_free(&out);
				continue;
			}
			if (err != -ENOMEM)
				fail_msg("%s: allocation %ld of %ld failing gave %d", which ? "text" : "encode", i,
					 total, err);
			assert_int_equal(live, before);
			assert_int_equal(out.len, 1);
			buf_free(&out);
		}
	}
	buf_free(&out);
	sample_set__free(set);
#else
	(void)state;
	skip();
#endif
}

/* The note on binaries without a symbol table: only flagged mappings, each file once (two
 * processes map the same file), at most 8 named then "and N more", how to get symbols; nothing
 * when no mapping lacks symbols; bad input. */
static void test_symbols_note(void **state)
{
	struct sym_mapping m[12];
	const struct sym_mapping *list[13];
	char names[12][32];
	struct buf out = { 0 };

	(void)state;
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "/usr/bin/prog%d", i);
		m[i].filename = names[i];
		list[i] = &m[i];
	}
	list[12] = NULL;
	/* none flagged: no note */
	assert_int_equal(pprof_symbols_note(list, 13, &out), 0);
	assert_int_equal(out.len, 0);
	/* two flagged, one of them twice */
	m[3].lacks_symbols = m[5].lacks_symbols = true;
	list[6] = &m[3];
	assert_int_equal(pprof_symbols_note(list, 13, &out), 1);
	assert_non_null(strstr(out.data, "no symbol table in /usr/bin/prog3, /usr/bin/prog5: "));
	assert_null(strstr(out.data, "prog6"));
	assert_non_null(strstr(out.data, "FILE+0xADDR"));
	assert_non_null(strstr(out.data, "dbgsym"));
	assert_non_null(strstr(out.data, "DEBUGINFOD_URLS"));
	buf_free(&out);
	/* more than 8 */
	list[6] = &m[6];
	for (int i = 0; i < 12; i++)
		m[i].lacks_symbols = true;
	assert_int_equal(pprof_symbols_note(list, 12, &out), 1);
	assert_non_null(strstr(out.data, "/usr/bin/prog7 and 4 more: "));
	assert_null(strstr(out.data, "prog8"));
	buf_free(&out);
	assert_int_equal(pprof_symbols_note(NULL, 3, &out), -EINVAL);
	assert_int_equal(pprof_symbols_note(NULL, 0, &out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_symbolized),
		cmocka_unit_test(test_all_named_sets_has_functions),
		cmocka_unit_test(test_no_mapping_list),
		cmocka_unit_test(test_unsymbolized),
		cmocka_unit_test(test_delta_negative_values),
		cmocka_unit_test(test_two_processes),
		cmocka_unit_test(test_empty_set),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_many_samples_dedup),
		cmocka_unit_test(test_count_text_symbolized),
		cmocka_unit_test(test_contention_text),
		cmocka_unit_test(test_count_text_unsymbolized),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_symbols_note),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
