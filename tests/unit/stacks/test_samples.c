// SPDX-License-Identifier: MIT
/* Sample sets: merging by (stack, labels), the delta of two snapshots exactly as Go's
 * serveDeltaProfile computes it with profile.Merge (pprof-compat.md 1.8), sorting, the bound on
 * distinct samples, and bad arguments. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stacks/samples.h"

#include "alloc_sweep.h"

static const struct profd_value_type heap_types[4] = {
	{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
	{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
};

static struct profd_sample_set *heap_set_or_null(int64_t time_nanos)
{
	struct profd_sample_set *set = sample_set__new(4);

	if (!set)
		return NULL;
	memcpy(set->types, heap_types, sizeof(heap_types));
	set->period_type = (struct profd_value_type){ "space", "bytes" };
	set->period = 524288;
	set->time_nanos = time_nanos;
	return set;
}

static struct profd_sample_set *heap_set(int64_t time_nanos)
{
	struct profd_sample_set *set = heap_set_or_null(time_nanos);

	assert_non_null(set);
	return set;
}

static int64_t vbuf[4];
static const int64_t *V(int64_t a, int64_t b, int64_t c, int64_t d)
{
	vbuf[0] = a;
	vbuf[1] = b;
	vbuf[2] = c;
	vbuf[3] = d;
	return vbuf;
}

/* The sample with exactly this stack and labels, or NULL. */
static const struct profd_sample *find(const struct profd_sample_set *set, const uint64_t *pcs, uint32_t n,
				       const struct profd_label *labels, uint32_t nl)
{
	for (size_t i = 0; i < set->nsamples; i++) {
		const struct profd_sample *s = &set->samples[i];
		bool same = s->nframes == n && s->nlabels == nl && (!n || !memcmp(s->pcs, pcs, n * sizeof(*pcs)));

		for (uint32_t l = 0; same && l < nl; l++) {
			const struct profd_label *a = &s->labels[l], *b = &labels[l];

			same = !strcmp(a->key, b->key) && !a->str == !b->str && (!a->str || !strcmp(a->str, b->str)) &&
			       a->num == b->num;
		}
		if (same)
			return s;
	}
	return NULL;
}

static void assert_values(const struct profd_sample *s, int64_t a, int64_t b, int64_t c, int64_t d)
{
	assert_non_null(s);
	assert_int_equal(s->values[0], a);
	assert_int_equal(s->values[1], b);
	assert_int_equal(s->values[2], c);
	assert_int_equal(s->values[3], d);
}

static void test_new_bounds(void **state)
{
	struct profd_sample_set *set;

	(void)state;
	assert_null(sample_set__new(0));
	assert_null(sample_set__new(PROFD_MAX_VALUES + 1));
	assert_null(sample_set__new(-1));
	set = sample_set__new(PROFD_MAX_VALUES);
	assert_non_null(set);
	assert_int_equal(set->nvalues, PROFD_MAX_VALUES);
	assert_int_equal(set->default_sample_type, -1);
	assert_int_equal(set->max_samples, PROFD_MAX_SAMPLES);
	assert_true(set->time_nanos > 1600000000000000000); /* now, in ns since the epoch */
	assert_int_equal(set->nsamples, 0);
	sample_set__free(set);
	sample_set__free(NULL);
}

