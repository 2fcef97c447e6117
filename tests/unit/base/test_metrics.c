// SPDX-License-Identifier: MIT
/* The Prometheus text writer: families grouped whatever the order samples came in, HELP and TYPE
 * once each, label values and help escaped, values formatted exactly; bad names, counters not
 * ending in _total, a type that changes, too many labels refused; lookups by label. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/metrics.h"

static void test_grouped(void **state)
{
	struct metrics *m = metrics__new();
	struct metric_label a = { "pid", "1" }, b = { "pid", "2" };
	struct buf out = { 0 };

	assert_non_null(m);
	assert_int_equal(metrics__add(m, "x_bytes", METRIC_GAUGE, "X.", &a, 1, 10), 0);
	assert_int_equal(metrics__add(m, "y_total", METRIC_COUNTER, "Y.", NULL, 0, 1), 0);
	assert_int_equal(metrics__add(m, "x_bytes", METRIC_GAUGE, "ignored", &b, 1, 20), 0);
	assert_int_equal(metrics__write(m, &out), 0);
	assert_string_equal(out.data, "# HELP x_bytes X.\n# TYPE x_bytes gauge\nx_bytes{pid=\"1\"} 10\n"
				      "x_bytes{pid=\"2\"} 20\n# HELP y_total Y.\n# TYPE y_total counter\ny_total 1\n");
	buf_free(&out);
	metrics__free(m);
}

static void test_escaping_and_values(void **state)
{
	static const struct {
		double v;
		const char *text;
	} values[] = {
		{ 0, "0" },         { -3, "-3" },         { 1e15, "1000000000000000" },
		{ 0.08, "0.08" },   { 0.1 + 0.2, "0.30000000000000004" },
		{ 1e300, "1e+300" }, { NAN, "NaN" }, { INFINITY, "+Inf" }, { -INFINITY, "-Inf" },
	};
	struct metric_label l[2] = { { "process", "a\"b\\c\nd" }, { "kind", "x" } };
	struct buf out = { 0 };
	struct metrics *m = metrics__new();
	char want[128];

	assert_int_equal(metrics__add(m, "e", METRIC_GAUGE, "back\\slash\nnewline", l, 2, 1), 0);
	assert_int_equal(metrics__write(m, &out), 0);
	assert_string_equal(out.data, "# HELP e back\\\\slash\\nnewline\n# TYPE e gauge\n"
				      "e{process=\"a\\\"b\\\\c\\nd\",kind=\"x\"} 1\n");
	metrics__free(m);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		m = metrics__new();
		buf_reset(&out);
		assert_int_equal(metrics__add(m, "v", METRIC_GAUGE, "", NULL, 0, values[i].v), 0);
		assert_int_equal(metrics__write(m, &out), 0);
		snprintf(want, sizeof(want), "# HELP v \n# TYPE v gauge\nv %s\n", values[i].text);
		assert_string_equal(out.data, want);
		metrics__free(m);
	}
	buf_free(&out);
}

static void test_refused(void **state)
{
	struct metrics *m = metrics__new();
	struct metric_label bad = { "1x", "v" }, reserved = { "__name__", "v" }, ok = { "a", "v" };
	struct metric_label many[METRICS_MAX_LABELS + 1];
	struct buf out = { 0 };

	for (int i = 0; i <= METRICS_MAX_LABELS; i++)
		many[i] = ok;
	assert_int_equal(metrics__add(m, "", METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);
	assert_int_equal(metrics__add(m, "9a", METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);
	assert_int_equal(metrics__add(m, "a-b", METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);
	assert_int_equal(metrics__add(m, "c", METRIC_COUNTER, "", NULL, 0, 1), -EINVAL);      /* no _total */
	assert_int_equal(metrics__add(m, "g_total", METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);  /* _total gauge */
	assert_int_equal(metrics__add(m, "g", METRIC_GAUGE, "", &bad, 1, 1), -EINVAL);
	assert_int_equal(metrics__add(m, "g", METRIC_GAUGE, "", &reserved, 1, 1), -EINVAL);
	assert_int_equal(metrics__add(m, "g", METRIC_GAUGE, "", many, METRICS_MAX_LABELS + 1, 1), -EINVAL);
	assert_int_equal(metrics__add(m, "g", METRIC_GAUGE, "", NULL, 0, 1), 0);
	assert_int_equal(metrics__add(m, "g_total", METRIC_COUNTER, "", NULL, 0, 1), 0);
	assert_true(metrics_name_ok("a:b_c9"));
	/* nothing of the refused ones was kept */
	assert_int_equal(metrics__write(m, &out), 0);
	assert_string_equal(out.data, "# HELP g \n# TYPE g gauge\ng 1\n# HELP g_total \n# TYPE g_total counter\ng_total 1\n");
	buf_free(&out);
	metrics__free(m);
}

static void test_bounds(void **state)
{
	struct metrics *m = metrics__new();
	char name[32];

	for (int i = 0; i < METRICS_MAX_FAMILIES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(metrics__add(m, name, METRIC_GAUGE, "", NULL, 0, i), 0);
	}
	assert_int_equal(metrics__add(m, "one_more", METRIC_GAUGE, "", NULL, 0, 1), -ENOSPC);
	assert_int_equal(metrics__add(m, "f0", METRIC_GAUGE, "", NULL, 0, 2), 0); /* an existing family */
	metrics__free(m);
	metrics__free(NULL);
}

static void test_find(void **state)
{
	struct metrics *m = metrics__new();
	struct metric_label l1[2] = { { "pid", "12" }, { "process", "a,b" } }, l2[2] = { { "pid", "1" }, { "process", "x" } };
	double v = 0;

	assert_int_equal(metrics__add(m, "r", METRIC_GAUGE, "", l1, 2, 5), 0);
	assert_int_equal(metrics__add(m, "r", METRIC_GAUGE, "", l2, 2, 7), 0);
	assert_true(metrics__find(m, "r", "pid", "1", &v));
	assert_true(v == 7); /* pid="1", not the prefix of pid="12" */
	assert_true(metrics__find(m, "r", "pid", "12", &v));
	assert_true(v == 5);
	assert_true(metrics__find(m, "r", "process", "x", &v));
	assert_true(v == 7);
	assert_true(metrics__find(m, "r", NULL, NULL, &v));
	assert_true(v == 5);
	assert_false(metrics__find(m, "r", "pid", "2", &v));
	assert_false(metrics__find(m, "nope", NULL, NULL, &v));
	metrics__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grouped), cmocka_unit_test(test_escaping_and_values), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),	cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
