// SPDX-License-Identifier: MIT
/* Block source pieces that need no privileges: Go's keep rule and scaling (the same inline code
 * the BPF program runs), the wait labels, --block-rate and --block-idle parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "sources/block.h"

static void test_keep_rule(void **state)
{
	uint64_t kept = 0;

	(void)state;
	/* at or above the rate: always kept, whatever the draw */
	assert_true(block_keep(10000000, 10000000, UINT32_MAX));
	assert_true(block_keep(50000000, 10000000, UINT32_MAX));
	/* rate 1: every wait */
	assert_true(block_keep(1, 1, UINT32_MAX));
	/* a zero-length wait below the rate: never */
	assert_false(block_keep(0, 10000000, 0));
	/* below: kept when rand / 2^32 < d / rate */
	assert_true(block_keep(5000000, 10000000, 0));
	assert_true(block_keep(5000000, 10000000, 0x7fffffffu));
	assert_false(block_keep(5000000, 10000000, 0x80000000u));
	assert_false(block_keep(5000000, 10000000, UINT32_MAX));
	/* over every draw in steps, the share kept is d / rate (1/4 here) */
	for (uint64_t r = 0; r < (1ull << 32); r += 1ull << 20)
		kept += block_keep(250, 1000, (uint32_t)r);
	assert_int_equal(kept, 1024);
	/* the largest rate and a wait just below it: no overflow */
	assert_true(block_keep(999999999, 1000000000, UINT32_MAX - 10));
	assert_false(block_keep(1, 1000000000, 5));
}

static void test_scale(void **state)
{
	uint64_t c = 0, d = 0;

	(void)state;
	/* below the rate: stands for rate/d waits and rate ns (runtime.saveblockevent) */
	block_scale(1000000, 10000000, &c, &d);
	assert_int_equal(c, 10000);
	assert_int_equal(d, 10000000);
	/* at or above: itself; values add up */
	block_scale(30000000, 10000000, &c, &d);
	assert_int_equal(c, 11000);
	assert_int_equal(d, 40000000);
	/* a third of the rate: 3.333 waits, in thousandths */
	c = d = 0;
	block_scale(3, 10, &c, &d);
	assert_int_equal(c, 3333);
	assert_int_equal(d, 10);
	/* a zero-length wait kept (rate 1 keeps everything): counted once, no division by zero */
	c = d = 0;
	block_scale(0, 1, &c, &d);
	assert_int_equal(c, 1000);
	assert_int_equal(d, 1);
}

static void test_wait_names(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(block_wait_name(SYS_futex, b, sizeof(b)), "futex");
	assert_string_equal(block_wait_name(SYS_read, b, sizeof(b)), "read");
	assert_string_equal(block_wait_name(SYS_epoll_wait, b, sizeof(b)), "epoll_wait");
	assert_string_equal(block_wait_name(SYS_poll, b, sizeof(b)), "poll");
	assert_string_equal(block_wait_name(SYS_nanosleep, b, sizeof(b)), "nanosleep");
	assert_string_equal(block_wait_name(SYS_clock_nanosleep, b, sizeof(b)), "clock_nanosleep");
	assert_string_equal(block_wait_name(-1, b, sizeof(b)), "none");
	assert_string_equal(block_wait_name(100000, b, sizeof(b)), "syscall 100000");
	/* a short buffer is cut, not overrun */
	assert_string_equal(block_wait_name(SYS_epoll_wait, b, 4), "epo");
}

static void test_rate_parse(void **state)
{
	static const struct {
		const char *in;
		uint64_t ns;
	} good[] = {
		{ "1", 1 }, { "10000", 10000 }, { "1ns", 1 }, { "500us", 500000 }, { "10ms", 10000000 },
		{ "1s", 1000000000 }, { "1000000000", 1000000000 },
	};
	static const char *bad[] = { "", "0", "0ms", "2s", "1000000001", "-5", "+5", "10x", "ms", "1.5ms",
				     " 10", "10 ms", "99999999999999999999999", NULL };
	char err[256];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(block_rate_parse(good[i].in, &v, err, sizeof(err)), 0);
		assert_int_equal(v, good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(block_rate_parse(bad[i], &v, err, sizeof(err)), -EINVAL);
		assert_true(strncmp(err, "--block-rate: ", 14) == 0);
	}
}

static void test_idle_parse(void **state)
{
	char err[256];
	int64_t v;

	(void)state;
	assert_int_equal(block_idle_parse("90s", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 90ll * 1000000000);
	assert_int_equal(block_idle_parse("10m", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 600ll * 1000000000);
	assert_int_equal(block_idle_parse("0s", &v, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "--block-idle: ", 14) == 0);
	assert_int_equal(block_idle_parse("10", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(block_idle_parse(NULL, &v, err, sizeof(err)), -EINVAL);
	assert_true(strstr(err, "--heap-idle") == NULL);
}

static void test_defaults(void **state)
{
	struct block_config c;

	(void)state;
	block_config_default(&c);
	assert_int_equal(c.rate_ns, BLOCK_DEFAULT_RATE_NS);
	assert_int_equal(c.idle_ns, BLOCK_DEFAULT_IDLE_NS);
	assert_int_equal(c.max_stacks, BLOCK_DEFAULT_MAX_STACKS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_rule),
		cmocka_unit_test(test_scale),
		cmocka_unit_test(test_wait_names),
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_idle_parse),
		cmocka_unit_test(test_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
