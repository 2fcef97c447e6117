// SPDX-License-Identifier: MIT
/* The resource history without a sampler: --history-interval's forms, good and bad; the ring
 * keeps the last `length` rows in order; series of a set are capped and found by PID; CSV rows,
 * unknown values and quoting; charts hold at most HISTORY_CHART_POINTS points and the last value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/history.h"

static void test_interval_parse(void **state)
{
	static const struct {
		const char *s;
		int64_t want; /* 0: refused */
	} cases[] = {
		{ "10s", 10000000000ll }, { "1s", 1000000000ll },   { "1m", 60000000000ll }, { "60m", 3600000000000ll },
		{ "1h", 3600000000000ll }, { "3600s", 3600000000000ll },
		{ "0s", 0 }, { "2h", 0 }, { "3601s", 0 }, { "61m", 0 }, { "10", 0 }, { "s", 0 }, { "", 0 },
		{ "-1s", 0 }, { "1.5s", 0 }, { "10ms", 0 }, { "10 s", 0 }, { "1d", 0 }, { "99999999999999999999s", 0 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ns = -1;
		int r = history_interval_parse(cases[i].s, &ns, err, sizeof(err));

		if (cases[i].want) {
			assert_int_equal(r, 0);
			assert_int_equal(ns, cases[i].want);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_non_null(strstr(err, "--history-interval"));
		}
	}
	assert_int_equal(history_interval_parse(NULL, &(int64_t){ 0 }, err, sizeof(err)), -EINVAL);
}

