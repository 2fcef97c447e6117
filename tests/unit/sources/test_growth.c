// SPDX-License-Identifier: MIT
/* Growth source pieces that need no privileges: the sampling probability its scaling rests on,
 * the THP setting as sysfs words it, the folio size read back from /proc/kpageflags words, the
 * exponential interval table and the mode flag, with good and bad inputs. */
#include <errno.h>
#include <linux/types.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bpf/growth.h"
#include "sources/growth.h"

#define HEAD (1ull << 15)
#define TAIL (1ull << 16)
#define THP (1ull << 22)
#define ANON (1ull << 12)

static void test_sample_probability(void **state)
{
	/* 1 - exp(-w/r): a 4 KiB fault at 1 MiB, a 2 MiB fault at 1 MiB, at 32 KiB */
	assert_true(fabs(growth_sample_probability(4096, 1 << 20) - 0.0038986) < 1e-6);
	assert_true(fabs(growth_sample_probability(2 << 20, 1 << 20) - 0.8646647) < 1e-6);
	assert_true(fabs(growth_sample_probability(2 << 20, 32768) - 1) < 1e-12);
	/* scaled back: a sampled 4 KiB fault stands for about rate + weight / 2 bytes */
	assert_true(fabs(4096 / growth_sample_probability(4096, 1 << 20) - 1050625.33) < 0.01);
	/* rate 1: every fault, no scaling */
	assert_true(growth_sample_probability(4096, 1) == 1);
	assert_true(growth_sample_probability(4096, 0) == 1);
	/* nothing weighed, never sampled */
	assert_true(growth_sample_probability(0, 1 << 20) == 0);
}

static void test_thp_mode(void **state)
{
	static const struct {
		const char *enabled, *pmd;
		int want;
	} cases[] = {
		{ "always [madvise] never", NULL, PROFD_GROWTH_THP_MADVISE },
		{ "[always] madvise never", NULL, PROFD_GROWTH_THP_ALWAYS },
		{ "always madvise [never]", NULL, PROFD_GROWTH_THP_NEVER },
		/* 6.8+: the PMD size's own setting wins unless it inherits */
		{ "always [madvise] never", "always [inherit] madvise never", PROFD_GROWTH_THP_MADVISE },
		{ "always [madvise] never", "[always] inherit madvise never", PROFD_GROWTH_THP_ALWAYS },
		{ "[always] madvise never", "always inherit madvise [never]", PROFD_GROWTH_THP_NEVER },
		{ "always madvise [never]", "always inherit [madvise] never", PROFD_GROWTH_THP_MADVISE },
		/* unreadable (no THP in the kernel) or garbled: never */
		{ "", NULL, PROFD_GROWTH_THP_NEVER },
		{ NULL, NULL, PROFD_GROWTH_THP_NEVER },
		{ "always madvise never", NULL, PROFD_GROWTH_THP_NEVER },
		{ "[sometimes]", "[inherit]", PROFD_GROWTH_THP_NEVER },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (growth_thp_mode(cases[i].enabled, cases[i].pmd) != cases[i].want)
			fail_msg("case %zu: got %d, want %d", i, growth_thp_mode(cases[i].enabled, cases[i].pmd),
				 cases[i].want);
}

static void test_folio_bytes(void **state)
{
	static uint64_t kpf[512];

	/* small pages */
	memset(kpf, 0, sizeof(kpf));
	kpf[7] = ANON;
	assert_int_equal(growth_folio_bytes(kpf, 512, 7), 4096);
	assert_int_equal(growth_folio_bytes(kpf, 512, 0), 4096);
	/* a PMD THP: head at 0, 511 tails; any page of it */
	kpf[0] = ANON | THP | HEAD;
	for (int i = 1; i < 512; i++)
		kpf[i] = ANON | THP | TAIL;
	assert_int_equal(growth_folio_bytes(kpf, 512, 0), 2 << 20);
	assert_int_equal(growth_folio_bytes(kpf, 512, 300), 2 << 20);
	assert_int_equal(growth_folio_bytes(kpf, 512, 511), 2 << 20);
	/* a 64 KiB folio in the middle, between small pages and another folio */
	memset(kpf, 0, sizeof(kpf));
	kpf[32] = ANON | THP | HEAD;
	for (int i = 33; i < 48; i++)
		kpf[i] = ANON | THP | TAIL;
	kpf[48] = ANON | THP | HEAD;
	for (int i = 49; i < 52; i++)
		kpf[i] = ANON | THP | TAIL;
	assert_int_equal(growth_folio_bytes(kpf, 512, 40), 64 << 10);
	assert_int_equal(growth_folio_bytes(kpf, 512, 32), 64 << 10);
	assert_int_equal(growth_folio_bytes(kpf, 512, 50), 16 << 10);
	assert_int_equal(growth_folio_bytes(kpf, 512, 31), 4096);
	/* tails with no head in the block: a folio larger than the block */
	memset(kpf, 0, sizeof(kpf));
	for (int i = 0; i < 512; i++)
		kpf[i] = TAIL;
	assert_int_equal(growth_folio_bytes(kpf, 512, 9), 2 << 20);
	/* out of range */
	assert_int_equal(growth_folio_bytes(kpf, 512, 512), 4096);
	assert_int_equal(growth_folio_bytes(kpf, 0, 0), 4096);
}

static void test_exp_table(void **state)
{
	enum { N = PROFD_GROWTH_EXP_N };
	static uint64_t t[N];
	double sum = 0;

	growth_fill_exp_table(t, N, 1 << 20);
	for (int i = 0; i < N; i++) {
		sum += (double)t[i];
		if (i > 0)
			assert_true(t[i] <= t[i - 1]);
	}
	/* the mean interval is the rate */
	assert_true(fabs(sum / N / (1 << 20) - 1) < 0.001);
}

static void test_mode_parse(void **state)
{
	enum growth_mode m;
	char err[128];

	assert_int_equal(growth_mode_parse("demand", &m, err, sizeof(err)), 0);
	assert_int_equal(m, GROWTH_MODE_DEMAND);
	assert_int_equal(growth_mode_parse("always", &m, err, sizeof(err)), 0);
	assert_int_equal(m, GROWTH_MODE_ALWAYS);
	assert_int_equal(growth_mode_parse("off", &m, err, sizeof(err)), 0);
	assert_int_equal(m, GROWTH_MODE_OFF);
	assert_string_equal(growth_mode_name(GROWTH_MODE_ALWAYS), "always");
	assert_int_equal(growth_mode_parse("Demand", &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--growth: expected demand, always or off, got 'Demand'"));
	assert_int_equal(growth_mode_parse("", &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(growth_mode_parse(NULL, &m, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_probability),
		cmocka_unit_test(test_thp_mode),
		cmocka_unit_test(test_folio_bytes),
		cmocka_unit_test(test_exp_table),
		cmocka_unit_test(test_mode_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
