// SPDX-License-Identifier: MIT
/* Go's number parsing for pprof query parameters (pprof-compat.md 1.3 and 1.9). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/query.h"

static void test_debug(void **state)
{
	assert_int_equal(query_debug(NULL), 0);
	assert_int_equal(query_debug(""), 0);
	assert_int_equal(query_debug("1"), 1);
	assert_int_equal(query_debug("2"), 2);
	assert_int_equal(query_debug("-1"), -1); /* Go: heap?debug=-1 is text */
	assert_int_equal(query_debug("+3"), 3);
	assert_int_equal(query_debug("abc"), 0); /* Go: heap?debug=abc is binary */
	assert_int_equal(query_debug("1x"), 0);
	assert_int_equal(query_debug(" 1"), 0);
	/* Go's Atoi has 64 bits: these are text there; clamped here, so they compare alike */
	assert_int_equal(query_debug("99999999999"), INT_MAX);
	assert_int_equal(query_debug("-99999999999"), INT_MIN);
	assert_int_equal(query_debug("99999999999999999999"), 0); /* past int64: Go's error, 0 */
}

static void test_cpu_seconds(void **state)
{
	assert_int_equal(query_cpu_seconds(NULL, 30), 30);
	assert_int_equal(query_cpu_seconds("abc", 30), 30);
	assert_int_equal(query_cpu_seconds("0", 30), 30);
	assert_int_equal(query_cpu_seconds("-5", 30), 30);
	assert_int_equal(query_cpu_seconds("5", 30), 5);
	assert_int_equal(query_cpu_seconds("2.5", 30), 30);
}

static void test_int64(void **state)
{
	int64_t v;

	assert_int_equal(query_parse_int64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(query_parse_int64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(query_parse_int64("9223372036854775808", &v), -ERANGE);
	assert_int_equal(query_parse_int64("-", &v), -EINVAL);
	assert_int_equal(query_parse_int64("", &v), -EINVAL);
}

static void test_uint_base0(void **state)
{
	static const struct {
		const char *s;
		int err;
		uint64_t v;
	} cases[] = {
		{ "0x670c26", 0, 0x670c26 }, { "0X1F", 0, 0x1f },          { "6753318", 0, 6753318 },
		{ "0", 0, 0 },               { "017", 0, 017 },            { "0o17", 0, 017 },
		{ "0b101", 0, 5 },           { "0x1_0", 0, 0x10 },         { "garbage", -EINVAL, 0 },
		{ "0x", -EINVAL, 0 },        { "08", -EINVAL, 0 },         { "1_0", 0, 10 },
		{ "0x_1", 0, 1 },            { "0x1__0", -EINVAL, 0 },     { "0x1_", -EINVAL, 0 },
		/* Go literals: underscores between digits in any base (strconv's own test cases) */
		{ "1_2_3_4_5", 0, 12345 },   { "_12345", -EINVAL, 0 },     { "1__2345", -EINVAL, 0 },
		{ "12345_", -EINVAL, 0 },    { "0_1_2", 0, 012 },          { "0_", -EINVAL, 0 },
		{ "0x_", -EINVAL, 0 },       { "0b", -EINVAL, 0 },         { "_", -EINVAL, 0 },
		{ "0xffffffffffffffff", 0, UINT64_MAX },
		{ "0x10000000000000000", -ERANGE, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		int err = query_parse_uint_base0(cases[i].s, strlen(cases[i].s), &v);

		if (err != cases[i].err)
			fail_msg("'%s': got %d, want %d", cases[i].s, err, cases[i].err);
		if (!err && v != cases[i].v)
			fail_msg("'%s': got %#llx", cases[i].s, (unsigned long long)v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debug),
		cmocka_unit_test(test_cpu_seconds),
		cmocka_unit_test(test_int64),
		cmocka_unit_test(test_uint_base0),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
