// SPDX-License-Identifier: MIT
/* Heap source pieces that need no privileges: Go's heap scaling (bit-identical to the worked
 * examples of pprof-compat.md 3.7), the exponential interval table, flag parsing. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/heap.h"

static void test_scale_go_examples(void **state)
{
	int64_t c, s;

	/* 3 allocations x 4096 B at rate 524288 -> scale 128.50065 */
	heap_scale(3, 12288, 524288, &c, &s);
	assert_int_equal(c, 385);
	assert_int_equal(s, 1579015);
	/* 1 x 1 MiB -> scale 1.1565176 */
	heap_scale(1, 1048576, 524288, &c, &s);
	assert_int_equal(c, 1);
	assert_int_equal(s, 1212696);
	/* rate 1: every allocation recorded, no scaling */
	heap_scale(7, 700, 1, &c, &s);
	assert_int_equal(c, 7);
	assert_int_equal(s, 700);
	/* zero in, zero out */
	heap_scale(0, 0, 524288, &c, &s);
	assert_int_equal(c, 0);
	assert_int_equal(s, 0);
	heap_scale(5, 0, 524288, &c, &s);
	assert_int_equal(c, 0);
	assert_int_equal(s, 0);
}

static void test_exp_table(void **state)
{
	enum { N = 4096 };
	static uint64_t t[N];
	double sum = 0, below = 0;

	heap_fill_exp_table(t, N, 524288);
	for (int i = 0; i < N; i++) {
		sum += (double)t[i];
		if (t[i] < 524288)
			below++;
		if (i > 0)
			assert_true(t[i] <= t[i - 1]); /* -ln(u) decreases with u */
	}
	/* mean of an exponential = rate (within 0.1%); P(X < mean) = 1 - 1/e */
	assert_true(fabs(sum / N / 524288 - 1) < 0.001);
	assert_true(fabs(below / N - (1 - exp(-1))) < 0.001);
	heap_fill_exp_table(t, N, 1);
	assert_true(t[N - 1] == 0 && t[0] >= 8);
}

static void test_mode_parse(void **state)
{
	enum heap_mode m;
	char err[256];

	assert_int_equal(heap_mode_parse("inuse", &m, err, sizeof(err)), 0);
	assert_int_equal(m, HEAP_MODE_INUSE);
	assert_int_equal(heap_mode_parse("allocs", &m, err, sizeof(err)), 0);
	assert_int_equal(m, HEAP_MODE_ALLOCS);
	assert_int_equal(heap_mode_parse("off", &m, err, sizeof(err)), 0);
	assert_int_equal(m, HEAP_MODE_OFF);
	assert_int_equal(heap_mode_parse("demand", &m, err, sizeof(err)), 0);
	assert_int_equal(m, HEAP_MODE_DEMAND);
	assert_int_equal(heap_mode_parse("live", &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--heap: expected demand, inuse, allocs or off, got 'live'"));
	assert_int_equal(heap_mode_parse("", &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(heap_mode_name(HEAP_MODE_ALLOCS), "allocs");
}

static void test_rate_parse(void **state)
{
	static const struct {
		const char *in;
		int ret;
		uint64_t want;
	} cases[] = {
		{ "524288", 0, 524288 }, { "1", 0, 1 }, { "512k", 0, 524288 }, { "4M", 0, 4194304 },
		{ "1099511627776", 0, 1ull << 40 }, { "0", -EINVAL, 0 }, { "-5", -EINVAL, 0 },
		{ "", -EINVAL, 0 }, { "12x", -EINVAL, 0 }, { "1099511627777", -EINVAL, 0 },
		{ "99999999999999999999999", -EINVAL, 0 }, { "+3", -EINVAL, 0 }, { "4 M", -EINVAL, 0 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		int r = heap_rate_parse(cases[i].in, &v, err, sizeof(err));

		assert_int_equal(r, cases[i].ret);
		if (r == 0)
			assert_int_equal(v, cases[i].want);
		else
			assert_non_null(strstr(err, "--heap-rate:"));
	}
}

static void test_idle_parse(void **state)
{
	static const struct {
		const char *in;
		int ret;
		int64_t want_s;
	} cases[] = {
		{ "10m", 0, 600 }, { "90s", 0, 90 }, { "1h", 0, 3600 }, { "1s", 0, 1 }, { "168h", 0, 604800 },
		{ "169h", -EINVAL, 0 }, { "0s", -EINVAL, 0 }, { "10", -EINVAL, 0 }, { "", -EINVAL, 0 },
		{ "m", -EINVAL, 0 }, { "-5m", -EINVAL, 0 }, { "5 m", -EINVAL, 0 }, { "1.5m", -EINVAL, 0 },
		{ "10d", -EINVAL, 0 }, { "99999999999999999999h", -EINVAL, 0 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ns = 0;
		int r = heap_idle_parse(cases[i].in, &ns, err, sizeof(err));

		assert_int_equal(r, cases[i].ret);
		if (r == 0)
			assert_true(ns == cases[i].want_s * 1000000000ll);
		else
			assert_non_null(strstr(err, "--heap-idle:"));
	}
}

static void test_budget_parse(void **state)
{
	static const struct {
		const char *in;
		int ret;
		double want;
	} cases[] = {
		{ "2", 0, 2 }, { "0.5", 0, 0.5 }, { "100", 0, 100 }, { "2%", 0, 2 }, { "0", -EINVAL, 0 },
		{ "100.5", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "", -EINVAL, 0 }, { "two", -EINVAL, 0 },
		{ "nan", -EINVAL, 0 }, { "inf", -EINVAL, 0 }, { "2%%", -EINVAL, 0 }, { "1e1", -EINVAL, 0 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double v = 0;
		int r = heap_budget_parse(cases[i].in, &v, err, sizeof(err));

		assert_int_equal(r, cases[i].ret);
		if (r == 0)
			assert_true(v == cases[i].want);
		else
			assert_non_null(strstr(err, "--heap-budget:"));
	}
}

static void test_defaults_and_dir(void **state)
{
	struct heap_config cfg;
	char err[256];

	heap_config_default(&cfg);
	assert_int_equal(cfg.mode, HEAP_MODE_DEMAND);
	assert_int_equal(cfg.rate, HEAP_DEFAULT_RATE);
	assert_true(cfg.idle_ns == HEAP_DEFAULT_IDLE_NS);
	assert_true(cfg.budget_pct == HEAP_DEFAULT_BUDGET);
	assert_int_equal(heap_snapshot_dir_check("/nonexistent/profd", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--snapshot-dir: cannot use '/nonexistent/profd'"));
	assert_int_equal(heap_snapshot_dir_check("/etc/hostname", err, sizeof(err)), -ENOTDIR);
	assert_int_equal(heap_snapshot_dir_check("", err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scale_go_examples),
		cmocka_unit_test(test_exp_table),
		cmocka_unit_test(test_mode_parse),
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_idle_parse),
		cmocka_unit_test(test_budget_parse),
		cmocka_unit_test(test_defaults_and_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