static void test_merge_by_stack_and_labels(void **state)
{
	struct profd_sample_set *set = heap_set(1);
	uint64_t a[] = { 0x10, 0x20, 0x30 }, a_prefix[] = { 0x10, 0x20 }, b[] = { 0x30, 0x20, 0x10 };
	struct profd_label str1 = { .key = "thread", .str = "w1" }, str2 = { .key = "thread", .str = "w2" };
	struct profd_label num1 = { .key = "bytes", .num = 64, .unit = "bytes" };
	struct profd_label num2 = { .key = "bytes", .num = 128, .unit = "bytes" };
	struct profd_label two[] = { str1, num1 };
	char dyn[8] = "w1";
	struct profd_label dyn_label = { .key = "thread", .str = dyn };

	(void)state;
	assert_int_equal(sample_set__add(set, a, 3, V(1, 10, 1, 10), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, a, 3, V(2, 20, 0, 0), NULL, 0), 0);
	assert_int_equal(set->nsamples, 1);
	assert_values(&set->samples[0], 3, 30, 1, 10);

	/* different stacks: a prefix, the reverse, and the empty stack are all distinct */
	assert_int_equal(sample_set__add(set, a_prefix, 2, V(1, 1, 1, 1), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, b, 3, V(1, 1, 1, 1), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, NULL, 0, V(1, 1, 1, 1), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, NULL, 0, V(1, 1, 1, 1), NULL, 0), 0);
	assert_int_equal(set->nsamples, 4);
	assert_values(find(set, NULL, 0, NULL, 0), 2, 2, 2, 2);

	/* labels are part of the key: string value, numeric value, label order */
	assert_int_equal(sample_set__add(set, a, 3, V(1, 0, 0, 0), &str1, 1), 0);
	assert_int_equal(sample_set__add(set, a, 3, V(1, 0, 0, 0), &str2, 1), 0);
	assert_int_equal(sample_set__add(set, a, 3, V(1, 0, 0, 0), &num1, 1), 0);
	assert_int_equal(sample_set__add(set, a, 3, V(1, 0, 0, 0), &num2, 1), 0);
	assert_int_equal(sample_set__add(set, a, 3, V(1, 0, 0, 0), two, 2), 0);
	assert_int_equal(set->nsamples, 9);
	/* the set copies label strings: the caller's buffer may change afterwards */
	assert_int_equal(sample_set__add(set, a, 3, V(5, 0, 0, 0), &dyn_label, 1), 0);
	strcpy(dyn, "zz");
	assert_int_equal(set->nsamples, 9);
	assert_values(find(set, a, 3, &str1, 1), 6, 0, 0, 0);
	assert_values(find(set, a, 3, &str2, 1), 1, 0, 0, 0);
	assert_values(find(set, a, 3, &num2, 1), 1, 0, 0, 0);
	assert_values(find(set, a, 3, two, 2), 1, 0, 0, 0);
	sample_set__free(set);
}

static void test_many_samples_grow(void **state)
{
	struct profd_sample_set *set = heap_set(1);

	(void)state;
	/* enough to rehash the index several times; every add of a known stack must merge */
	for (int round = 0; round < 2; round++)
		for (uint64_t i = 0; i < 20000; i++) {
			uint64_t st[2] = { i, i * 3 + 1 };

			assert_int_equal(sample_set__add(set, st, 2, V(1, (int64_t)i, 0, 0), NULL, 0), 0);
		}
	assert_int_equal(set->nsamples, 20000);
	for (uint64_t i = 0; i < 20000; i += 997) {
		uint64_t st[2] = { i, i * 3 + 1 };

		assert_values(find(set, st, 2, NULL, 0), 2, 2 * (int64_t)i, 0, 0);
	}
	sample_set__free(set);
}

static void test_max_samples(void **state)
{
	struct profd_sample_set *set = heap_set(1);
	uint64_t pc;

	(void)state;
	set->max_samples = 3;
	for (pc = 1; pc <= 3; pc++)
		assert_int_equal(sample_set__add(set, &pc, 1, V(1, 1, 1, 1), NULL, 0), 0);
	pc = 4;
	assert_int_equal(sample_set__add(set, &pc, 1, V(1, 1, 1, 1), NULL, 0), -ENOSPC);
	assert_int_equal(set->nsamples, 3);
	/* a known stack still merges when the set is full */
	pc = 2;
	assert_int_equal(sample_set__add(set, &pc, 1, V(1, 1, 1, 1), NULL, 0), 0);
	assert_values(find(set, &pc, 1, NULL, 0), 2, 2, 2, 2);
	assert_int_equal(set->nsamples, 3);
	sample_set__free(set);
}

