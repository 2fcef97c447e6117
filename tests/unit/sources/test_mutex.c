// SPDX-License-Identifier: MIT
/* Mutex source pieces that need no privileges: which futex calls are lock waits, wakes or
 * neither (the rule the BPF program runs, over the operations glibc 2.36 issues), Go's
 * sampling draw, --mutex-rate and --mutex-idle parsing, the defaults. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/types.h>

#include "bpf/mutex.h"
#include "sources/mutex.h"

#define PRIV 128   /* FUTEX_PRIVATE_FLAG */
#define CLOCK_RT 256 /* FUTEX_CLOCK_REALTIME */

static void test_classify(void **state)
{
	static const struct {
		const char *what;
		uint32_t op, val;
		int kind;
	} cases[] = {
		/* what strace showed glibc 2.36 doing */
		{ "pthread_mutex_lock, std::mutex::lock", PROFD_FUTEX_WAIT | PRIV, 2, PROFD_MUTEX_LOCK_WAIT },
		{ "pthread_mutex_timedlock", PROFD_FUTEX_WAIT_BITSET | PRIV | CLOCK_RT, 2, PROFD_MUTEX_LOCK_WAIT },
		{ "pthread_rwlock_rdlock behind a writer", PROFD_FUTEX_WAIT_BITSET | PRIV | CLOCK_RT, 3,
		  PROFD_MUTEX_LOCK_WAIT },
		{ "pthread_rwlock_wrlock behind readers", PROFD_FUTEX_WAIT_BITSET | PRIV | CLOCK_RT, 2,
		  PROFD_MUTEX_LOCK_WAIT },
		{ "a PI mutex", PROFD_FUTEX_LOCK_PI | PRIV, 0, PROFD_MUTEX_LOCK_WAIT },
		{ "a PI mutex (LOCK_PI2)", PROFD_FUTEX_LOCK_PI2 | PRIV, 0, PROFD_MUTEX_LOCK_WAIT },
		{ "pthread_cond_wait, std::condition_variable", PROFD_FUTEX_WAIT_BITSET | PRIV | CLOCK_RT, 0,
		  PROFD_MUTEX_OTHER },
		{ "sem_wait", PROFD_FUTEX_WAIT_BITSET | PRIV | CLOCK_RT, 0, PROFD_MUTEX_OTHER },
		{ "a PI condition variable", PROFD_FUTEX_WAIT_REQUEUE_PI | PRIV, 1, PROFD_MUTEX_OTHER },
		{ "a shared wait on zero", PROFD_FUTEX_WAIT, 0, PROFD_MUTEX_OTHER },
		{ "pthread_mutex_unlock", PROFD_FUTEX_WAKE | PRIV, 1, PROFD_MUTEX_WAKE },
		{ "pthread_rwlock_unlock", PROFD_FUTEX_WAKE | PRIV, 0x7fffffff, PROFD_MUTEX_WAKE },
		{ "a PI unlock", PROFD_FUTEX_UNLOCK_PI | PRIV, 0, PROFD_MUTEX_WAKE },
		{ "FUTEX_WAKE_OP", PROFD_FUTEX_WAKE_OP | PRIV, 1, PROFD_MUTEX_WAKE },
		{ "FUTEX_WAKE_BITSET", PROFD_FUTEX_WAKE_BITSET, 1, PROFD_MUTEX_WAKE },
		{ "FUTEX_CMP_REQUEUE", PROFD_FUTEX_CMP_REQUEUE | PRIV, 1, PROFD_MUTEX_WAKE },
		{ "FUTEX_FD (gone) and unknown operations", 2, 1, PROFD_MUTEX_OTHER },
		{ "an unknown operation", 99, 1, PROFD_MUTEX_OTHER },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (mutex_classify(cases[i].op, cases[i].val) != cases[i].kind)
			fail_msg("%s (op %#x, val %u): %d, expected %d", cases[i].what, cases[i].op, cases[i].val,
				 mutex_classify(cases[i].op, cases[i].val), cases[i].kind);
	}
}

static void test_keep(void **state)
{
	unsigned kept = 0;

	(void)state;
	assert_true(profd_mutex_keep(1, 12345));
	assert_true(profd_mutex_keep(10, 20));
	assert_false(profd_mutex_keep(10, 21));
	/* one draw in rate over consecutive values */
	for (uint32_t r = 0; r < 10000; r++)
		kept += profd_mutex_keep(10, r);
	assert_int_equal(kept, 1000);
}

static void test_rate_parse(void **state)
{
	char err[256];
	uint32_t v = 0;

	(void)state;
	assert_int_equal(mutex_rate_parse("1", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 1);
	assert_int_equal(mutex_rate_parse("1000000", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 1000000);
	static const char *bad[] = { "0", "1000001", "5x", "-3", "", " 5", "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (mutex_rate_parse(bad[i], &v, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(strncmp(err, "--mutex-rate: ", 14) == 0);
	}
	assert_int_equal(mutex_rate_parse(NULL, &v, err, sizeof(err)), -EINVAL);
}

static void test_idle_parse_and_defaults(void **state)
{
	struct mutex_config c;
	char err[256];
	int64_t v = 0;

	(void)state;
	assert_int_equal(mutex_idle_parse("90s", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 90ll * 1000000000);
	assert_int_equal(mutex_idle_parse("0s", &v, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "--mutex-idle: ", 14) == 0);
	assert_true(strstr(err, "--heap-idle") == NULL);
	mutex_config_default(&c);
	assert_int_equal(c.rate, MUTEX_DEFAULT_RATE);
	assert_int_equal(c.idle_ns, MUTEX_DEFAULT_IDLE_NS);
	assert_int_equal(c.max_stacks, MUTEX_DEFAULT_MAX_STACKS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_keep),
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_idle_parse_and_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
