// SPDX-License-Identifier: MIT
/* The on-demand lifecycle (sources/demand.c) with a fake source: nothing attached until asked,
 * overlapping windows share one attachment, a request renews the lease and idling ends it, a
 * pause detaches at once and keeps the source off for the backoff (requests meanwhile do not
 * attach), a failed attach is reported and not retried at once, an `always` source attaches
 * before demand__new returns and reports its failure there. Deadlines, not margins. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sources/demand.h"

struct fake {
	atomic_int attempts, attaches, detaches, polls;
	atomic_bool attached;
	atomic_int fail; /* next attaches fail with this -errno */
	atomic_bool pause_next_poll;
	struct demand *d;
};

static int fake_attach(void *ctx, char *err, size_t errlen)
{
	struct fake *f = ctx;
	int r = atomic_load(&f->fail);

	atomic_fetch_add(&f->attempts, 1);
	if (r) {
		snprintf(err, errlen, "fake: cannot attach: %s", strerror(-r));
		return r;
	}
	atomic_fetch_add(&f->attaches, 1);
	atomic_store(&f->attached, true);
	return 0;
}

static void fake_detach(void *ctx)
{
	struct fake *f = ctx;

	atomic_fetch_add(&f->detaches, 1);
	atomic_store(&f->attached, false);
}

static void fake_poll(void *ctx)
{
	struct fake *f = ctx;
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	atomic_fetch_add(&f->polls, 1);
	if (atomic_exchange(&f->pause_next_poll, false))
		demand__pause(f->d);
	nanosleep(&ts, NULL);
}

static const struct demand_ops ops = { .attach = fake_attach, .detach = fake_detach, .poll = fake_poll };