static void test_add_bad_args(void **state)
{
	struct profd_sample_set *set = heap_set(1);
	uint64_t pcs[PROFD_MAX_FRAMES + 1] = { 0 };
	struct profd_label labels[PROFD_MAX_LABELS + 1] = { { .key = "a", .str = "b" }, { .key = "c", .num = 1 },
							     { .key = "d", .num = 2 } };

	(void)state;
	assert_int_equal(sample_set__add(NULL, pcs, 1, V(1, 1, 1, 1), NULL, 0), -EINVAL);
	assert_int_equal(sample_set__add(set, NULL, 1, V(1, 1, 1, 1), NULL, 0), -EINVAL);
	assert_int_equal(sample_set__add(set, pcs, 1, NULL, NULL, 0), -EINVAL);
	assert_int_equal(sample_set__add(set, pcs, PROFD_MAX_FRAMES + 1, V(1, 1, 1, 1), NULL, 0), -EINVAL);
	assert_int_equal(sample_set__add(set, pcs, 1, V(1, 1, 1, 1), labels, PROFD_MAX_LABELS + 1), -EINVAL);
	assert_int_equal(set->nsamples, 0);
	assert_int_equal(sample_set__add(set, pcs, PROFD_MAX_FRAMES, V(1, 1, 1, 1), labels, PROFD_MAX_LABELS), 0);
	assert_int_equal(set->nsamples, 1);
	sample_set__free(set);
}

static void test_comments_bounded(void **state)
{
	struct profd_sample_set *set = heap_set(1);

	(void)state;
	for (int i = 0; i < PROFD_MAX_COMMENTS + 10; i++)
		assert_int_equal(sample_set__comment(set, "comment %d", i), 0);
	assert_int_equal(set->ncomments, PROFD_MAX_COMMENTS);
	assert_string_equal(set->comments[0], "comment 0");
	assert_string_equal(set->comments[PROFD_MAX_COMMENTS - 1], "comment 31");
	sample_set__free(set);
}

/* Go: p0.Scale(-1); Merge([p0, p1]); zero samples dropped, negatives kept, time = t1,
 * duration = t1 - t0. The [OBS] example of pprof-compat.md 1.8: "1 1212697 -1 -1212696". */
static void test_subtract_values(void **state)
{
	struct profd_sample_set *p0 = heap_set(1000), *p1 = heap_set(4000);
	uint64_t kept[] = { 0xa1, 0xa2 }, same[] = { 0xb1 }, gone[] = { 0xc1 }, fresh[] = { 0xd1 };
	struct profd_label l1 = { .key = "bytes", .num = 1024 }, l2 = { .key = "bytes", .num = 2048 };

	(void)state;
	assert_int_equal(sample_set__add(p0, kept, 2, V(1, 1212696, 1, 1212696), NULL, 0), 0);
	assert_int_equal(sample_set__add(p1, kept, 2, V(2, 2425393, 0, 0), NULL, 0), 0);
	/* identical in both: dropped */
	assert_int_equal(sample_set__add(p0, same, 1, V(3, 300, 3, 300), NULL, 0), 0);
	assert_int_equal(sample_set__add(p1, same, 1, V(3, 300, 3, 300), NULL, 0), 0);
	/* only in p0: appears negated */
	assert_int_equal(sample_set__add(p0, gone, 1, V(0, 0, 2, 64), NULL, 0), 0);
	/* only in p1: kept as is */
	assert_int_equal(sample_set__add(p1, fresh, 1, V(1, 8, 1, 8), NULL, 0), 0);
	/* same stack, different labels: not subtracted from each other */
	assert_int_equal(sample_set__add(p0, same, 1, V(1, 1, 1, 1), &l1, 1), 0);
	assert_int_equal(sample_set__add(p1, same, 1, V(1, 1, 1, 1), &l2, 1), 0);
	/* an all-zero sample in p1 is dropped like Go's isZeroSample */
	assert_int_equal(sample_set__add(p1, kept, 1, V(0, 0, 0, 0), NULL, 0), 0);

	assert_int_equal(sample_set__subtract(p1, p0), 0);
	assert_int_equal(p1->nsamples, 5);
	assert_values(find(p1, kept, 2, NULL, 0), 1, 1212697, -1, -1212696);
	assert_null(find(p1, same, 1, NULL, 0));
	assert_null(find(p1, kept, 1, NULL, 0));
	assert_values(find(p1, gone, 1, NULL, 0), 0, 0, -2, -64);
	assert_values(find(p1, fresh, 1, NULL, 0), 1, 8, 1, 8);
	assert_values(find(p1, same, 1, &l1, 1), -1, -1, -1, -1);
	assert_values(find(p1, same, 1, &l2, 1), 1, 1, 1, 1);
	assert_int_equal(p1->time_nanos, 4000);
	assert_int_equal(p1->duration_nanos, 3000);
	/* p0 is untouched */
	assert_int_equal(p0->nsamples, 4);
	assert_values(find(p0, kept, 2, NULL, 0), 1, 1212696, 1, 1212696);

	/* the index survives the compaction: adding a known stack merges */
	assert_int_equal(sample_set__add(p1, kept, 2, V(1, 1, 1, 1), NULL, 0), 0);
	assert_int_equal(p1->nsamples, 5);
	assert_values(find(p1, kept, 2, NULL, 0), 2, 1212698, 0, -1212695);
	sample_set__free(p0);
	sample_set__free(p1);
}

