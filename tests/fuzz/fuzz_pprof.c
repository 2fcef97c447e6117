// SPDX-License-Identifier: MIT
/* Fuzzes the pprof builder's inputs: bytes -> a sample set (stacks, values, labels, comments,
 * header fields, sorts and deltas) -> pprof_encode(sym = NULL) -> gunzip + protobuf-c unpack ->
 * every invariant of tests/unit/pprof_check.h, plus a sample-by-sample comparison with the set;
 * and pprof_write_count_text on the same set. Any broken invariant aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/pprof_check.h"
#include "pprof/pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p, *end;
};

static unsigned take(struct input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static uint64_t take_n(struct input *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | take(in);
	return v;
}

/* A string of up to 15 bytes from the input (any bytes but NUL) into buf. */
static const char *take_str(struct input *in, char *buf)
{
	unsigned n = take(in) % 16;

	for (unsigned i = 0; i < n; i++) {
		unsigned c = take(in);

		buf[i] = (char)(c ? c : 'x');
	}
	buf[n] = '\0';
	return buf;
}

static const char *const keys[] = { "thread", "bytes", "pprof::x", "k" };
static const char *const units[] = { NULL, "bytes", "count", "" };
static const struct profd_value_type vtypes[] = {
	{ "samples", "count" }, { "cpu", "nanoseconds" }, { "alloc_space", "bytes" }, { NULL, NULL }, { "", "" },
};

#define CHECK(cond, what)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_pprof: %s (%s:%d)\n", what, __FILE__, __LINE__); \
			abort();                                                            \
		}                                                                           \
	} while (0)

static void fill(struct profd_sample_set *set, struct input *in, int nvalues)
{
	char strbuf[16];

	for (int i = 0; i < nvalues; i++)
		set->types[i] = vtypes[take(in) % 5];
	if (take(in) & 1)
		set->period_type = vtypes[take(in) % 5];
	set->period = (int64_t)take_n(in, 4) - 1000;
	set->default_sample_type = (int)(take(in) % 6) - 1;
	set->time_nanos = (int64_t)take_n(in, 7); /* a clock reading: 0 .. 2^56 */
	set->duration_nanos = (int64_t)take_n(in, 2);
	while (in->p < in->end) {
		unsigned op = take(in) % 8;

		if (op <= 4) { /* add a sample: small pc space so that stacks and pcs repeat */
			uint64_t pcs[24];
			int64_t values[PROFD_MAX_VALUES];
			struct profd_label labels[PROFD_MAX_LABELS];
			char lstr[PROFD_MAX_LABELS][16];
			uint32_t nframes = take(in) % 24, nlabels = take(in) % (PROFD_MAX_LABELS + 1);
			int err;

			for (uint32_t f = 0; f < nframes; f++) {
				unsigned v = (unsigned)take_n(in, 2);

				pcs[f] = v == 0xffff ? UINT64_MAX : v >= 0x8000 ? (uint64_t)v << 20 : v;
			}
			for (int v = 0; v < nvalues; v++)
				values[v] = (int64_t)(int16_t)take_n(in, 2) * (v + 1);
			for (uint32_t l = 0; l < nlabels; l++) {
				unsigned k = take(in);

				labels[l].key = keys[k % 4];
				labels[l].str = (k & 4) ? (char *)take_str(in, lstr[l]) : NULL;
				labels[l].num = (int64_t)(int8_t)take(in);
				labels[l].unit = labels[l].str ? NULL : units[(k >> 3) % 4];
			}
			err = sample_set__add(set, pcs, nframes, values, labels, nlabels);
			CHECK(err == 0 || err == -ENOSPC, "sample_set__add failed");
		} else if (op == 5) {
			CHECK(sample_set__comment(set, "%s", take_str(in, strbuf)) == 0, "comment");
		} else if (op == 6) {
			sample_set__sort(set, (int)(take(in) % (PROFD_MAX_VALUES + 1)) - 1);
		} else {
			set->max_samples = take(in) % 64 + 1;
		}
	}
}

static const Perftools__Profiles__Location *loc(const Perftools__Profiles__Profile *p, uint64_t id)
{
	return p->location[id - 1];
}