static void test_config_refused(void **state)
{
	struct history *h = NULL;
	struct history_config bad[] = {
		{ 0, 10, 0 },                                         /* interval 0 */
		{ HISTORY_MAX_INTERVAL_NS + 1, 10, 0 },
		{ HISTORY_DEFAULT_INTERVAL_NS, HISTORY_MAX_LENGTH + 1, 0 },
		{ HISTORY_DEFAULT_INTERVAL_NS, 10, HISTORY_MAX_PROCS + 1 },
		{ HISTORY_DEFAULT_INTERVAL_NS, 10, -1 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(history__new(&bad[i], &h), -EINVAL);
		assert_null(h);
	}
	history__free(NULL);
}

/* the lines of a CSV after its header, as one string */
static const char *csv_rows(struct history *h, int series, struct buf *b)
{
	const char *nl;

	buf_reset(b);
	assert_int_equal(history__write_csv(h, series, b), 0);
	nl = strchr(b->data, '\n');
	assert_non_null(nl);
	return nl + 1;
}

static void test_ring_single(void **state)
{
	struct history_config cfg = { HISTORY_DEFAULT_INTERVAL_NS, 3, 0 };
	struct history *h = NULL;
	struct buf b = { 0 };

	assert_int_equal(history__new(&cfg, &h), 0);
	assert_string_equal(csv_rows(h, -1, &b), "");
	for (uint32_t i = 1; i <= 5; i++) {
		struct history_point p = { i, 10 * i, 100 * i, i == 4 ? HISTORY_UNKNOWN : i };

		history__add_row(h, 1700000000 + i, &p);
	}
	assert_int_equal(history__rows(h), 3);
	/* the last three, oldest first; KiB shown in bytes; the unknown heap empty */
	assert_string_equal(b.data ? csv_rows(h, -1, &b) : "",
			    "2023-11-14T22:13:23Z,0,(all),3072,30,300,3072\n"
			    "2023-11-14T22:13:24Z,0,(all),4096,40,400,\n"
			    "2023-11-14T22:13:25Z,0,(all),5120,50,500,5120\n");
	assert_int_equal(strncmp(b.data, "time,pid,process,rss_bytes,threads,open_fds,heap_inuse_bytes\n",
				 strlen("time,pid,process,rss_bytes,threads,open_fds,heap_inuse_bytes\n")), 0);
	assert_int_equal(history__find(h, 0), 0);
	assert_int_equal(history__find(h, 1234), -ENOENT); /* the sampler names the one process */
	buf_free(&b);
	history__free(h);
}

static void test_set_series(void **state)
{
	struct history_config cfg = { HISTORY_DEFAULT_INTERVAL_NS, 4, 2 };
	struct history_point pts[3] = {
		{ 30, 3, 3, 3 },
		{ 10, 1, 1, 1 },
		{ HISTORY_UNKNOWN, HISTORY_UNKNOWN, HISTORY_UNKNOWN, HISTORY_UNKNOWN }, /* not yet seen */
	};
	struct history *h = NULL;
	struct buf b = { 0 };

	assert_int_equal(history__new(&cfg, &h), 0);
	assert_int_equal(history__series(h, 100, 5, "a,b"), 1);
	assert_int_equal(history__series(h, 100, 5, "a,b"), 1);   /* the same process */
	assert_int_equal(history__series(h, 200, 6, "w"), 2);
	assert_int_equal(history__series(h, 300, 7, "x"), -ENOSPC); /* full: counted in the total only */
	assert_int_equal(history__series(h, 100, 9, "a,b"), -ENOSPC); /* a reused PID is another process */
	history__add_row(h, 0, pts);
	assert_int_equal(history__find(h, 100), 1);
	assert_int_equal(history__find(h, 200), 2);
	assert_int_equal(history__find(h, 300), -ENOENT);
	/* the total has an empty pid; a name with a comma is quoted; unknown points are left out */
	assert_string_equal(csv_rows(h, -1, &b), "1970-01-01T00:00:00Z,,(all),30720,3,3,3072\n"
						 "1970-01-01T00:00:00Z,100,\"a,b\",10240,1,1,1024\n");
	assert_string_equal(csv_rows(h, 1, &b), "1970-01-01T00:00:00Z,100,\"a,b\",10240,1,1,1024\n");
	assert_string_equal(csv_rows(h, 2, &b), "");
	buf_free(&b);
	history__free(h);
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

static void test_charts(void **state)
{
	struct history_config cfg = { HISTORY_DEFAULT_INTERVAL_NS, 5000, 0 };
	struct history *h = NULL;
	struct buf b = { 0 };
	const char *poly;
	int points = 0;

	assert_int_equal(history__new(&cfg, &h), 0);
	assert_int_equal(history__write_charts(h, 0, &b), 0);
	assert_int_equal(count(b.data, "<svg"), 0); /* nothing sampled yet: no chart */
	for (uint32_t i = 0; i < 5000; i++) {
		/* a stair: one step every 1000 samples, and one spike that a chart must not lose */
		struct history_point p = { 1024 * (i / 1000 + 1), i / 1000 + 1, i == 2345 ? 999 : 7, HISTORY_UNKNOWN };

		history__add_row(h, 1000 + i, &p);
	}
	buf_reset(&b);
	assert_int_equal(history__write_charts(h, 0, &b), 0);
	assert_int_equal(count(b.data, "<svg"), 4);
	assert_non_null(strstr(b.data, "data-metric='rss_bytes' data-points='5000' data-last='5242880' data-max='5242880'"));
	assert_non_null(strstr(b.data, "data-metric='threads' data-points='5000' data-last='5'"));
	assert_non_null(strstr(b.data, "data-metric='open_fds' data-points='5000' data-last='7' data-max='999'"));
	assert_non_null(strstr(b.data, "data-metric='heap_inuse_bytes' data-points='0'>"));
	poly = strstr(b.data, "<polyline");
	assert_non_null(poly);
	poly = strstr(poly, " points='");
	assert_non_null(poly);
	for (poly += 9; *poly != '\''; poly++)
		points += *poly == ',';
	assert_true(points > 0 && points <= HISTORY_CHART_POINTS);
	buf_free(&b);
	history__free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_parse), cmocka_unit_test(test_config_refused),
		cmocka_unit_test(test_ring_single),    cmocka_unit_test(test_set_series),
		cmocka_unit_test(test_charts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