/* The headers as profile.Merge([p0, p1]) combines them: period = max, comments of both
 * de-duplicated in order (p0's first), default_sample_type = the first non-empty one. */
static void test_subtract_headers(void **state)
{
	struct profd_sample_set *p0 = heap_set(1000), *p1 = heap_set(2000);

	(void)state;
	p0->period = 1048576;
	p0->default_sample_type = 1; /* allocs: alloc_space */
	assert_int_equal(sample_set__comment(p0, "rate 512 KiB"), 0);
	assert_int_equal(sample_set__comment(p0, "dropped 1"), 0);
	assert_int_equal(sample_set__comment(p1, "rate 512 KiB"), 0);
	assert_int_equal(sample_set__comment(p1, "dropped 4"), 0);
	assert_int_equal(sample_set__subtract(p1, p0), 0);
	assert_int_equal(p1->period, 1048576);
	assert_int_equal(p1->default_sample_type, 1);
	assert_int_equal(p1->ncomments, 3);
	assert_string_equal(p1->comments[0], "rate 512 KiB");
	assert_string_equal(p1->comments[1], "dropped 1");
	assert_string_equal(p1->comments[2], "dropped 4");
	assert_int_equal(p1->duration_nanos, 1000);
	sample_set__free(p0);
	sample_set__free(p1);
}

/* Merge refuses profiles whose sample or period types differ ("failed to compute delta"). */
static void test_subtract_incompatible(void **state)
{
	struct profd_sample_set *p0 = heap_set(1), *p1 = heap_set(2), *cpu = sample_set__new(2);
	uint64_t pc = 1;

	(void)state;
	assert_int_equal(sample_set__add(p1, &pc, 1, V(1, 1, 1, 1), NULL, 0), 0);
	assert_int_equal(sample_set__subtract(p1, cpu), -EINVAL);
	p0->types[2].type = "inuse_space_typo";
	assert_int_equal(sample_set__subtract(p1, p0), -EINVAL);
	p0->types[2] = heap_types[2];
	p0->period_type.unit = "objects";
	assert_int_equal(sample_set__subtract(p1, p0), -EINVAL);
	assert_int_equal(p1->nsamples, 1);
	assert_values(&p1->samples[0], 1, 1, 1, 1);
	sample_set__free(p0);
	sample_set__free(p1);
	sample_set__free(cpu);
}