/* The decoded profile says what the set says. */
static void compare(const struct profd_sample_set *set, const Perftools__Profiles__Profile *p)
{
	CHECK(p->n_sample == set->nsamples, "sample count");
	CHECK(p->n_sample_type == (size_t)set->nvalues, "sample type count");
	CHECK(p->n_mapping == 0 && p->n_function == 0, "tables without a symbolizer");
	CHECK(p->n_comment == (size_t)set->ncomments, "comment count");
	for (int c = 0; c < set->ncomments; c++)
		CHECK(strcmp(p->string_table[p->comment[c]], set->comments[c]) == 0, "comment text");
	CHECK(p->time_nanos == (set->time_nanos > 0 ? set->time_nanos : p->time_nanos), "time_nanos");
	CHECK(p->duration_nanos == (set->duration_nanos > 0 ? set->duration_nanos : 0), "duration_nanos");
	CHECK(p->period == set->period, "period");
	for (size_t i = 0; i < set->nsamples; i++) {
		const struct profd_sample *s = &set->samples[i];
		const Perftools__Profiles__Sample *ps = p->sample[i];

		CHECK(ps->n_location_id == s->nframes, "frame count");
		for (uint32_t f = 0; f < s->nframes; f++)
			CHECK(loc(p, ps->location_id[f])->address == (s->pcs[f] ? s->pcs[f] - 1 : 0),
			      "location address is not pc - 1");
		for (int v = 0; v < set->nvalues; v++)
			CHECK(ps->value[v] == s->values[v], "value");
		CHECK(ps->n_label == s->nlabels, "label count");
		for (uint32_t l = 0; l < s->nlabels; l++) {
			const Perftools__Profiles__Label *pl = ps->label[l];
			const struct profd_label *sl = &s->labels[l];

			CHECK(strcmp(p->string_table[pl->key], sl->key) == 0, "label key");
			if (sl->str)
				CHECK(strcmp(p->string_table[pl->str], sl->str) == 0 && pl->num == 0, "string label");
			else
				CHECK(pl->str == 0 && pl->num == sl->num &&
				      strcmp(p->string_table[pl->num_unit], sl->unit ? sl->unit : "") == 0,
				      "numeric label");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, data + size };
	struct profd_sample_set *set, *p0 = NULL;
	Perftools__Profiles__Profile *p;
	int nvalues = (int)(take(&in) % PROFD_MAX_VALUES) + 1;
	unsigned mode = take(&in);
	const char *why;
	struct buf out;
	int err;

	set = sample_set__new(nvalues);
	CHECK(set, "sample_set__new");
	if (mode & 1) { /* a delta: the first half of the rest is p0 */
		struct input half = { in.p, in.p + (size_t)(in.end - in.p) / 2 };

		p0 = sample_set__new(nvalues);
		CHECK(p0, "sample_set__new");
		fill(p0, &half, nvalues);
		in.p = half.end;
	}
	fill(set, &in, nvalues);
	if (p0) {
		memcpy(p0->types, set->types, sizeof(set->types));
		p0->period_type = set->period_type;
		set->max_samples = PROFD_MAX_SAMPLES;
		err = sample_set__subtract(set, p0);
		CHECK(err == 0, "subtract");
		for (size_t i = 0; i < set->nsamples; i++) {
			bool zero = true;

			for (int v = 0; v < nvalues; v++)
				zero &= set->samples[i].values[v] == 0;
			CHECK(!zero, "an all-zero sample survived the delta");
		}
	}

	buf_init(&out, 0);
	err = pprof_encode(set, NULL, &out);
	CHECK(err == 0, "pprof_encode failed");
	p = pprof_check_decode(out.data, out.len, &why);
	if (!p) {
		fprintf(stderr, "fuzz_pprof: profile rejected: %s\n", why);
		abort();
	}
	compare(set, p);
	perftools__profiles__profile__free_unpacked(p, NULL);

	buf_reset(&out);
	err = pprof_write_count_text("goroutine", set, NULL, &out);
	CHECK(err == 0, "pprof_write_count_text failed");
	CHECK(strncmp(out.data, "goroutine profile: total ", 25) == 0, "count text header");
	CHECK(out.len >= 2 && (set->nsamples == 0 || strcmp(out.data + out.len - 2, "\n\n") == 0),
	      "count text must end with a blank line");

	buf_free(&out);
	sample_set__free(set);
	sample_set__free(p0);
	return 0;
}
