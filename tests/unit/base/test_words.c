// SPDX-License-Identifier: MIT
/* words: a flag's value from its list of words, the one error sentence naming them all in order,
 * and the word back from a value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/words.h"

static const struct word modes[] = { { "demand", 3 }, { "inuse", 1 }, { "allocs", 2 }, { "off", 0 } };
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static void test_parse(void **state)
{
	char err[128] = "";
	int v = -1;

	assert_int_equal(words_parse("allocs", modes, NMODES, "--heap", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 2);
	assert_int_equal(words_parse("demand", modes, NMODES, "--heap", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 3);
	v = -1;
	assert_int_equal(words_parse("Demand", modes, NMODES, "--heap", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(v, -1);
	assert_string_equal(err, "--heap: expected demand, inuse, allocs or off, got 'Demand'");
	assert_int_equal(words_parse(NULL, modes, NMODES, "PROFD_HEAP", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "PROFD_HEAP: expected demand, inuse, allocs or off, got ''");
	assert_int_equal(words_parse("x", modes, 2, "--f", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--f: expected demand or inuse, got 'x'");
	assert_int_equal(words_parse("x", modes, 1, "--f", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--f: expected demand, got 'x'");
	/* a short buffer is cut, never overrun */
	assert_int_equal(words_parse("x", modes, NMODES, "--heap", &v, err, 12), -EINVAL);
	assert_int_equal(strlen(err), 11);
}

static void test_name(void **state)
{
	assert_string_equal(words_name(modes, NMODES, 1, "?"), "inuse");
	assert_string_equal(words_name(modes, NMODES, 0, "?"), "off");
	assert_string_equal(words_name(modes, NMODES, 9, "?"), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