static void test_sort(void **state)
{
	struct profd_sample_set *set = heap_set(1);
	uint64_t s1[] = { 5 }, s2[] = { 3, 9 }, s3[] = { 3 }, s4[] = { 2, 1 }, s5[] = { 7 };
	struct profd_label la = { .key = "k", .str = "a" }, lb = { .key = "k", .str = "b" };

	(void)state;
	assert_int_equal(sample_set__add(set, s1, 1, V(1, 50, 0, 0), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, s2, 2, V(1, 70, 0, 0), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, s3, 1, V(1, 70, 0, 0), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, s4, 2, V(1, 70, 0, 0), NULL, 0), 0);
	assert_int_equal(sample_set__add(set, s5, 1, V(1, -5, 0, 0), &lb, 1), 0);
	assert_int_equal(sample_set__add(set, s5, 1, V(1, -5, 0, 0), &la, 1), 0);
	sample_set__sort(set, 1);
	/* values[1] descending; ties by stack: pcs in order, a prefix first; then insertion order */
	assert_int_equal(set->samples[0].pcs[0], 2);
	assert_int_equal(set->samples[1].nframes, 1);
	assert_int_equal(set->samples[1].pcs[0], 3);
	assert_int_equal(set->samples[2].nframes, 2);
	assert_int_equal(set->samples[2].pcs[1], 9);
	assert_int_equal(set->samples[3].pcs[0], 5);
	assert_string_equal(set->samples[4].labels[0].str, "b");
	assert_string_equal(set->samples[5].labels[0].str, "a");
	/* the index follows the new positions */
	assert_int_equal(sample_set__add(set, s1, 1, V(1, 1, 0, 0), NULL, 0), 0);
	assert_int_equal(set->nsamples, 6);
	assert_values(&set->samples[3], 2, 51, 0, 0);
	/* bad columns are ignored */
	sample_set__sort(set, -1);
	sample_set__sort(set, 4);
	assert_int_equal(set->samples[3].pcs[0], 5);
	sample_set__free(set);
}

#ifdef ALLOC_SWEEP
/* Builds two sets and their delta with allocation number i failing (i < 0: none). Returns the
 * first error; everything is freed either way. */
static int build_and_subtract(long i)
{
	struct profd_sample_set *p0 = NULL, *p1 = NULL;
	struct profd_label lab = { .key = "thread", .str = "worker" };
	int err = -ENOMEM;

	fail_after = i;
	p0 = heap_set_or_null(1);
	p1 = heap_set_or_null(2);
	if (!p0 || !p1)
		goto cleanup;
	for (uint64_t k = 0; k < 40; k++) {
		uint64_t st[3] = { k, k + 1, k % 3 };

		if ((err = sample_set__add(p0, st, 3, V(1, 2, 3, 4), k % 2 ? &lab : NULL, k % 2)) ||
		    (err = sample_set__add(p1, st, (uint32_t)(k % 4), V(5, 6, 7, 8), &lab, 1)))
			goto cleanup;
	}
	if ((err = sample_set__comment(p0, "a")) || (err = sample_set__comment(p1, "b")) ||
	    (err = sample_set__subtract(p1, p0)))
		goto cleanup;
	sample_set__sort(p1, 0);
cleanup:
	fail_after = -1;
	sample_set__free(p0);
	sample_set__free(p1);
	return err;
}
#endif

static void test_alloc_failures(void **state)
{
#ifdef ALLOC_SWEEP
	long total, before;

	(void)state;
	allocations = 0;
	assert_int_equal(build_and_subtract(-1), 0);
	total = allocations;
	for (long i = 0; i < total; i++) {
		int err;

		before = live;
		err = build_and_subtract(i);
		if (err != -ENOMEM && err != 0)
			fail_msg("allocation %ld of %ld failing gave %d", i, total, err);
		assert_int_equal(live, before);
	}
#else
	(void)state;
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_bounds),
		cmocka_unit_test(test_merge_by_stack_and_labels),
		cmocka_unit_test(test_many_samples_grow),
		cmocka_unit_test(test_max_samples),
		cmocka_unit_test(test_add_bad_args),
		cmocka_unit_test(test_comments_bounded),
		cmocka_unit_test(test_subtract_values),
		cmocka_unit_test(test_subtract_headers),
		cmocka_unit_test(test_subtract_incompatible),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
