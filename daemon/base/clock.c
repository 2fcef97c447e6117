// SPDX-License-Identifier: MIT
/* The two clocks (clock.h). */
#include <time.h>

#include "base/clock.h"

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t profd_now_nanos(void)
{
	return read_clock(CLOCK_REALTIME);
}

int64_t profd_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}