static struct demand_config config(bool always)
{
	return (struct demand_config){
		.what = "fake probes",
		.idle_flag = "--fake-idle",
		.always = always,
		.idle_ns = 300 * 1000000ll,
		.max_windows = 2,
		.backoff_min_ns = 500 * 1000000ll,
	};
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* waits up to 5 s for the attachment to be `want`; true if it was */
static bool wait_attached(struct fake *f, bool want)
{
	int64_t deadline = now_ms() + 5000;

	while (atomic_load(&f->attached) != want) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		if (now_ms() > deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

static void test_nothing_until_asked_and_idle(void **state)
{
	struct demand_config c = config(false);
	struct fake f = { 0 };
	struct demand_view v;
	char err[256];
	bool started;

	assert_int_equal(demand__new(&c, &ops, &f, &f.d, err, sizeof(err)), 0);
	demand__view(f.d, &v);
	assert_false(v.attached);
	assert_int_equal(v.tracking_since, 0);
	assert_int_equal(atomic_load(&f.attaches), 0);

	assert_int_equal(demand__want(f.d, false, &started), 0);
	assert_true(started);
	assert_true(atomic_load(&f.attached));
	demand__view(f.d, &v);
	assert_true(v.attached);
	assert_true(v.tracking_since > 0);
	/* a second request renews the lease: not "started", no second attach */
	assert_int_equal(demand__want(f.d, false, &started), 0);
	assert_false(started);
	assert_int_equal(atomic_load(&f.attaches), 1);
	assert_true(atomic_load(&f.polls) >= 0);
	/* idle for longer than the lease: detached, tracking over */
	assert_true(wait_attached(&f, false));
	demand__view(f.d, &v);
	assert_int_equal(v.tracking_since, 0);
	assert_int_equal(atomic_load(&f.detaches), 1);
	demand__free(f.d);
	assert_int_equal(atomic_load(&f.detaches), 1);
}

static void test_windows_share(void **state)
{
	struct demand_config c = config(false);
	struct fake f = { 0 };
	char err[256];

	assert_int_equal(demand__new(&c, &ops, &f, &f.d, err, sizeof(err)), 0);
	assert_int_equal(demand__want(f.d, true, NULL), 0);
	assert_int_equal(demand__want(f.d, true, NULL), 0);
	assert_int_equal(demand__want(f.d, true, NULL), -EBUSY); /* max_windows 2 */
	assert_int_equal(atomic_load(&f.attaches), 1);
	demand__window_done(f.d);
	/* one window still open: stays attached past the idle time */
	{
		struct timespec ts = { 0, 600 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	assert_true(atomic_load(&f.attached));
	demand__window_done(f.d);
	assert_true(wait_attached(&f, false));
	assert_int_equal(atomic_load(&f.attaches), 1);
	demand__free(f.d);
}

static void test_pause_and_backoff(void **state)
{
	struct demand_config c = config(false);
	struct fake f = { 0 };
	struct demand_view v;
	char err[256];
	bool started;

	assert_int_equal(demand__new(&c, &ops, &f, &f.d, err, sizeof(err)), 0);
	assert_int_equal(demand__want(f.d, false, NULL), 0);
	atomic_store(&f.pause_next_poll, true);
	assert_true(wait_attached(&f, false));
	demand__view(f.d, &v);
	assert_true(v.paused);
	assert_int_equal(v.npauses, 1);
	assert_true(v.paused_until - v.paused_at == 500 * 1000000ll);
	/* during the backoff a request is answered at once and attaches nothing */
	assert_int_equal(demand__want(f.d, false, &started), 0);
	assert_false(started);
	assert_false(atomic_load(&f.attached));
	assert_int_equal(atomic_load(&f.attaches), 1);
	/* after it, on demand, the source stays off until the next request */
	{
		struct timespec ts = { 0, 700 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	demand__view(f.d, &v);
	assert_false(v.paused);
	assert_false(atomic_load(&f.attached));
	assert_int_equal(demand__want(f.d, false, &started), 0);
	assert_true(started);
	assert_true(atomic_load(&f.attached));
	/* the second pause lasts twice as long */
	atomic_store(&f.pause_next_poll, true);
	assert_true(wait_attached(&f, false));
	demand__view(f.d, &v);
	assert_int_equal(v.npauses, 2);
	assert_true(v.paused_until - v.paused_at == 1000 * 1000000ll);
	demand__free(f.d);
}

static void test_always_comes_back_by_itself(void **state)
{
	struct demand_config c = config(true);
	struct fake f = { 0 };
	char err[256];

	assert_int_equal(demand__new(&c, &ops, &f, &f.d, err, sizeof(err)), 0);
	assert_true(atomic_load(&f.attached)); /* before demand__new returned */
	atomic_store(&f.pause_next_poll, true);
	assert_true(wait_attached(&f, false));
	assert_true(wait_attached(&f, true)); /* after the 0.5 s backoff, with no request */
	assert_int_equal(atomic_load(&f.attaches), 2);
	demand__free(f.d);
	assert_false(atomic_load(&f.attached));
}

static void test_attach_failures(void **state)
{
	struct demand_config c = config(true);
	struct fake f = { 0 };
	char err[256] = "";

	/* always: the failure is returned by demand__new with the source's own words */
	atomic_store(&f.fail, -EACCES);
	assert_int_equal(demand__new(&c, &ops, &f, &f.d, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "fake: cannot attach: Permission denied"));

	/* on demand: the request gets it, and the next one within the retry delay gets it at once */
	c = config(false);
	assert_int_equal(demand__new(&c, &ops, &f, &f.d, err, sizeof(err)), 0);
	atomic_store(&f.attempts, 0);
	assert_int_equal(demand__want(f.d, true, NULL), -EACCES);
	assert_int_equal(demand__want(f.d, false, NULL), -EACCES);
	assert_int_equal(atomic_load(&f.attempts), 1);
	assert_int_equal(atomic_load(&f.attaches), 0);
	demand__free(f.d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_until_asked_and_idle),
		cmocka_unit_test(test_windows_share),
		cmocka_unit_test(test_pause_and_backoff),
		cmocka_unit_test(test_always_comes_back_by_itself),
		cmocka_unit_test(test_attach_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
